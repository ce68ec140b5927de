"""Where completion events go: the ``THUMBS_NOTIFY`` URIs, checked at start and opened on first use.

``file:`` and ``https:`` (``http:`` only to a loopback address) are built in; every other scheme is
a provider's (``sns:``, ``eventbridge:``, ``pubsub:``, ``eventgrid:``), found in the ``notifiers``
of its :class:`core.registry.ProviderSpec`, so no core module names a cloud.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core import registry
from core.completion.http import describe, url_problem
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Config

BUILT_IN = ("file", "https", "http")


def provider_pieces() -> dict[str, tuple[str, str]]:
    """Every provider's notifiers: scheme -> (provider name, ``module:attr``)."""
    found: dict[str, tuple[str, str]] = {}
    for spec in registry.providers().values():
        for scheme, path in spec.notifiers.items():
            if scheme in found or scheme in BUILT_IN:
                raise ConfigError(f"THUMBS_NOTIFY scheme {scheme!r} is claimed twice ({spec.name})")
            found[scheme] = (spec.name, path)
    return found


def split_target(target: str) -> tuple[str, str]:
    """``"scheme:rest"`` -> ``("scheme", "rest")``; an ``https://`` URL keeps its slashes."""
    scheme, sep, rest = target.partition(":")
    if not sep or not scheme:
        raise ConfigError(_bad(target, "it has no scheme"))
    return scheme.lower(), rest


def check_targets(targets: Sequence[str], *, secret: str | None) -> None:
    """Validate every ``THUMBS_NOTIFY`` target (syntax only: nothing is contacted).

    Raises:
        ConfigError: naming ``THUMBS_NOTIFY`` and the accepted forms.
    """
    pieces: dict[str, tuple[str, str]] | None = None
    for target in targets:
        scheme, rest = split_target(target)
        if scheme == "file":
            if not rest.strip():
                raise ConfigError(_bad(target, "file: needs a path, e.g. file:events.jsonl"))
        elif scheme in ("https", "http"):
            _check_webhook(target, secret=secret)
        else:
            pieces = provider_pieces() if pieces is None else pieces
            if scheme not in pieces:
                raise ConfigError(_bad(target, f"unknown scheme {scheme!r}"))
            notifier = registry.resolve(pieces[scheme][1], hint=registry.get(pieces[scheme][0]).install_hint)
            check = getattr(notifier, "check_target", None)
            if check is not None:
                problem = check(rest)
                if problem:
                    raise ConfigError(_bad(target, problem))


def _check_webhook(target: str, *, secret: str | None) -> None:
    parts = urlsplit(target)
    problem = url_problem(target)
    if problem:
        raise ConfigError(_bad(target, problem))
    if parts.username or parts.password:
        raise ConfigError(_bad(target, "credentials in the URL would be logged by proxies; use THUMBS_NOTIFY_SECRET"))
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ConfigError(_bad(target, "plain http is accepted only for a loopback address; use https"))
    if not secret:
        raise ConfigError(
            f"THUMBS_NOTIFY={describe(target)} is a webhook, so THUMBS_NOTIFY_SECRET must be set: every POST carries "
            "an HMAC-SHA256 signature made with it, so the receiver can tell polythumb's events from forgeries"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bad(target: str, why: str) -> str:
    try:
        schemes = " | ".join(f"{s}:" for s in ("file", "https", *sorted(provider_pieces())))
    except ConfigError:
        schemes = "file: | https:"
    return (
        f"THUMBS_NOTIFY target {describe(target)!r} is not valid ({why}); accepted values: comma-separated URIs, "
        f"schemes {schemes} (file:PATH, https://HOST/PATH; each provider's forms in its README); THUMBS_NOTIFY is "
        "split at commas: write a comma inside a URL as %2C"
    )


def open_notifier(target: str, *, config: Config, options: Mapping[str, Any] | None = None) -> Any:
    """Build the notifier of ``target`` (its SDK, if any, loads on first publish)."""
    from core.completion.notify import FileNotifier, WebhookNotifier

    scheme, rest = split_target(target)
    if scheme == "file":
        return FileNotifier(rest)
    if scheme in ("https", "http"):
        return WebhookNotifier(target, secret=config.notify_secret or "")
    name, path = provider_pieces()[scheme]
    factory = registry.resolve(path, hint=registry.get(name).install_hint)
    return factory(rest, **dict(options or {}))


def resolve_signer(provider: str | None) -> Any:
    """The URL signer of ``provider``.

    Raises:
        ConfigError: the provider has none (locally there is no signer: use THUMBS_URL_MODE=public).
    """
    spec = registry.get(provider) if provider else None
    if spec is None or not spec.url_signer:
        where = f"the {spec.title} provider" if spec else "the local runner"
        raise ConfigError(
            f"THUMBS_URL_MODE=signed is not available in {where} (no signer); accepted values: none | public "
            "(with THUMBS_PUBLIC_BASE_URL)"
        )
    return registry.resolve(spec.url_signer, hint=spec.install_hint)
