"""Cloud Storage event envelopes -> provider-neutral :class:`core.events.ObjectEvent`.

Pure parsing, no SDK: the entrypoints in :mod:`providers.gcp.main` hand over
what functions-framework decoded. Three envelopes carry the same object
resource (``StorageObjectData``, the JSON API's object):

* **CloudEvents** (Cloud Functions 2nd gen / Eventarc), binary or structured:
  type ``google.cloud.storage.object.v1.{finalized,deleted,archived,metadataUpdated}``,
  source ``//storage.googleapis.com/projects/_/buckets/<bucket>``,
  subject ``objects/<name>``; Eventarc may add a ``bucket`` extension attribute.
* **Background events** (1st gen): ``{context: {eventId, timestamp, eventType,
  resource}, data}`` with ``google.storage.object.{finalize,delete,archive,metadataUpdate}``.
* The older **object.change** format: flat ``{eventId, eventType, resource, data}``
  where only ``data.resourceState == "not_exists"`` says the object was deleted.

The key is ``data.name``, which GCS sends unencoded: it is used as is, so it is
decoded exactly zero times. ``id`` (``<bucket>/<name>/<generation>``) and
``mediaLink`` (percent-encoded) are never used for it. ``size`` and
``generation`` arrive as JSON strings (real deliveries) or numbers (some
samples): both are accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from core.delivery import NOT_APPLICABLE, Ignored
from core.errors import InvalidKey, MalformedEvent
from core.events import EventKind, ObjectEvent
from core.storage.validation import check_key

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"
ARCHIVED = "google.cloud.storage.object.v1.archived"
METADATA_UPDATED = "google.cloud.storage.object.v1.metadataUpdated"

#: CloudEvent types that become work, and what they mean. ``archived`` is how a bucket with object
#: versioning reports a delete: the live generation becomes noncurrent and no ``deleted`` event is sent
#: (https://cloud.google.com/storage/docs/pubsub-notifications#events). An overwrite also archives the old
#: generation; the pipeline then finds the key live again and leaves the thumbnails alone.
CLOUD_EVENT_KINDS: Mapping[str, EventKind] = {
    FINALIZED: EventKind.CREATED,
    DELETED: EventKind.DELETED,
    ARCHIVED: EventKind.DELETED,
}
#: CloudEvent types that are acknowledged and skipped: only metadata changed, the thumbnails already
#: match the bytes.
ACKNOWLEDGED_CLOUD_EVENT_TYPES = frozenset({METADATA_UPDATED})

LEGACY_FINALIZE = "google.storage.object.finalize"
LEGACY_DELETE = "google.storage.object.delete"
LEGACY_ARCHIVE = "google.storage.object.archive"
LEGACY_METADATA_UPDATE = "google.storage.object.metadataUpdate"
LEGACY_OBJECT_CHANGE = "providers/cloud.storage/eventTypes/object.change"

LEGACY_KINDS: Mapping[str, EventKind] = {
    LEGACY_FINALIZE: EventKind.CREATED,
    LEGACY_DELETE: EventKind.DELETED,
    LEGACY_ARCHIVE: EventKind.DELETED,
}
ACKNOWLEDGED_LEGACY_TYPES = frozenset({LEGACY_METADATA_UPDATE})

#: Cloud Storage bucket names: lower-case letters, digits, "-", "_" and ".", 3-63 characters (222 when
#: dotted). A name outside that (a slash, a NUL, upper case) is not one GCS could have sent.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,221}")
#: A size or generation sent as text: ASCII digits only (``str.isdigit`` also takes "²", which ``int``
#: refuses) and at most 20 of them (``int`` refuses more than 4300; no size or generation has 21).
_DECIMAL = re.compile(r"[0-9]{1,20}")
_SOURCE_BUCKET = re.compile(r"//storage\.googleapis\.com/projects/[^/]+/buckets/([^/]+)")
_RESOURCE_BUCKET = re.compile(r"projects/[^/]+/buckets/([^/]+)(?:/objects/.*)?")


def _acknowledged(event_type: str, payload: Mapping[str, Any], *, bucket: str | None, event_id: str | None) -> Ignored:
    """An event type polythumb acknowledges and does nothing for (archived, metadataUpdated)."""
    return Ignored(
        NOT_APPLICABLE, event_type, event_id, f"{_short(event_type)}: polythumb does not act on this event type",
        bucket=_optional_text(payload.get("bucket")) or bucket, key=_optional_text(payload.get("name")),
    )  # fmt: skip


#: What a parser returns: an event to handle, or one acknowledged without work.
ParsedEvent = ObjectEvent | Ignored


def parse_cloud_event(attributes: Mapping[str, Any], data: object) -> ParsedEvent:
    """Parse a Cloud Storage CloudEvent (binary or structured mode, already split by the SDK).

    Args:
        attributes: The context attributes (``type``, ``source``, ``id``, ``time``, extensions).
        data: The event data: a mapping, or JSON text/bytes of one.

    Raises:
        MalformedEvent: Not a Cloud Storage object event polythumb understands.
    """
    event_type = attributes.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("CloudEvent has no 'type' attribute")
    event_id = _optional_text(attributes.get("id"))
    fallback_bucket = _optional_text(attributes.get("bucket")) or _bucket_from_source(attributes.get("source"))
    if event_type in ACKNOWLEDGED_CLOUD_EVENT_TYPES:
        payload = _as_mapping(data, "CloudEvent data") if data not in (None, b"", "") else {}
        return _acknowledged(event_type, payload, bucket=fallback_bucket, event_id=event_id)
    if event_type not in CLOUD_EVENT_KINDS:
        raise MalformedEvent(
            f"unsupported CloudEvent type {_short(event_type)}; polythumb handles "
            f"{', '.join(sorted(CLOUD_EVENT_KINDS))} "
            f"(and acknowledges {', '.join(sorted(ACKNOWLEDGED_CLOUD_EVENT_TYPES))})"
        )
    payload = _as_mapping(data, "CloudEvent data")
    kind = CLOUD_EVENT_KINDS[event_type]
    if kind is EventKind.CREATED and payload.get("resourceState") == "not_exists":
        # functions-framework converts the old object.change format to "finalized" whatever it says;
        # resourceState is the only trace that the object was in fact deleted.
        kind = EventKind.DELETED
    return _object_event(
        kind, payload, fallback_bucket=fallback_bucket, event_id=event_id,
        event_time=_optional_text(attributes.get("time")),
    )  # fmt: skip


def parse_structured_cloud_event(envelope: Mapping[str, Any]) -> ParsedEvent:
    """Parse a structured-mode CloudEvent JSON object (attributes and ``data`` in one document)."""
    if not isinstance(envelope, Mapping):
        raise MalformedEvent(f"a structured CloudEvent is a JSON object, not {type(envelope).__name__}")
    attributes = {name: value for name, value in envelope.items() if name not in ("data", "data_base64")}
    return parse_cloud_event(attributes, envelope.get("data"))


def parse_background_event(
    data: object,
    *,
    event_type: str | None,
    event_id: str | None = None,
    timestamp: str | None = None,
    resource: object = None,
) -> ParsedEvent:
    """Parse a 1st-gen background event: the ``data`` and the ``context`` fields functions-framework passes.

    Args:
        data: The object resource.
        event_type: ``google.storage.object.finalize`` etc., or the old ``.../object.change``.
        event_id: ``context.eventId``.
        timestamp: ``context.timestamp``.
        resource: ``context.resource``: ``{"name": "projects/_/buckets/<b>/objects/<name>", ...}``, or
            the old format's string ``projects/_/buckets/<b>/objects/<name>#<generation>``.

    Raises:
        MalformedEvent: Not a Cloud Storage object event polythumb understands.
    """
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("background event has no eventType")
    fallback_bucket = _bucket_from_resource(resource)
    event_id = _optional_text(event_id)
    if event_type in ACKNOWLEDGED_LEGACY_TYPES:
        payload = _as_mapping(data, "background event data") if data not in (None, b"", "") else {}
        return _acknowledged(event_type, payload, bucket=fallback_bucket, event_id=event_id)
    payload = _as_mapping(data, "background event data")
    if event_type == LEGACY_OBJECT_CHANGE:
        kind = EventKind.DELETED if payload.get("resourceState") == "not_exists" else EventKind.CREATED
    elif event_type in LEGACY_KINDS:
        kind = LEGACY_KINDS[event_type]
    else:
        raise MalformedEvent(
            f"unsupported background event type {_short(event_type)}; polythumb handles "
            f"{', '.join(sorted((*LEGACY_KINDS, LEGACY_OBJECT_CHANGE)))}"
        )
    return _object_event(
        kind, payload, fallback_bucket=fallback_bucket, event_id=event_id, event_time=_optional_text(timestamp)
    )


def parse_legacy_envelope(envelope: Mapping[str, Any]) -> ParsedEvent:
    """Parse a whole 1st-gen request body: ``{context, data}`` or the old flat object.change format."""
    if not isinstance(envelope, Mapping):
        raise MalformedEvent(f"a background event is a JSON object, not {type(envelope).__name__}")
    context = envelope.get("context")
    if context is None:  # the old flat format keeps the context fields at the top level
        context = envelope
    if not isinstance(context, Mapping):
        raise MalformedEvent(f"background event 'context' is a {type(context).__name__}, not an object")
    return parse_background_event(
        envelope.get("data"),
        event_type=context.get("eventType"),
        event_id=context.get("eventId"),
        timestamp=context.get("timestamp"),
        resource=context.get("resource"),
    )


# -- helpers ---------------------------------------------------------------------


def _object_event(
    kind: EventKind,
    data: Mapping[str, Any],
    *,
    fallback_bucket: str | None,
    event_id: str | None,
    event_time: str | None,
) -> ObjectEvent:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedEvent(f"event data has no object name ('name' is {_describe(name)})")
    try:
        check_key(name)  # no NUL, no lone surrogate, at most 1024 bytes: what GCS itself allows
    except InvalidKey as exc:
        raise MalformedEvent(f"event data 'name' is not an object name GCS can hold: {exc}") from None
    bucket = _optional_text(data.get("bucket")) or fallback_bucket
    if not bucket:
        raise MalformedEvent("event names no bucket (neither data.bucket nor the source/bucket attributes)")
    if not _BUCKET_NAME.fullmatch(bucket):
        raise MalformedEvent(f"event names bucket {_short(bucket)}, which is not a Cloud Storage bucket name")
    generation = _whole_number(data, "generation")
    return ObjectEvent(
        kind=kind,
        bucket=bucket,
        key=name,
        size=_whole_number(data, "size"),
        etag=_optional_text(data.get("etag")),
        version=str(generation) if generation is not None else None,
        event_id=event_id,
        # The delivery's time, else the object's own (the write that made this generation).
        event_time=event_time or _optional_text(data.get("updated")) or _optional_text(data.get("timeCreated")),
        content_type=_optional_text(data.get("contentType")),
    )


def _as_mapping(data: object, what: str) -> Mapping[str, Any]:
    if isinstance(data, (bytes, bytearray, str)):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting deeper than the stack
            raise MalformedEvent(f"{what} is not JSON") from None
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{what} is {_describe(data)}, expected a Cloud Storage object resource (JSON object)")
    return data


def _whole_number(data: Mapping[str, Any], name: str) -> int | None:
    """``size``/``generation``: JSON strings in real deliveries, numbers in some samples; both accepted."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int subclass; true is not a size
        raise MalformedEvent(f"event data '{name}' is {_describe(value)}, not a whole number")
    text = value.strip() if isinstance(value, str) else ""
    if isinstance(value, int):
        number = value
    elif _DECIMAL.fullmatch(text):
        number = int(text)  # the stripped text: str.strip() removes characters int() refuses (U+001C-U+001F)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise MalformedEvent(f"event data '{name}' is {_describe(value)}, not a whole number")
    if number < 0:
        raise MalformedEvent(f"event data '{name}' is negative ({number})")
    return number


def _bucket_from_source(source: object) -> str | None:
    match = _SOURCE_BUCKET.fullmatch(source) if isinstance(source, str) else None
    return match.group(1) if match else None


def _bucket_from_resource(resource: object) -> str | None:
    name = resource.get("name") if isinstance(resource, Mapping) else resource
    if not isinstance(name, str):
        return None
    match = _RESOURCE_BUCKET.fullmatch(name.split("#", 1)[0])
    return match.group(1) if match else None


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _describe(value: object) -> str:
    """A short, log-safe description of a bad value (never a whole payload)."""
    if value is None:
        return "missing"
    if isinstance(value, (Mapping, list, tuple)):
        return f"a {type(value).__name__}"
    return f"{_short(value)} ({type(value).__name__})"


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
