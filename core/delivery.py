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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.errors import MalformedEvent, PermanentError, PermissionDenied, TransientError
from core.events import EventKind, ObjectEvent, is_backfill
from core.logs import outcome_line
from core.metric_fields import EVENT_REVISION_FIELD, NOTIFY_FIELD, milliseconds_since
from core.outcome import Action, Outcome, SkipReason, Status
from core.tracing import TraceContext, continue_trace

if TYPE_CHECKING:  # parsers import Ignored from here without loading the pipeline
    from core.completion.window import PublishWindow
    from core.profiles import Output
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
    trace: TraceContext | None = None,
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
        trace: The trace context the platform gave the delivery, if any: each event's span continues it,
            and its completion event carries it on (``traceparent``); else each event starts a trace.
        **context: Delivery fields logged with every record (``route``, ``event_id``, ``event_type``,
            platform ids such as ``message_id``); long values are shortened.

    Returns:
        What became of each item; nothing is raised for an event (see :meth:`Delivery.raise_for_retry`).
    """
    fields = {name: _loggable(value) for name, value in context.items()}
    if runtime.take_coldstart():
        fields["coldstart"] = True  # the records of a container's first delivery (faas.coldstart)
    try:
        parsed = parse()
    except MalformedEvent as exc:
        emit(
            runtime, logging.ERROR, "malformed event, acknowledged and not retried (a retry cannot fix it): %s",
            {**fields, "status": str(Status.FAILED), "error_kind": exc.kind, "error_message": str(exc)}, exc,
        )  # fmt: skip
        return Delivery(malformed=exc)
    items = [parsed] if isinstance(parsed, ObjectEvent | Ignored) else list(parsed)
    window = window or runtime.publish_window()
    results: list[Result] = []
    for item in items:
        result = (
            _skip(runtime, item, fields)
            if isinstance(item, Ignored)
            else handle(runtime, item, fields, window=window, trace=trace)
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
    runtime: FunctionRuntime,
    event: ObjectEvent,
    context: Mapping[str, Any],
    *,
    window: PublishWindow | None = None,
    trace: TraceContext | None = None,
    outputs: Sequence[Output] | None = None,
) -> Result:
    """Run one event through the pipeline and log what became of it; never raises an Exception.

    ``outputs``: render exactly these (a signed ad-hoc output, for the serve function); no completion event
    announces them (an event describes a source's profile outputs).
    """
    span = runtime.telemetry.start(trace) if runtime.telemetry else continue_trace(trace)
    fields = {**context, "event_id": event.event_id or context.get("event_id"), "trace_id": span.trace_id}
    announced = event.version or event.etag
    if announced:  # the write this event is about: what the runaway detector counts deliveries of
        fields[EVENT_REVISION_FIELD] = _loggable(announced)
    started = time.perf_counter()
    try:
        outcome = runtime.thumbnailer.handle(event, outputs=outputs)
    except TransientError as exc:
        record = _error_fields(event, fields, kind=exc.kind, message=str(exc), started=started)
        emit(runtime, logging.WARNING, "transient error on %s/%s, the platform will retry: [%s] %s", record,
             event.bucket, event.key, exc.kind, exc, span=span)  # fmt: skip
        return Result(Status.ERROR, error=exc)
    except PermissionDenied as exc:
        # Configuration, not a bug: the grant is missing. Retried (a fixed grant, or a redrive from the
        # dead-letter store, renders it) and logged as what it is.
        record = _error_fields(event, fields, kind=exc.kind, message=str(exc), started=started)
        emit(runtime, logging.ERROR,
             "permission denied on %s/%s, the platform will retry once the function may use the bucket: [%s] %s",
             record, event.bucket, event.key, exc.kind, exc, span=span)  # fmt: skip
        return Result(Status.ERROR, error=exc)
    except Exception as exc:
        # A bug or an unclassified storage error: logged with its traceback and retried, so the event ends in
        # the platform's dead-letter store rather than being lost.
        message = f"{type(exc).__name__}: {exc}"
        record = _error_fields(event, fields, kind=INTERNAL_ERROR, message=message, started=started)
        emit(runtime, logging.ERROR, "unexpected error on %s/%s, the platform will retry: %s", record,
             event.bucket, event.key, type(exc).__name__, exc_info=True, span=span)  # fmt: skip
        return Result(Status.ERROR, error=exc)
    outcome = _timed_to_ready(outcome, event)
    level, message, record = outcome_line(outcome, **fields)
    emit(runtime, level, message, record, span=span)
    if outputs is not None:
        return Result(outcome.status, outcome=outcome)
    return _announce(runtime, event, outcome, fields, window or runtime.publish_window(), span=span)


def emit(
    runtime: FunctionRuntime,
    level: int,
    message: str,
    fields: Mapping[str, Any],
    *args: Any,
    exc_info: bool = False,
    span: TraceContext | None = None,
) -> None:
    """Write one delivery log line: ``fields``, plus the provider's metric encoding of them (CloudWatch EMF on
    AWS), and hand it to the opt-in OpenTelemetry export (THUMBS_OTEL); ``span``: the event's, if any."""
    record = dict(fields)
    if runtime.metrics_encoder is not None:
        record.update(runtime.metrics_encoder(record))
    # None, not False, when there is no traceback: handlers and tests read ``record.exc_info is None``.
    runtime.logger.log(level, message, *args, exc_info=True if exc_info else None, extra={"fields": record})
    if runtime.telemetry is not None:
        runtime.telemetry.observe(fields, span)


