"""``polythumb sign``: a signed URL of an ad-hoc output, as a back end would make it (:mod:`core.serve_signing`)."""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from core.config import Config
from core.errors import ConfigError
from core.serve_adhoc import AdhocRefused, adhoc_output, read_params, spec_of
from core.serve_signing import signed_params


def signed_url(
    config: Config,
    key: str,
    *,
    width: int,
    height: int,
    fit: str | None = None,
    fmt: str | None = None,
    quality: int | None = None,
    ttl: int = 3600,
    kid: str | None = None,
    base_url: str = "",
    now: float | None = None,
) -> str:
    """The URL (or, without ``base_url``, the path and query) of ``key``'s ad-hoc output, valid ``ttl`` seconds.

    Raises:
        ConfigError: no THUMBS_SERVE_KEYS (or no key ``kid``), a ``ttl`` over THUMBS_SERVE_SIGNED_MAX_TTL, or an
            output the serve function would refuse (over a limit).
    """
    if not config.serve_keys:
        raise ConfigError("THUMBS_SERVE_KEYS is not set: it holds the keys (kid:secret) signed URLs are made with")
    signer = next((k for k in config.serve_keys if k.kid == kid), None) if kid else config.serve_keys[0]
    if signer is None:
        ids = ", ".join(k.kid for k in config.serve_keys)
        raise ConfigError(f"THUMBS_SERVE_KEYS has no key {kid!r} (its key ids: {ids})")
    if not 0 < ttl <= config.serve_signed_max_ttl:
        raise ConfigError(f"--ttl {ttl} is not valid; accepted values: 1 to THUMBS_SERVE_SIGNED_MAX_TTL="
                          f"{config.serve_signed_max_ttl} seconds")  # fmt: skip
    params = {"w": str(width), "h": str(height)}
    params.update({name: str(value) for name, value in (("fit", fit), ("fmt", fmt), ("q", quality)) if value})
    expires = int((time.time() if now is None else now) + ttl)
    signed = signed_params(signer, key, params, expires=expires)
    try:  # what the serve function will check, checked here first
        spec = spec_of(read_params(signed.items()), max_edge=config.serve_adhoc_max_edge, max_pixels=config.max_pixels)
        adhoc_output(config.serve_adhoc_prefix, key, spec, strip_metadata=config.strip_metadata)
    except AdhocRefused as exc:
        raise ConfigError(f"the serve function would refuse this output ({exc.reason}): {exc}") from None
    return f"{base_url.rstrip('/')}/{quote(key, safe='/')}?{urlencode(signed)}"
