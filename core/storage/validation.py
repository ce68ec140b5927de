"""Key rules every backend shares (the strictest common subset of the clouds'), and how a rendered key is tidied."""

from __future__ import annotations

import re

from core.errors import InvalidKey

#: S3 and GCS cap keys at 1024 bytes of UTF-8; Azure allows more, so this is the portable cap.
MAX_KEY_BYTES = 1024

_SLASHES = re.compile(r"/{2,}")


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


def collapse_slashes(text: str) -> str:
    """``text`` with each run of ``/`` as one and no leading ``/``: how every key (or key prefix) polythumb
    renders from a template is normalised, so no key it writes has an empty segment."""
    return _SLASHES.sub("/", text).lstrip("/")