def _timed_to_ready(outcome: Outcome, event: ObjectEvent) -> Outcome:
    """``outcome`` with ``upload_to_ready_ms``, where it rendered an upload: the time from the storage event
    (the upload) to now, just after its last output was written. A backfill's event time is when the plan
    sent it, and a delete or a skip makes nothing ready: neither is measured."""
    if outcome.status is not Status.OK or event.kind is not EventKind.CREATED or is_backfill(event.event_id):
        return outcome
    if not any(record.action == Action.WRITTEN for record in outcome.outputs):
        return outcome
    elapsed = milliseconds_since(event.event_time)
    return outcome if elapsed is None else replace(outcome, upload_to_ready_ms=elapsed)


def _announce(
    runtime: FunctionRuntime,
    event: ObjectEvent,
    outcome: Outcome,
    fields: Mapping[str, Any],
    window: PublishWindow,
    *,
    span: TraceContext,
) -> Result:
    """Publish the completion event of ``outcome`` (THUMBS_NOTIFY), after its outputs are written.

    A target that cannot take it makes the item retryable: the platform delivers it again, the pipeline finds
    everything current, and the retry only publishes, with the same event id. An event no retry can publish
    (a permanent error: over a target's size limit) is logged once as failed and acknowledged.
    """
    started = time.perf_counter()
    try:
        published = runtime.completion.announce(outcome, event, window=window, traceparent=span.traceparent)
    except PermanentError as exc:
        message = f"outputs written, completion event not published: {exc}"
        record = {**_error_fields(event, fields, kind=exc.kind, message=message, started=started),
                  "status": str(Status.FAILED), NOTIFY_FIELD: "failed"}  # fmt: skip
        emit(runtime, logging.ERROR,
             "completion event of %s/%s not published, not retried (a retry cannot fix it): [%s] %s",
             record, event.bucket, event.key, exc.kind, exc)  # fmt: skip
        failed = replace(outcome, status=Status.FAILED, reason=None, error_kind=exc.kind, error_message=message)
        return Result(Status.FAILED, outcome=failed)
    except Exception as exc:
        kind = exc.kind if isinstance(exc, TransientError | PermissionDenied) else INTERNAL_ERROR
        message = f"outputs written, completion event not published: {exc}"
        record = {**_error_fields(event, fields, kind=kind, message=message, started=started), NOTIFY_FIELD: "failed"}
        emit(runtime, logging.WARNING, "completion event of %s/%s not published, the platform will retry: [%s] %s",
             record, event.bucket, event.key, kind, exc)  # fmt: skip
        return Result(Status.ERROR, error=exc)
    if published is not None:
        record = {**fields, "completion_id": published["id"], "completion_type": published["type"],
                  "traceparent": published.get("traceparent")}  # fmt: skip
        emit(runtime, logging.INFO, "announced %s %s", record, published["type"], published["subject"])
    return Result(outcome.status, outcome=outcome)


def _skip(runtime: FunctionRuntime, ignored: Ignored, context: Mapping[str, Any]) -> Result:
    fields = {
        **context,
        "event_id": _loggable(ignored.event_id) or context.get("event_id"),
        "event_type": _loggable(ignored.event_type) or context.get("event_type"),
        "bucket": ignored.bucket,
        "key": ignored.key,
        "status": str(Status.SKIPPED),
        "reason": ignored.reason,
    }
    emit(runtime, logging.INFO, "acknowledged without work: %s (%s)",
         {name: value for name, value in fields.items() if value is not None},
         ignored.detail or ignored.event_type, ignored.reason)  # fmt: skip
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
