"""What both GCP entrypoints do with one delivery: parse, then work, skip or report.

The delivery contract with Cloud Functions / Eventarc is the HTTP status
functions-framework answers: 2xx acknowledges the event, anything else (an
exception is a 500) makes Eventarc redeliver it with backoff while the
trigger's retry policy is ``RETRY_POLICY_RETRY``. Eventarc delivers through a
Pub/Sub push subscription, which treats *every* non-2xx answer, 400 included,
as a failure to redeliver for the whole retry window. So:

* **malformed event** (a CloudEvent whose data is not an object resource, an
  unknown type, no name): a retry can never fix it. It is logged once as a
  permanent error (``severity: ERROR``, ``error_kind: malformed_event``) and
  acknowledged; raising, even as an HTTP 400, would be redelivered for a day.
  A request that is not a CloudEvent at all never reaches this code:
  functions-framework itself answers it with 400;
* **acknowledged types** (metadataUpdated): logged at INFO, skipped;
* **permanent errors** (not an image, too large, ...): the core returns a
  FAILED outcome; :meth:`core.runtime.FunctionRuntime.handle` logs it at ERROR
  and the delivery is acknowledged (no retry);
* **transient errors** (storage unavailable, a concurrent writer): raised, so
  functions-framework answers 500 and Eventarc retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import MalformedEvent
from core.outcome import Outcome, SkipReason, Status
from core.runtime import FunctionRuntime
from providers.gcp.events import IgnoredEvent, ParsedEvent


def run_event(
    runtime: FunctionRuntime,
    parse: Callable[[], ParsedEvent],
    *,
    route: str,
    event_id: Any = None,
    event_type: Any = None,
) -> Outcome | None:
    """Parse one delivery and handle it; return the outcome, or None when nothing was attempted.

    Args:
        runtime: The container's runtime (configuration, logger, thumbnailer).
        parse: Turns the delivery into an event; raises MalformedEvent.
        route: Which entrypoint received it (``cloudevent`` or ``background``), for the logs.
        event_id: The delivery id, for the logs of a malformed event.
        event_type: The event type as sent, for the logs.

    Raises:
        core.errors.TransientError: The platform should redeliver the event.
    """
    context = {"route": route, "event_type": _loggable(event_type)}
    try:
        parsed = parse()
    except MalformedEvent as exc:
        runtime.logger.error(
            "malformed %s event acknowledged without retry (a retry cannot fix it): %s", route, exc,
            extra={"fields": {**context, "event_id": _loggable(event_id), "status": str(Status.FAILED),
                              "error_kind": exc.kind, "error_message": str(exc)}},
        )  # fmt: skip
        return None
    if isinstance(parsed, IgnoredEvent):
        runtime.logger.info(
            "%s %s/%s: acknowledged and skipped (polythumb does not act on this event type)",
            parsed.event_type, parsed.bucket, parsed.key,
            extra={"fields": {**context, "event_id": parsed.event_id, "bucket": parsed.bucket, "key": parsed.key,
                              "status": str(Status.SKIPPED), "reason": str(SkipReason.NOT_APPLICABLE)}},
        )  # fmt: skip
        return None
    return runtime.handle(parsed, **context)


def _loggable(value: Any) -> str | None:
    """An attribute as a short string: ids and types are logged, never whole payloads."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
