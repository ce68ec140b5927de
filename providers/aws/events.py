"""Every envelope by which an S3 notification reaches a Lambda, turned into :class:`ObjectEvent`s.

Routes understood:

* S3 -> Lambda: ``{"Records": [{"eventSource": "aws:s3", "s3": {...}}, ...]}``;
* S3 -> SQS -> Lambda: ``Records[].body`` is that S3 document as a JSON string;
* S3 -> SNS -> SQS -> Lambda: the body is an SNS envelope (``Type: Notification``) whose ``Message`` is the
  S3 document, itself a JSON string; with raw message delivery the body is the S3 document directly;
* S3 -> SNS -> Lambda: ``Records[].Sns.Message`` is the S3 document;
* S3 -> EventBridge -> Lambda: ``{"source": "aws.s3", "detail-type": "Object Created", "detail": {...}}``;
  S3 -> EventBridge -> SQS -> Lambda: the body is that event.

``s3:TestEvent`` (sent once when a notification configuration is saved) and S3 events polythumb does not
act on (restore, tagging, ACL, ...) are acknowledged and reported in :attr:`Notifications.ignored`, as
:class:`core.delivery.Ignored` records.

Keys in S3 notifications are form-URL-encoded (``+`` for space, ``%XX`` for the rest, ``/`` sometimes
encoded too): :func:`decode_key` is the ONE place that decodes them, exactly once. EventBridge keys go
through it as well, and also travel as sent (``ObjectEvent.raw_key``), because AWS does not document
their encoding; see :func:`decode_key`.

Event ids: S3 notifications carry only the request id (``x-amz-request-id``), which every record of a
multi-object delete shares, so the neutral ``event_id`` is ``<request id>:<digest of the key as sent>``:
unique per object of a request, and the same on every redelivery of that record.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from core.delivery import NOT_APPLICABLE, Ignored
from core.errors import InvalidKey, MalformedEvent
from core.events import EventKind, ObjectEvent
from core.storage.validation import check_key

#: What a notification document may be, for error messages.
EXPECTED_DOCUMENT = (
    "an S3 event notification ({'Records': [{'eventSource': 'aws:s3', 's3': {...}}]}), "
    "an s3:TestEvent, an SNS envelope ({'Type': 'Notification', 'Message': '<S3 event JSON>'}) "
    "or an EventBridge event from aws.s3 ({'source': 'aws.s3', 'detail-type': 'Object Created', 'detail': {...}})"
)

#: What a Lambda event may be, for error messages.
EXPECTED_LAMBDA_EVENT = (
    "an S3 notification (Records[].eventSource 'aws:s3'), an SQS batch (Records[].eventSource 'aws:sqs'), "
    "an SNS delivery (Records[].EventSource 'aws:sns') or an EventBridge event from aws.s3 "
    "('source': 'aws.s3', 'detail-type': 'Object Created' | 'Object Deleted')"
)

#: S3 notification event-name families (``eventName`` without the action) polythumb acts on.
_CREATED_FAMILIES = ("ObjectCreated",)
_DELETED_FAMILIES = ("ObjectRemoved", "LifecycleExpiration")

_EVENTBRIDGE_KINDS = {"Object Created": EventKind.CREATED, "Object Deleted": EventKind.DELETED}

#: The major S3 notification version this parser understands ("2.0" ... "2.3" and later minors).
_SUPPORTED_MAJOR = "2"

#: S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens today; buckets created in us-east-1
#: before March 2018 may also hold upper case and underscores, up to 255 characters. Anything else (a
#: slash, a NUL, a space) is not a bucket S3 could have sent, whatever the envelope says.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")


@dataclass(frozen=True)
class Notifications:
    """The S3 notifications one document (or one Lambda event) carries: work, and what is acknowledged without.

    (Not :data:`core.delivery.Parsed`, what a parse callable hands :func:`core.delivery.deliver`: that is
    :attr:`items`.)

    Attributes:
        events: The object events to handle, in delivery order.
        ignored: Notifications acknowledged without work (``s3:TestEvent``, ``ObjectTagging:Put``, ...).
    """

    events: tuple[ObjectEvent, ...] = ()
    ignored: tuple[Ignored, ...] = ()

    def __add__(self, other: Notifications) -> Notifications:
        return Notifications(self.events + other.events, self.ignored + other.ignored)

    @property
    def items(self) -> tuple[ObjectEvent | Ignored, ...]:
        """Everything to deliver (:func:`core.delivery.deliver`): the ignored notifications, then the events."""
        return (*self.ignored, *self.events)


def _ignored(event_type: str, detail: str, *, bucket: str | None = None) -> Ignored:
    return Ignored(NOT_APPLICABLE, event_type, detail=detail, bucket=bucket)


@dataclass(frozen=True)
class SqsMessage:
    """One message of an SQS batch, as Lambda hands it over."""

    message_id: str
    body: str
    source_arn: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fifo(self) -> bool:
        """Whether the message comes from a FIFO queue (order matters on failure)."""
        return self.source_arn.endswith(".fifo")


def decode_key(raw: str) -> str:
    """Decode an object key from an S3 notification, exactly once.

    S3 sends keys form-URL-encoded ("red flower.jpg" arrives as "red+flower.jpg", "a+b" as "a%2Bb"). The
    EventBridge documentation does not say (the S3 user guide's "EventBridge event message structure",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html, describes ``object.key`` only
    as the key); LocalStack encodes them like the other routes, moto 5.2 sends them raw, powertools
    decodes them, and public captures show a raw ``:``. We decode them too: a raw key is only misread
    when it contains ``+`` or ``%XX``, while an encoded key left alone breaks on every space. The key as
    sent also travels in ``ObjectEvent.raw_key``, which the pipeline tries when the decoded key is not
    found (one extra HEAD, only on a miss), so both forms reach the right object.

    Raises:
        MalformedEvent: the percent-escapes are not valid UTF-8, or the key is empty, holds a NUL or is
            longer than S3's 1024 bytes.
    """
    try:
        key = unquote_plus(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"object key {raw!r} has percent-escapes that are not UTF-8") from exc
    if not key:
        raise MalformedEvent("the notification names an empty object key")
    try:
        return check_key(key)  # no NUL, at most 1024 bytes: what S3 itself allows
    except InvalidKey as exc:
        raise MalformedEvent(f"the notification names an object key S3 cannot hold: {exc}") from None


# -- Lambda events -------------------------------------------------------------


def sqs_messages(event: Mapping[str, Any]) -> list[SqsMessage] | None:
    """The messages of an SQS batch event, or ``None`` when ``event`` is not one."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        return None
    if not all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records):
        return None
    messages = []
    for record in records:
        message_id, body = record.get("messageId"), record.get("body")
        if not isinstance(message_id, str) or not isinstance(body, str):
            raise MalformedEvent("an SQS record needs a string 'messageId' and a string 'body'")
        messages.append(
            SqsMessage(message_id, body, str(record.get("eventSourceARN", "")), record.get("attributes") or {})
        )
    return messages


