"""What the three Azure triggers do, between the worker's objects and the core runtime.

:mod:`providers.azure.function_app` declares the bindings and delegates here, so every trigger
takes one path into :func:`core.delivery.deliver`.

Failure policy (what the platform sees):

* **Transient** errors (storage unavailable, throttled, a concurrent writer) are raised. For the
  Event Grid trigger the host then answers the delivery with an error and Event Grid retries it
  with back-off, then dead-letters it (subscription's retry policy); for the blob trigger the host
  retries up to ``extensions.queues.maxDequeueCount`` times, then writes the blob's name to the
  ``webjobs-blobtrigger-poison`` queue.
* **Permanent** image errors come back from the core as a FAILED outcome, logged once at ERROR and
  acknowledged: retrying the same bytes cannot help.
* **Malformed** events are permanent too: logged at ERROR with ``error_kind=malformed_event`` (the
  event id and type, never the payload) and acknowledged. Raising would only replay the same bad
  event until the retry policy gives up. Dead-lettering is kept for what a retry *can* fix.
* Events of other types (and Data Lake / SFTP intermediate writes) are acknowledged and logged at
  INFO.

Each function here only reads the worker's object into a ``parse`` callable for
:func:`core.delivery.deliver` and turns its answer into the host's (raise for a retry).

**Trace context.** An event's own ``traceparent`` (a CloudEvents-schema delivery's distributed-tracing extension:
the producer's trace) is continued first; else the invocation's, which the Functions host gives the function's
``context`` parameter (``context.trace_context``: the host's Activity, which Application Insights records as the
invocation's operation). So the log lines and the completion event join the producer's trace where it sent one,
and the host's invocation otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.delivery import Delivery, Ignored, Parsed, deliver, refuse
from core.errors import MalformedEvent
from core.events import ObjectEvent
from core.runtime import FunctionRuntime
from core.tracing import TraceContext, parse_traceparent
from providers.azure.events import (
    BLOB_CREATED,
    Envelope,
    blob_trigger_location,
    envelope_from_host,
    etag_of,
    parse_batch,
    to_object_events,
)


def invocation_trace(context: object | None) -> TraceContext | None:
    """The trace of the host's invocation: ``context.trace_context`` of the worker's ``func.Context``, or None.

    The worker's object names it ``Traceparent`` (``azure_functions_worker/bindings/tracecontext.py``); the
    library's abstract class says ``trace_parent``: either is read. Anything else (no context, a context
    without a trace, an invalid value) gives None: tracing never fails an invocation.
    """
    trace_context = getattr(context, "trace_context", None)
    if trace_context is None:
        return None
    value = getattr(trace_context, "Traceparent", None) or getattr(trace_context, "trace_parent", None)
    return parse_traceparent(value if isinstance(value, str) else None)


def handle_event_grid(
    runtime: FunctionRuntime, event: object, *, source_container: str | None = None, context: object | None = None
) -> Delivery:
    """Handle one event delivered to the Event Grid trigger (either schema); a rename is two events.

    ``context``: the invocation's ``func.Context``, whose trace is continued when the event carries none.

    Raises:
        Exception: the first transient error (or bug), so Event Grid redelivers.
    """
    try:
        envelope = envelope_from_host(event)
    except MalformedEvent as exc:
        return _answer(deliver(runtime, refuse(exc), route="event_grid", event_id=_raw_event_id(event)))

    def parse() -> Parsed:  # a rename is two events: every one runs before a retry is asked for
        return [in_source(item, source_container, envelope) for item in to_object_events(envelope)]

    trace = parse_traceparent(envelope.traceparent) or invocation_trace(context)
    return _answer(deliver(runtime, parse, trace=trace, route="event_grid",
                           schema=envelope.schema, event_type=envelope.event_type,
                           event_id=envelope.event_id))  # fmt: skip


def handle_blob(
    runtime: FunctionRuntime, blob: Any, *, source_container: str | None = None, context: object | None = None
) -> Delivery:
    """Handle one invocation of the blob trigger (``func.InputStream``), in the invocation's trace (``context``).

    The core reads the source through the storage port (``head`` then ``get``), so the bytes the host
    already downloaded into ``blob`` are not used: the pipeline needs the bytes *and* the ETag of
    exactly those bytes, which only one read through the port guarantees. The cost is a second GET
    of the original; see the README for the SDK-type binding that avoids the host's download.

    Raises:
        Exception: the first transient error (or bug), so the host retries (then poison-queues) the blob.
    """

    def parse() -> Parsed:
        container, key = blob_trigger_location(getattr(blob, "name", None), source_container)
        properties = getattr(blob, "blob_properties", None) or {}
        length = getattr(blob, "length", None)
        return ObjectEvent.created(
            container,
            key,
            size=length if isinstance(length, int) else None,
            etag=etag_of(properties.get("ETag")),
            content_type=properties.get("ContentType") or None,
            event_time=_text_or_none(properties.get("LastModified")),  # the write that fired the trigger
        )

    return _answer(deliver(runtime, parse, trace=invocation_trace(context), route="blob"))


def handle_queue_message(
    runtime: FunctionRuntime, message: Any, *, source_container: str | None = None, context: object | None = None
) -> Delivery:
    """Handle one message of the backfill queue (``func.QueueMessage``), on the same path as Event Grid, in the
    invocation's trace (``context``).

    Every event of the message is handled; the first transient error is raised afterwards, so the host
    retries the message (the events already done are found current and skipped).

    Raises:
        Exception: the first transient error (or bug), so the host retries, then poison-queues, the message.
    """

    def parse() -> Parsed:
        return [in_source(item, source_container) for item in parse_batch(message.get_body())]

    return _answer(deliver(runtime, parse, trace=invocation_trace(context), route="queue",
                           message_id=getattr(message, "id", None),
                           dequeue_count=getattr(message, "dequeue_count", None)))  # fmt: skip


def in_source(
    item: ObjectEvent | Ignored, source_container: str | None, envelope: Envelope | None = None
) -> ObjectEvent | Ignored:
    """``item``, or an :class:`Ignored` when it names another container than ``THUMBS_SOURCE_CONTAINER``."""
    if not isinstance(item, ObjectEvent) or not source_container or item.bucket == source_container:
        return item
    return Ignored(
        "other_container", envelope.event_type if envelope else BLOB_CREATED, item.event_id,
        f"{item.bucket} is not THUMBS_SOURCE_CONTAINER={source_container}", bucket=item.bucket, key=item.key,
    )  # fmt: skip


def _text_or_none(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, str) and value else None


def _answer(delivery: Delivery) -> Delivery:
    delivery.raise_for_retry()
    return delivery


def _raw_event_id(event: object) -> str | None:
    value = event.get("id") if isinstance(event, dict) else getattr(event, "id", None)
    return str(value) if value is not None else None
