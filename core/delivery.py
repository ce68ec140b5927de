"""One delivery, on every cloud and locally: parse, handle each event, log it, answer neutrally.

An entrypoint translates its platform's envelope into a ``parse`` callable and the neutral
:class:`Delivery` back into the platform's answer (an SQS partial batch failure, an exception that
makes Eventarc or Event Grid redeliver, a FAILED line locally). Everything between is here, so every
cloud logs the same record for the same thing (the log schema, field by field, is in docs/logs.md):

* a **malformed** delivery (a retry can never fix it) is logged once at ERROR, ``status=failed``,
  ``error_kind=malformed_event``, and acknowledged;
* an **ignored** notification (:class:`Ignored`: a test event, an event type polythumb does not act on, an
  intermediate write) is logged at INFO, ``status=skipped`` with its ``reason``, and acknowledged;
* each **event** goes through the pipeline; its outcome (ok, skipped, or a permanent ``failed``) is logged
  and acknowledged;
* a **transient** error (``status=error``, WARNING) or an unexpected one (``status=error``,
  ``error_kind=internal_error``, ERROR with its traceback) is logged and marked retryable: the entrypoint
  makes the platform deliver it again;
* a store's **permission denied** (an IAM policy, RBAC role or bucket ACL that does not let the function
  read the source or write the destination) is ``status=error``, ``error_kind=permission_denied``, ERROR
  without a traceback (not a bug): retryable, so the event waits in the platform's retries and dead-letter
  store while an operator fixes the grant, rather than being acknowledged and lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.errors import MalformedEvent, PermanentError, PermissionDenied, TransientError
from core.events import ObjectEvent
from core.logs import log_outcome
from core.outcome import Outcome, SkipReason, Status

if TYPE_CHECKING:  # parsers import Ignored from here without loading the pipeline
    from core.completion.window import PublishWindow
    from core.runtime import FunctionRuntime

#: The kind logged for an exception that is not one of polythumb's classified errors (a bug).
INTERNAL_ERROR = "internal_error"
#: Longest text logged for a value taken from an envelope: ids and types, never whole payloads.
_MAX_LOGGED = 200


@dataclass(frozen=True)
class Ignored:
    """A notification polythumb acknowledges without doing anything, and why.

    Attributes:
        reason: Why, as logged: ``not_applicable`` (an event type polythumb does not act on),
            ``event_type``, ``subscription_validation``, ``intermediate_write``, ``empty_directory``,
            ``other_container``...
        event_type: The event's type, as sent.
        event_id: The provider's delivery id.
        detail: A short human explanation (never the payload).
        bucket: The bucket or container, where the notification names one.
        key: The object key, where the notification names one.
    """

    reason: str
    event_type: str | None
    event_id: str | None = None
    detail: str = ""
    bucket: str | None = None
    key: str | None = None


#: What a parser returns: one event, one ignored notification, or several of either.
Parsed = ObjectEvent | Ignored | Iterable[ObjectEvent | Ignored]


@dataclass(frozen=True)
class Result:
    """What became of one item of a delivery.

    Attributes:
        status: ``ok``, ``skipped`` or ``failed`` (acknowledged), or ``error`` (to be delivered again).
        outcome: The pipeline's outcome, for an event that ran to an end.
        ignored: The notification, for one acknowledged without work.
        error: The exception, for a ``status=error`` item.
    """

    status: Status
    outcome: Outcome | None = None
    ignored: Ignored | None = None
    error: Exception | None = None

    @property
    def retryable(self) -> bool:
        """Whether the platform should deliver this item again (a transient error or a bug)."""
        return self.status is Status.ERROR


@dataclass(frozen=True)
class Delivery:
    """The neutral answer to one delivery, which each entrypoint maps to its platform's.

    Attributes:
        results: One per event or ignored notification, in delivery order (empty when malformed).
        malformed: The parse error of a delivery that is not one polythumb understands (acknowledged).
    """

    results: tuple[Result, ...] = ()
    malformed: MalformedEvent | None = None

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        """The pipeline outcomes (ok, skipped, failed), in order."""
        return tuple(result.outcome for result in self.results if result.outcome is not None)

    @property
    def retryable(self) -> bool:
        """Whether any item must be delivered again."""
        return any(result.retryable for result in self.results)

    def raise_for_retry(self) -> None:
        """Raise the first retryable error, so the platform redelivers (the done items are then skipped).

        Raises:
            Exception: the first item's transient error (or bug), as raised by the pipeline.
        """
        for result in self.results:
            if result.retryable and result.error is not None:
                raise result.error


def deliver(
    runtime: FunctionRuntime,
    parse: Callable[[], Parsed],
    *,
    keep_going: bool = True,
    window: PublishWindow | None = None,
    **context: Any,
) -> Delivery:
    """Parse one delivery, handle each of its events through ``runtime``, log every item once.

    Args:
        runtime: The container's runtime (configuration, logger, thumbnailer).
        parse: Turns the platform's envelope into events and ignored notifications; raises MalformedEvent.
        keep_going: Handle the remaining events after a retryable error (False: stop at it, for a delivery
            the platform will redeliver whole).
        window: The time left for publishing completion events, shared with the other deliveries of one
            invocation (an SQS batch); by default the runtime's function timeout from now.
        **context: Delivery fields logged with every record (``route``, ``event_id``, ``event_type``,
            platform ids such as ``message_id``); long values are shortened.

    Returns:
        What became of each item; nothing is raised for an event (see :meth:`Delivery.raise_for_retry`).
    """
    fields = {name: _loggable(value) for name, value in context.items()}
    try:
        parsed = parse()
    except MalformedEvent as exc:
        runtime.logger.error(
            "malformed event, acknowledged and not retried (a retry cannot fix it): %s", exc,
            extra={"fields": {**fields, "status": str(Status.FAILED), "error_kind": exc.kind,
                              "error_message": str(exc)}},
        )  # fmt: skip
        return Delivery(malformed=exc)
    items = [parsed] if isinstance(parsed, ObjectEvent | Ignored) else list(parsed)
    window = window or runtime.publish_window()
    results: list[Result] = []
    for item in items:
        result = (
            _skip(runtime.logger, item, fields) if isinstance(item, Ignored) else handle(runtime, item, fields, window)
        )
        results.append(result)
        if result.retryable and not keep_going:
            break
    return Delivery(tuple(results))


def refuse(error: MalformedEvent) -> Callable[[], Parsed]:
    """A ``parse`` for a delivery already found malformed while reading its envelope (logged by deliver)."""

    def parse() -> Parsed:
        raise error

    return parse


def handle(
    runtime: FunctionRuntime, event: ObjectEvent, context: Mapping[str, Any], window: PublishWindow | None = None
) -> Result:
    """Run one event through the pipeline and log what became of it; never raises an Exception."""
    fields = {**context, "event_id": event.event_id or context.get("event_id")}
    started = time.perf_counter()
    try:
        outcome = runtime.thumbnailer.handle(event)
    except TransientError as exc:
        runtime.logger.warning(
            "transient error on %s/%s, the platform will retry: [%s] %s", event.bucket, event.key, exc.kind, exc,
            extra={"fields": _error_fields(event, fields, kind=exc.kind, message=str(exc), started=started)},
        )  # fmt: skip
        return Result(Status.ERROR, error=exc)
    except PermissionDenied as exc:
        # Configuration, not a bug: the grant is missing. Retried (a fixed grant, or a redrive from the
        # dead-letter store, renders it) and logged as what it is.
        runtime.logger.error(
            "permission denied on %s/%s, the platform will retry once the function may use the bucket: [%s] %s",
            event.bucket, event.key, exc.kind, exc,
            extra={"fields": _error_fields(event, fields, kind=exc.kind, message=str(exc), started=started)},
        )  # fmt: skip
        return Result(Status.ERROR, error=exc)
    except Exception as exc:
        # A bug or an unclassified storage error: logged with its traceback and retried, so the event ends in
        # the platform's dead-letter store rather than being lost.
        message = f"{type(exc).__name__}: {exc}"
        runtime.logger.exception(
            "unexpected error on %s/%s, the platform will retry: %s", event.bucket, event.key, type(exc).__name__,
            extra={"fields": _error_fields(event, fields, kind=INTERNAL_ERROR, message=message, started=started)},
        )  # fmt: skip
        return Result(Status.ERROR, error=exc)
    log_outcome(runtime.logger, outcome, **fields)
    return _announce(runtime, event, outcome, fields, window or runtime.publish_window())


def _announce(
    runtime: FunctionRuntime, event: ObjectEvent, outcome: Outcome, fields: Mapping[str, Any], window: PublishWindow
) -> Result:
    """Publish the completion event of ``outcome`` (THUMBS_NOTIFY), after its outputs are written.

    A target that cannot take it makes the item retryable: the platform delivers it again, the pipeline finds
    everything current, and the retry only publishes, with the same event id. An event no retry can publish
    (a permanent error: over a target's size limit) is logged once as failed and acknowledged.
    """
    started = time.perf_counter()
    try:
        published = runtime.completion.announce(outcome, event, window=window)
    except PermanentError as exc:
        message = f"outputs written, completion event not published: {exc}"
        runtime.logger.error(
            "completion event of %s/%s not published, not retried (a retry cannot fix it): [%s] %s",
            event.bucket, event.key, exc.kind, exc,
            extra={"fields": {**_error_fields(event, fields, kind=exc.kind, message=message, started=started),
                              "status": str(Status.FAILED)}},
        )  # fmt: skip
        failed = replace(outcome, status=Status.FAILED, reason=None, error_kind=exc.kind, error_message=message)
        return Result(Status.FAILED, outcome=failed)
    except Exception as exc:
        kind = exc.kind if isinstance(exc, TransientError | PermissionDenied) else INTERNAL_ERROR
        message = f"outputs written, completion event not published: {exc}"
        runtime.logger.warning(
            "completion event of %s/%s not published, the platform will retry: [%s] %s",
            event.bucket, event.key, kind, exc,
            extra={"fields": _error_fields(event, fields, kind=kind, message=message, started=started)},
        )  # fmt: skip
        return Result(Status.ERROR, error=exc)
    if published is not None:
        runtime.logger.info(
            "announced %s %s", published["type"], published["subject"],
            extra={"fields": {**fields, "completion_id": published["id"], "completion_type": published["type"]}},
        )  # fmt: skip
    return Result(outcome.status, outcome=outcome)


def _skip(logger: logging.Logger, ignored: Ignored, context: Mapping[str, Any]) -> Result:
    fields = {
        **context,
        "event_id": _loggable(ignored.event_id) or context.get("event_id"),
        "event_type": _loggable(ignored.event_type) or context.get("event_type"),
        "bucket": ignored.bucket,
        "key": ignored.key,
        "status": str(Status.SKIPPED),
        "reason": ignored.reason,
    }
    logger.info(
        "acknowledged without work: %s (%s)", ignored.detail or ignored.event_type, ignored.reason,
        extra={"fields": {name: value for name, value in fields.items() if value is not None}},
    )  # fmt: skip
    return Result(Status.SKIPPED, ignored=ignored)


def _error_fields(
    event: ObjectEvent, context: Mapping[str, Any], *, kind: str, message: str, started: float
) -> dict[str, Any]:
    return {
        **context,
        "kind": str(event.kind),
        "bucket": event.bucket,
        "key": event.key,
        "status": str(Status.ERROR),
        "error_kind": kind,
        "error_message": message,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _loggable(value: Any) -> Any:
    """A context value as logged: short strings, never whole payloads."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= _MAX_LOGGED else text[: _MAX_LOGGED - 3] + "..."


#: Why an event type is acknowledged without work, when the parser has no more precise reason.
NOT_APPLICABLE = str(SkipReason.NOT_APPLICABLE)