def parse_lambda_event(event: Any) -> Notifications:
    """Parse a Lambda event that is not an SQS batch (direct S3, SNS, EventBridge, s3:TestEvent).

    Raises:
        MalformedEvent: ``event`` is none of :data:`EXPECTED_LAMBDA_EVENT`.
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"the Lambda event is a {type(event).__name__}; expected {EXPECTED_LAMBDA_EVENT}")
    records = event.get("Records")
    if isinstance(records, list):
        if not records:
            raise MalformedEvent(f"the Lambda event has an empty 'Records' list; expected {EXPECTED_LAMBDA_EVENT}")
        parsed = Notifications()
        for index, record in enumerate(records):
            parsed += _parse_lambda_record(record, index)
        return parsed
    if _is_eventbridge(event) or _is_test_event(event):
        return parse_document(event)
    raise MalformedEvent(f"unrecognised Lambda event (keys: {_keys(event)}); expected {EXPECTED_LAMBDA_EVENT}")


def _parse_lambda_record(record: Any, index: int) -> Notifications:
    if not isinstance(record, Mapping):
        raise MalformedEvent(f"Records[{index}] is not an object; expected {EXPECTED_LAMBDA_EVENT}")
    if record.get("eventSource") == "aws:s3" or "s3" in record:
        return _parse_s3_records([record])
    if record.get("EventSource") == "aws:sns" and isinstance(record.get("Sns"), Mapping):
        return _parse_sns_envelope(record["Sns"], where=f"Records[{index}].Sns")
    if record.get("eventSource") == "aws:sqs":
        raise MalformedEvent(f"Records[{index}] is an SQS record in a batch that mixes sources")
    source = record.get("eventSource") or record.get("EventSource") or "unknown"
    raise MalformedEvent(f"Records[{index}] comes from {source!r}; expected {EXPECTED_LAMBDA_EVENT}")


# -- notification documents (the body of a message) ----------------------------


def parse_body(body: str) -> Notifications:
    """Parse an SQS message body: a JSON document as in :func:`parse_document`.

    Raises:
        MalformedEvent: the body is not JSON, or not one of :data:`EXPECTED_DOCUMENT`.
    """
    return parse_document(_load_json(body, "the message body"))


def parse_document(document: Any) -> Notifications:
    """Parse one notification document: S3 records, s3:TestEvent, an SNS envelope or an EventBridge event.

    Raises:
        MalformedEvent: naming :data:`EXPECTED_DOCUMENT`.
    """
    if not isinstance(document, Mapping):
        raise MalformedEvent(f"the notification is a JSON {type(document).__name__}; expected {EXPECTED_DOCUMENT}")
    if isinstance(document.get("Records"), list):
        return _parse_s3_records(document["Records"])
    if _is_test_event(document):
        bucket = _optional_text(document.get("Bucket"))
        return Notifications(ignored=(_ignored("s3:TestEvent", f"s3:TestEvent for bucket {bucket}", bucket=bucket),))
    if document.get("Type") == "Notification" and "Message" in document:
        return _parse_sns_envelope(document, where="the SNS envelope")
    if _is_eventbridge(document):
        return _parse_eventbridge(document)
    raise MalformedEvent(f"unrecognised notification (keys: {_keys(document)}); expected {EXPECTED_DOCUMENT}")


def _parse_sns_envelope(envelope: Mapping[str, Any], *, where: str) -> Notifications:
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise MalformedEvent(f"{where} has no string 'Message'; expected the S3 event notification as JSON text")
    inner = _load_json(message, f"{where} Message")
    # SNS carries S3 notifications (and their s3:TestEvent), never another SNS envelope.
    if isinstance(inner, Mapping) and (isinstance(inner.get("Records"), list) or _is_test_event(inner)):
        return parse_document(inner)
    raise MalformedEvent(f"{where} Message is not an S3 event notification (keys: {_keys(inner)})")


def _parse_s3_records(records: Sequence[Any]) -> Notifications:
    events: list[ObjectEvent] = []
    ignored: list[Ignored] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping) or not isinstance(record.get("s3"), Mapping):
            raise MalformedEvent(f"Records[{index}] has no 's3' object; expected {EXPECTED_DOCUMENT}")
        version = str(record.get("eventVersion", ""))
        if version.split(".", 1)[0] != _SUPPORTED_MAJOR:
            raise MalformedEvent(f"Records[{index}] has eventVersion {version!r}; expected 2.x")
        name = str(record.get("eventName", ""))
        kind = _kind_of_event_name(name)
        if kind is None:
            ignored.append(_ignored(name, f"{name or 'an event without eventName'} (not a create or delete)"))
            continue
        s3 = record["s3"]
        bucket = _bucket(s3.get("bucket"), f"Records[{index}].s3.bucket.name")
        obj = s3.get("object")
        raw_key = _text(obj, "key", f"Records[{index}].s3.object.key")
        assert isinstance(obj, Mapping)  # _text checked it
        response = record.get("responseElements")
        request_id = _optional_text(response.get("x-amz-request-id")) if isinstance(response, Mapping) else None
        events.append(
            ObjectEvent(
                kind=kind,
                bucket=bucket,
                key=decode_key(raw_key),
                size=_size(obj.get("size")),
                etag=_etag(obj.get("eTag")),
                version=_version(obj.get("versionId")),
                event_id=f"{request_id}:{_digest(raw_key)}" if request_id else None,
                event_time=_optional_text(record.get("eventTime")),
            )
        )
    return Notifications(tuple(events), tuple(ignored))


def _parse_eventbridge(event: Mapping[str, Any]) -> Notifications:
    detail_type = str(event.get("detail-type"))
    kind = _EVENTBRIDGE_KINDS.get(detail_type)
    if kind is None:
        return Notifications(ignored=(_ignored(detail_type, f"EventBridge {detail_type!r} (not a create or delete)"),))
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEvent("the EventBridge event has no 'detail' object")
    bucket = _bucket(detail.get("bucket"), "detail.bucket.name")
    obj = detail.get("object")
    raw_key = _text(obj, "key", "detail.object.key")
    assert isinstance(obj, Mapping)
    key = decode_key(raw_key)
    return Notifications(
        (
            ObjectEvent(
                kind=kind,
                bucket=bucket,
                key=key,
                raw_key=raw_key if raw_key != key and _storable(raw_key) else None,
                size=_size(obj.get("size")),
                # AWS spells it "etag"; moto 5.2 sends "eTag" as in S3 notifications.
                etag=_etag(obj.get("etag", obj.get("eTag"))),
                version=_version(obj.get("version-id")),
                event_id=_optional_text(event.get("id")),
                event_time=_optional_text(event.get("time")),
            ),
        )
    )


# -- small helpers --------------------------------------------------------------


def _kind_of_event_name(name: str) -> EventKind | None:
    family = name.removeprefix("s3:").split(":", 1)[0]
    if family in _CREATED_FAMILIES:
        return EventKind.CREATED
    if family in _DELETED_FAMILIES:
        return EventKind.DELETED
    return None


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _storable(key: str) -> bool:
    try:
        check_key(key)
    except InvalidKey:
        return False
    return True


def _is_test_event(document: Mapping[str, Any]) -> bool:
    return document.get("Event") == "s3:TestEvent"


def _is_eventbridge(document: Mapping[str, Any]) -> bool:
    return document.get("source") == "aws.s3" and "detail-type" in document


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        # Never echo the text: it is a payload, and may be large or sensitive. RecursionError: nesting
        # deeper than the interpreter's stack (a few thousand "[") is hostile, not JSON we can use.
        raise MalformedEvent(f"{what} is not JSON ({len(text)} characters); expected {EXPECTED_DOCUMENT}") from exc


def _keys(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(sorted(str(k) for k in value)[:10]) or "none"
    return f"a JSON {type(value).__name__}"


def _text(container: Any, name: str, where: str) -> str:
    value = container.get(name) if isinstance(container, Mapping) else None
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{where} is missing or not a string")
    return value


def _bucket(container: Any, where: str) -> str:
    name = _text(container, "name", where)
    if not _BUCKET_NAME.fullmatch(name):
        raise MalformedEvent(f"{where} {name[:80]!r} is not an S3 bucket name")
    return name


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _version(value: Any) -> str | None:
    # Unversioned and suspended buckets report the literal "null" (moto: None).
    text = _optional_text(value)
    return None if text == "null" else text


def _size(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        return None


def _etag(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.strip('"')
