"""Signed ad-hoc requests: HMAC-SHA256 over one canonical form, keys with ids for rotation.

A signed request names its source by its path and the output by its query (``w``, ``h``, and optionally
``fit``, ``fmt``, ``q``), with ``exp`` (Unix seconds), ``kid`` (which key signed) and ``sig``. The signature
is the URL-safe base64 (no padding) of HMAC-SHA256, keyed with the secret ``kid`` names, over::

    polythumb-serve-v1 LF <path> LF <name>=<value>&<name>=<value>...

where ``<path>`` is the decoded source key (no leading ``/``; it may hold no control character) and the
pairs are every parameter but ``sig``, sorted by name. Every value is a short ASCII token (digits, a
format or fit name, a key id), and the path holds no line break, so one canonical text is exactly one
request: the form needs no escaping, and a back end in any language builds it with string joins.

Keys come from ``THUMBS_SERVE_KEYS`` (``kid:secret,kid:secret``), read once when the configuration loads;
the first key signs (``polythumb sign``), every listed key verifies, so a key is rotated by putting the new
one first, and dropped once the URLs it signed have expired. Secrets are never printed or logged:
:class:`SigningKey`'s ``repr`` hides them, and the errors name the variable, never its value.

This module imports nothing of polythumb's but the error vocabulary: the settings' declarations parse
``THUMBS_SERVE_KEYS`` with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ConfigError

#: The first line of the signed text: another form (a later version) can never verify as this one.
CANONICAL_PREFIX = "polythumb-serve-v1"
#: Shortest secret accepted: 32 characters (``secrets.token_urlsafe(32)`` gives 43).
MIN_SECRET_LENGTH = 32
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
#: A signature: 32 bytes of HMAC-SHA256 in URL-safe base64 without padding.
SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")
KEYS_SETTING = "THUMBS_SERVE_KEYS"
KEYS_ACCEPTED = (
    "comma-separated `kid:secret` pairs: a key id of 1-32 letters, digits, `_` or `-`, and a secret of at least "
    f"{MIN_SECRET_LENGTH} characters without `,` (e.g. from `python -c \"import secrets; "
    "print(secrets.token_urlsafe(32))\"`); the first key signs, every key verifies"
)


@dataclass(frozen=True)
class SigningKey:
    """One signing key: its id (sent in the URL as ``kid``) and its secret (never shown)."""

    kid: str
    secret: bytes = field(repr=False)


def parse_keys(name: str, value: str) -> tuple[SigningKey, ...]:
    """``THUMBS_SERVE_KEYS`` as keys, the signing one first.

    Raises:
        ConfigError: naming ``name`` and what it accepts; the value (a secret) is never echoed.
    """
    keys: list[SigningKey] = []
    for index, part in enumerate(value.split(","), 1):
        kid, sep, secret = part.strip().partition(":")
        where = f"{name}: key {index}"
        if not sep or not KEY_ID.fullmatch(kid):
            raise ConfigError(f"{where} has no valid key id before ':'; accepted values: {KEYS_ACCEPTED}")
        if len(secret) < MIN_SECRET_LENGTH or secret != secret.strip():
            raise ConfigError(
                f"{where} ({kid!r}) has a secret shorter than {MIN_SECRET_LENGTH} characters (or with spaces around "
                f"it); accepted values: {KEYS_ACCEPTED}"
            )
        if any(key.kid == kid for key in keys):
            raise ConfigError(f"{where}: the key id {kid!r} is listed twice; accepted values: {KEYS_ACCEPTED}")
        keys.append(SigningKey(kid, secret.encode("utf-8")))
    return tuple(keys)


def canonical(path: str, params: Mapping[str, str]) -> str:
    """The text a signature covers: ``path`` and every parameter but ``sig``, sorted by name."""
    pairs = "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "sig")
    return f"{CANONICAL_PREFIX}\n{path}\n{pairs}"


def signature(secret: bytes, path: str, params: Mapping[str, str]) -> str:
    """The ``sig`` of ``path`` and ``params`` under ``secret``."""
    digest = hmac.new(secret, canonical(path, params).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def signed_params(key: SigningKey, path: str, params: Mapping[str, str], *, expires: int) -> dict[str, str]:
    """``params`` with ``exp``, ``kid`` and their ``sig`` added: the query of a signed URL."""
    query = {**params, "exp": str(expires), "kid": key.kid}
    return {**query, "sig": signature(key.secret, path, query)}


def verify(keys: tuple[SigningKey, ...], path: str, params: Mapping[str, str]) -> str | None:
    """Why ``params`` do not sign ``path`` with one of ``keys`` (``unknown_key``, ``bad_signature``), or None.

    The comparison is constant-time; expiry is the caller's (it is signed, so checked after this).
    """
    key = next((key for key in keys if key.kid == params.get("kid")), None)
    sent = params.get("sig", "")
    if key is None:
        return "unknown_key"
    if not SIGNATURE.fullmatch(sent):
        return "bad_signature"
    if not hmac.compare_digest(signature(key.secret, path, params), sent):
        return "bad_signature"
    return None
