"""Completion: tell consumers when thumbnails are ready, and where (events, manifests, URLs).

* :mod:`core.completion.events` -- CloudEvents ``dev.polythumb.thumbnails.ready|failed|deleted``;
* :mod:`core.completion.notify` -- the built-in targets (``file:``, ``https:``);
  ``providers/<cloud>/notify.py`` adds SNS, EventBridge, Pub/Sub and Event Grid;
* :mod:`core.completion.manifest` -- the per-source manifest with placeholders
  (:mod:`core.completion.placeholders`), written by the pipeline after the thumbnails;
* :mod:`core.completion.urls` -- public or pre-signed output URLs.

:class:`Completion` is what a runtime holds: after the pipeline's outcome it builds the event and
publishes it to every ``THUMBS_NOTIFY`` target. Nothing here imports a cloud SDK or Pillow at import, and
what serves a setting loads only when that setting is on: a function with no event target, manifest or URL
mode never loads the events, targets or URL modules (they are on every cloud's cold start otherwise).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from core.completion.window import PublishWindow
from core.config import Config
from core.errors import NotifyTimeout, SigningUnavailable
from core.events import ObjectEvent
from core.outcome import Outcome
from core.storage.port import Storage

if TYPE_CHECKING:
    from core.completion.urls import UrlBuilder, UrlSigner

__all__ = ["Completion", "PublishWindow", "check_settings"]


def check_settings(config: Config) -> None:
    """The completion settings' checks that need the registry or the profiles (run when a runtime starts).

    Raises:
        ConfigError: a THUMBS_NOTIFY target a provider refuses (or no provider knows), a webhook without
            THUMBS_NOTIFY_SECRET, a THUMBS_MANIFEST_KEY on a thumbnail's key.
    """
    if config.notify:
        from core.completion.targets import check_targets

        check_targets(config.notify, secret=config.notify_secret)
    if config.manifest:
        from core.completion.naming import check_manifest_key

        check_manifest_key(config)


class Completion:
    """Events and URLs for one configuration; built once per runtime (cold start).

    Args:
        config: The validated settings.
        open_store: Opens a bucket (the runtime's cached stores).
        provider: The provider this runs on (its notifiers and URL signer); None locally.
        notifiers: Ready-made notifiers instead of the ``THUMBS_NOTIFY`` targets (tests).
        notifier_options: Keyword options for the providers' notifier classes (e.g. a client).

    Raises:
        ConfigError: ``THUMBS_URL_MODE=signed`` where the provider has no signer.
    """

    def __init__(
        self,
        config: Config,
        *,
        open_store: Callable[[str], Storage],
        provider: str | None = None,
        notifiers: Sequence[Any] | None = None,
        notifier_options: dict[str, Any] | None = None,
    ) -> None:
        check_settings(config)
        self.config = config
        self._open_store = open_store
        self._signer: UrlSigner | None = None
        if config.url_mode == "signed":
            from core.completion.targets import resolve_signer

            self._signer = resolve_signer(provider)
        self.notifiers: list[Any] = list(notifiers) if notifiers is not None else []
        if notifiers is None and config.notify:
            from core.completion.targets import open_notifier

            self.notifiers = [open_notifier(t, config=config, options=notifier_options) for t in config.notify]

    @cached_property
    def urls(self) -> UrlBuilder:
        """The outputs' URLs (``THUMBS_URL_MODE``), for manifests, events and serve; built on first use."""
        from core.completion.urls import UrlBuilder

        return UrlBuilder(self.config, signer=self._signer)

    def check_signer(self) -> None:
        """Where URLs are signed, check at start that the function's identity can sign (at most one call).

        What a signer cannot check now (the signing service is down) is left to each event, classified.

        Raises:
            SigningRefused: the identity may not sign (a missing role): the cold start fails, naming it.
        """
        check = getattr(self._signer, "check", None)
        if check is None or not self.config.dest_bucket:
            return
        with contextlib.suppress(SigningUnavailable):  # transient: each event retries it
            check(self._open_store(self.config.dest_bucket))

    @property
    def enabled(self) -> bool:
        """Whether any event target is configured."""
        return bool(self.notifiers)

    def event_for(self, outcome: Outcome, event: ObjectEvent) -> dict[str, Any] | None:
        """The CloudEvent announcing ``outcome`` (None when it announces nothing)."""
        from core.completion.events import READY, cloud_event, event_type
        from core.completion.manifest import fill_dimensions

        kind = event_type(outcome)
        if kind is None:
            return None
        dest_bucket = self.config.dest_bucket or event.bucket
        urls: dict[str, str | None] = {}
        if kind == READY:
            store = self._open_store(dest_bucket)
            manifest = outcome.manifest.key if outcome.manifest is not None else None
            outcome = _with_outputs(outcome, fill_dimensions(store, outcome.outputs, manifest=manifest))
            if self.urls.enabled:
                records = [*outcome.outputs, *([outcome.manifest] if outcome.manifest else [])]
                urls = self.urls.links(store, [record.key for record in records]).urls
        return cloud_event(outcome, event, config=self.config, dest_bucket=dest_bucket, urls=urls)

    def announce(
        self,
        outcome: Outcome,
        event: ObjectEvent,
        *,
        window: PublishWindow | None = None,
        traceparent: str | None = None,
    ) -> dict[str, Any] | None:
        """Build the event of ``outcome`` and publish it to every target, within ``window``'s deadlines.

        ``traceparent``: the handling span's W3C trace context, carried by the event as the CloudEvents
        distributed-tracing extension (it is not part of the event's id: a redelivery keeps the id).

        The event is sent the same to every target: without its outputs' URLs when it would be over the
        smallest target's size limit (see :func:`core.completion.events.fit`).

        Raises:
            NotifyUnavailable: a target could not take it (transient: the platform retries, and the
                retry announces again with the same id).
            NotifyTimeout: a target ran out of time, now or earlier in this delivery (``window``).
            EventTooLarge: over a target's limit even without URLs (permanent).
        """
        if not self.notifiers:
            return None
        from core.completion.events import event_type, fit

        if event_type(outcome) is None:
            return None
        window = window or PublishWindow()
        window.deadline()  # a delivery that already ran out of time builds no event (no URL is signed)
        cloud = self.event_for(outcome, event)
        if cloud is None:
            return None
        if traceparent:
            cloud["traceparent"] = traceparent
        limits = [(n.max_event_bytes, n.target) for n in self.notifiers if getattr(n, "max_event_bytes", None)]
        if limits:
            limit, target = min(limits)
            cloud = fit(cloud, limit, target=target)
        for notifier in self.notifiers:
            try:
                notifier.publish(cloud, deadline=window.deadline())
            except NotifyTimeout:
                window.ran_out(getattr(notifier, "target", type(notifier).__name__))
                raise
        return cloud


def _with_outputs(outcome: Outcome, outputs: tuple[Any, ...]) -> Outcome:
    from dataclasses import replace

    return replace(outcome, outputs=outputs)
