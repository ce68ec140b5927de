"""Key rules every backend shares (the strictest common subset of the clouds')."""

from __future__ import annotations

from core.errors import InvalidKey

#: S3 and GCS cap keys at 1024 bytes of UTF-8; Azure allows more, so this is the portable cap.
MAX_KEY_BYTES = 1024


def check_key(key: str) -> str:
    """Return ``key`` if every provider could store it, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key must be a non-empty string")
    if "\x00" in key:
        raise InvalidKey(f"object key contains a NUL byte: {key!r}")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key is longer than {MAX_KEY_BYTES} bytes of UTF-8")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidKey(f"object key is not valid Unicode: {key!r}") from exc
    return key
