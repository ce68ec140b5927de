"""Output URLs: a public base URL (CDN or bucket website), or pre-signed GET URLs from the provider.

A key with a ``.`` or ``..`` path segment (S3 and GCS store ``a/../b.jpg`` literally) gets **no URL**: a
browser, a CDN or a proxy resolves dot segments before asking, so such a URL would fetch another key (in a
shared bucket, another user's thumbnail). Percent-encoding does not help: URL parsers treat ``%2e%2e`` as
``..`` too (WHATWG URL). The key itself is still announced; only its URL is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from core.config import Config
from core.storage.port import Storage


@dataclass(frozen=True)
class SignedUrl:
    """A pre-signed URL and the moment it stops working (which may be before the TTL asked for)."""

    url: str
    expires: datetime


class UrlSigner(Protocol):
    """A provider's signer (S3 presign, GCS V4, Azure user delegation SAS), loaded by name at start."""

    def __call__(self, store: Storage, key: str, ttl: int) -> SignedUrl:
        """A read-only URL of ``key`` in ``store``, valid ``ttl`` seconds at most."""
        ...


@dataclass(frozen=True)
class Links:
    """The URLs of some keys (None where a key gets none) and when the first of them expires (None: never)."""

    urls: dict[str, str | None] = field(default_factory=dict)
    expires: datetime | None = None


def resolves_elsewhere(key: str) -> bool:
    """Whether a URL of ``key`` would be normalised to another key (a ``.`` or ``..`` path segment)."""
    return any(segment in (".", "..") for segment in key.split("/"))


class UrlBuilder:
    """Makes the URL of an output per ``THUMBS_URL_MODE`` (``none`` gives no URL)."""

    def __init__(self, config: Config, *, signer: UrlSigner | Callable[..., Any] | None = None) -> None:
        self._config = config
        self._signer = signer

    @property
    def enabled(self) -> bool:
        """Whether outputs get a URL."""
        return self._config.url_mode != "none"

    def url(self, store: Storage, key: str) -> str | None:
        """The URL of ``key`` in ``store``, or None when URLs are off (or the key's URL would reach another key)."""
        return self.links(store, [key]).urls[key]

    def links(self, store: Storage, keys: Iterable[str]) -> Links:
        """The URLs of ``keys`` in ``store``, and the earliest moment one of them stops working.

        Raises:
            SigningRefused: the function's identity may not sign (a setting to fix; permanent).
            SigningUnavailable: the signing service failed for now (transient).
        """
        mode = self._config.url_mode
        urls: dict[str, str | None] = {}
        expires: datetime | None = None
        for key in keys:
            urls[key] = None
            if resolves_elsewhere(key):
                continue
            if mode == "public" and self._config.public_base_url:
                urls[key] = self._config.public_base_url + quote(key, safe="/")
            elif mode == "signed":
                if self._signer is None:  # the runtime resolves one at start; this is a wiring bug
                    raise RuntimeError("THUMBS_URL_MODE=signed without a signer")
                signed = self._signer(store, key, self._config.url_ttl)
                urls[key] = signed.url
                expires = signed.expires if expires is None else min(expires, signed.expires)
        return Links(urls, expires)


def expiry_in(ttl: int) -> datetime:
    """``ttl`` seconds from now (UTC): the expiry of a URL signed now for ``ttl``."""
    return datetime.now(UTC) + timedelta(seconds=ttl)
