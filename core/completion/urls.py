"""Output URLs: a public base URL (CDN or bucket website), or pre-signed GET URLs from the provider."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from core.config import Config
from core.storage.port import Storage

#: ``(store, key, ttl_seconds) -> url``: a provider's signer (S3 presign, GCS V4, Azure user delegation SAS).
UrlSigner = Callable[[Storage, str, int], str]


class UrlBuilder:
    """Makes the URL of an output per ``THUMBS_URL_MODE`` (``none`` gives no URL)."""

    def __init__(self, config: Config, *, signer: UrlSigner | None = None) -> None:
        self._config = config
        self._signer = signer

    @property
    def enabled(self) -> bool:
        """Whether outputs get a URL."""
        return self._config.url_mode != "none"

    def url(self, store: Storage, key: str) -> str | None:
        """The URL of ``key`` in ``store``, or None when URLs are off."""
        mode = self._config.url_mode
        if mode == "public" and self._config.public_base_url:
            return self._config.public_base_url + quote(key, safe="/")
        if mode == "signed":
            if self._signer is None:  # the runtime resolves one at start; this is a wiring bug
                raise RuntimeError("THUMBS_URL_MODE=signed without a signer")
            return self._signer(store, key, self._config.url_ttl)
        return None
