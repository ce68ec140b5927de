"""What every entrypoint builds once per container (or local worker process): configure, then reuse.

A provider's module builds one :class:`FunctionRuntime` at import (cold start), so configuration errors
fail the init loudly and warm invocations reuse the storage clients; :func:`core.delivery.deliver` runs
each delivery through it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from core import registry
from core.completion import Completion, PublishWindow
from core.config import Config, load_config
from core.logs import configure_logging
from core.pipeline import BucketOpener, Thumbnailer
from core.storage.port import Storage

if TYPE_CHECKING:
    from core.telemetry import Telemetry

#: A provider's metric encoding: a log line's fields in, the fields to add to that line out.
MetricsEncoder = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class FunctionRuntime:
    """Configuration, logger and thumbnailer shared by all invocations of one container.

    Args:
        open_bucket: Opens a bucket (container, directory) by name.
        environ: The THUMBS_* settings to validate (``os.environ`` by default); ignored when ``config`` is given.
        config: Settings already validated (the local runner's, from the command line).
        logger: Where deliveries are logged; by default polythumb's JSON-lines logger on stdout.
        provider: The provider's name: its own settings (``function_settings``) are accepted and validated with
            the shared ones, and it gives the THUMBS_NOTIFY notifiers and URL signer; None locally.
        notifier_options: Keyword options for the providers' notifiers (clients, credentials; tests).
        invocation_timeout: Seconds one invocation may run (the function's configured timeout), where the
            platform does not tell each invocation what it has left; None: unknown.
    """

    def __init__(
        self,
        open_bucket: BucketOpener,
        *,
        environ: Mapping[str, str] | None = None,
        config: Config | None = None,
        logger: logging.Logger | None = None,
        provider: str | None = None,
        notifier_options: dict[str, Any] | None = None,
        invocation_timeout: float | None = None,
    ) -> None:
        spec = registry.get(provider) if provider else None
        own = spec.function_settings if spec else ()
        self.config: Config = config or load_config(
            os.environ if environ is None else environ, require_dest=True, extra_settings=own
        )
        self.logger: logging.Logger = logger or configure_logging(self.config.log_level)
        #: The provider's metric encoding of a log line (CloudWatch EMF on AWS), added to every delivery line;
        #: None where the cloud reads the metrics from the line itself (core/metrics.py).
        self.metrics_encoder: MetricsEncoder | None = (
            spec.resolve("metrics_encoder") if spec and spec.metrics_encoder else None
        )
        #: The opt-in OpenTelemetry export (THUMBS_OTEL=otlp); None: nothing loaded, nothing sent.
        self.telemetry: Telemetry | None = None
        if self.config.otel != "none":
            from core.telemetry import start_telemetry  # the SDK loads here, and only here

            self.telemetry = start_telemetry(self.config.otel, provider=provider)
        self._cold = True
        #: Completion events, manifests' URLs (THUMBS_NOTIFY, THUMBS_URL_MODE): :func:`core.delivery.handle` announces.
        self.completion = Completion(
            self.config, open_store=self._store, provider=provider, notifier_options=notifier_options
        )
        urls = self.completion.urls if self.config.manifest else None  # only manifests carry URLs
        self.thumbnailer = Thumbnailer(self.config, open_bucket, urls=urls)
        self.completion.check_signer()  # THUMBS_URL_MODE=signed: an identity that cannot sign fails the cold start
        self.invocation_timeout = invocation_timeout

    def take_coldstart(self) -> bool:
        """True for the first delivery of this runtime (the container's cold start), False ever after."""
        cold, self._cold = self._cold, False
        return cold

    def publish_window(self, remaining: float | None = None) -> PublishWindow:
        """The publishing deadlines of one invocation starting now (``remaining``: seconds it has left, if known)."""
        return PublishWindow(remaining=self.invocation_timeout if remaining is None else remaining)

    def _store(self, bucket: str) -> Storage:
        return self.thumbnailer.store(bucket)
