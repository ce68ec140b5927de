"""What the two Azure triggers do, between the worker's objects and the core runtime.

:mod:`providers.azure.function_app` declares the bindings and delegates here, so both triggers
share one path into :meth:`core.runtime.FunctionRuntime.handle`.

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
"""

from __future__ import annotations

import logging
from typing import Any

from core.errors import MalformedEvent
from core.events import ObjectEvent
from core.outcome import Outcome
from core.runtime import FunctionRuntime
from providers.azure.events import (
    Envelope,
    Ignored,
    blob_trigger_location,
    envelope_from_host,
    etag_of,
    to_object_events,
)

#: What a handler did: the core's outcome, an acknowledged no-op, or a logged malformed event.
Result = Outcome | Ignored | MalformedEvent


def handle_event_grid(
    runtime: FunctionRuntime, event: object, *, source_container: str | None = None
) -> list[Result]:
    """Handle one event delivered to the Event Grid trigger (either schema); a rename is two events.

    Raises:
        core.errors.TransientError: so Event Grid redelivers (after every event of the envelope ran).
    """
    envelope: Envelope | None = None
    try:
        envelope = envelope_from_host(event)
        parsed = to_object_events(envelope)
    except MalformedEvent as exc:
        return [_malformed(runtime.logger, exc, trigger="event_grid", event_id=_event_id(event, envelope))]
    context = {"trigger": "event_grid", "schema": envelope.schema, "event_type": envelope.event_type}
    results: list[Result] = []
    first_error: Exception | None = None
    for parsed_item in parsed:
        item = parsed_item
        if isinstance(item, ObjectEvent) and source_container and item.bucket != source_container:
            item = Ignored(
                "other_container", envelope.event_type, envelope.event_id,
                f"{item.bucket} is not THUMBS_SOURCE_CONTAINER={source_container}",
            )  # fmt: skip
        if isinstance(item, Ignored):
            results.append(_ignored(runtime.logger, item, **context))
            continue
        try:
            results.append(runtime.handle(item, **context))
        except Exception as exc:  # finish the rename's other half; the redelivery finds it done
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return results


def handle_blob(runtime: FunctionRuntime, blob: Any, *, source_container: str | None = None) -> Result:
    """Handle one invocation of the blob trigger (``func.InputStream``).

    The core reads the source through the storage port (``head`` then ``get``), so the bytes the host
    already downloaded into ``blob`` are not used: the pipeline needs the bytes *and* the ETag of
    exactly those bytes, which only one read through the port guarantees. The cost is a second GET
    of the original; see the README for the SDK-type binding that avoids the host's download.

    Raises:
        core.errors.TransientError: so the host retries (then poison-queues) the blob.
    """
    name = getattr(blob, "name", None)
    try:
        container, key = blob_trigger_location(name, source_container)
    except MalformedEvent as exc:
        return _malformed(runtime.logger, exc, trigger="blob", event_id=None)
    properties = getattr(blob, "blob_properties", None) or {}
    length = getattr(blob, "length", None)
    event = ObjectEvent.created(
        container,
        key,
        size=length if isinstance(length, int) else None,
        etag=etag_of(properties.get("ETag")),
        content_type=properties.get("ContentType") or None,
    )
    return runtime.handle(event, trigger="blob")


def _ignored(logger: logging.Logger, ignored: Ignored, **context: Any) -> Ignored:
    logger.info(
        "acknowledged without work: %s (%s)", ignored.detail, ignored.reason,
        extra={"fields": {"status": "skipped", "reason": ignored.reason, "event_id": ignored.event_id, **context}},
    )  # fmt: skip
    return ignored


def _malformed(logger: logging.Logger, exc: MalformedEvent, *, trigger: str, event_id: str | None) -> MalformedEvent:
    logger.error(
        "malformed event, acknowledged and not retried: %s", exc,
        extra={"fields": {"status": "failed", "error_kind": exc.kind, "trigger": trigger, "event_id": event_id}},
    )  # fmt: skip
    return exc


def _event_id(event: object, envelope: Envelope | None) -> str | None:
    if envelope is not None:
        return envelope.event_id
    value = event.get("id") if isinstance(event, dict) else getattr(event, "id", None)
    return str(value) if value is not None else None
