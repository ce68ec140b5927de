"""What every serverless entrypoint does once per container: configure, then reuse.

A provider's module builds one :class:`FunctionRuntime` at import (cold start),
so configuration errors fail the init loudly and warm invocations reuse the
storage clients.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from core.config import Config, load_config
from core.errors import TransientError
from core.events import ObjectEvent
from core.logs import configure_logging, log_outcome
from core.outcome import Outcome
from core.pipeline import BucketOpener, Thumbnailer


class FunctionRuntime:
    """Configuration, logger and thumbnailer shared by all invocations of one container."""

    def __init__(
        self,
        open_bucket: BucketOpener,
        *,
        environ: Mapping[str, str] | None = None,
        extra_settings: Iterable[str] = (),
    ) -> None:
        self.config: Config = load_config(
            os.environ if environ is None else environ, require_dest=True, extra_settings=extra_settings
        )
        self.logger: logging.Logger = configure_logging(self.config.log_level)
        self.thumbnailer = Thumbnailer(self.config, open_bucket)

    def handle(self, event: ObjectEvent, **context: Any) -> Outcome:
        """Run one event and log its outcome. Transient errors propagate (the platform retries)."""
        try:
            outcome = self.thumbnailer.handle(event)
        except TransientError as exc:
            self.logger.warning(
                "transient error on %s/%s, the platform will retry: [%s] %s",
                event.bucket, event.key, exc.kind, exc,
                extra={"fields": {"event_id": event.event_id, "key": event.key, "error_kind": exc.kind, **context}},
            )
            raise
        log_outcome(self.logger, outcome, event_id=event.event_id, **context)
        return outcome
