"""Every AWS envelope parses into the right ObjectEvents; keys are decoded exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import MalformedEvent
from core.events import EventKind, ObjectEvent
from providers.aws.events import Notifications, decode_key, parse_body, parse_document, parse_lambda_event, sqs_messages

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def parse_any(event: Any) -> Notifications:
    """What the handler does: SQS batches message by message, everything else at once."""
    messages = sqs_messages(event)
    if messages is None:
        return parse_lambda_event(event)
    parsed = Notifications()
    for message in messages:
        parsed += parse_body(message.body)
    return parsed


C, D = EventKind.CREATED, EventKind.DELETED

#: file -> the (kind, bucket, key, size, etag, version) of each event it carries.
EXPECTED: dict[str, list[tuple[EventKind, str, str, int | None, str | None, str | None]]] = {
    "s3_put_docs.json": [
        (C, "mybucket", "HappyFace.jpg", 1024, "d41d8cd98f00b204e9800998ecf8427e", "096fKKXTRTtl3on89fVO.nfljtsv6qko")
    ],
    "s3_put_powertools.json": [
        (C, "lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", 1305107,
         "b21b84d653bb07b05b1e6b33684dc11b", None)
    ],
    "s3_delete_powertools.json": [
        (D, "lambda-artifacts-deafc19498e3f2df", "b21b84d653bb07b05b1e6b33684dc11b", None, None, None)
    ],
    "s3_via_sqs_powertools.json": [
        (C, "xxx", "test.pdf", 104681, "2e3ad1e983318bbd8e73b080e2997980", "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV")
    ],
    "s3_via_sns_then_sqs_powertools_pr4069.json": [
        (C, "unwraptestevents-bucket", "firehose-s3-template.json", 4314, "e77dffcd1756d6e8e5123ef1e0ce7c54", None)
    ],
    "s3_multi_records_dotnet.json": [
        (C, "sourcebucket", "HappyFace.jpg", 1024, "0123456789abcdef0123456789abcdef", None),
        (C, "sourcebucket", "New File.jpg", 1024, "0123456789abcdef0123456789abcdef", None),
    ],
    "s3_put_percent20_key_go.json": [
        (C, "sourcebucket", "Happy Face.jpg", 1024, "d41d8cd98f00b204e9800998ecf8427e", "version")
    ],
    "s3_put_sam_generate_event.json": [
        (C, "example-bucket", "test/key", 1024, "0123456789abcdef0123456789abcdef", None)
    ],
    "s3_eventbridge_object_created_docs.json": [
        (C, "DOC-EXAMPLE-BUCKET1", "example-key", 5, "b1946ac92492d2347c6235b4d2611184",
         "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    ],
    "s3_eventbridge_object_created_powertools.json": [
        (C, "example-bucket", "IMG_m7fzo3.jpg", 184662, "4e68adba0abe2dc8653dc3354e14c01d", None)
    ],
    "s3_eventbridge_object_deleted_docs.json": [
        (D, "DOC-EXAMPLE-BUCKET1", "example-key", None, "d41d8cd98f00b204e9800998ecf8427e",
         "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF")
    ],
    "s3_test_event_docs.json": [],
    "s3_via_sns_powertools_pr4069.json": [
        (C, "s3-sns-unwrap-bucket", "samconfig.toml", 221, "551277913a5ad93e0db069e673f23376", None)
    ],
    "s3_via_sns_raw_then_sqs_powertools_pr4069.json": [
        (C, "unwraptestevents-bucket", "samconfig.toml", 221, "9cc7da5febb07868706f59ab70d89981", None)
    ],
    "s3_via_eventbridge_then_sqs_powertools_pr4069.json": [
        (C, "s3-eb-unwrap-sourcebucket", "__init__.py", 0, "d41d8cd98f00b204e9800998ecf8427e", None)
    ],
    "s3_eventbridge_object_created_powertools_pr4069.json": [
        (C, "s3-eb-unwrap-sourcebucket", "s3-eb-template.yaml", 1565, "e56e21b1610dd94e9907f82b8d05b934", None)
    ],
    # Issue 17: a key with ":", " ", "+" and "%" in both forms (see SOURCES.md). The raw form is misread by
    # the decoder (so the event also carries the key as sent, for the pipeline to try on a miss).
    "s3_eventbridge_object_created_special_key_raw_docs.json": [
        (C, "DOC-EXAMPLE-BUCKET1", "photos/2023-08-08T14:03:40 red flower 1 100%.jpg", 5,
         "b1946ac92492d2347c6235b4d2611184", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    ],
    "s3_eventbridge_object_created_special_key_encoded_docs.json": [
        (C, "DOC-EXAMPLE-BUCKET1", "photos/2023-08-08T14:03:40 red flower+1 100%.jpg", 5,
         "b1946ac92492d2347c6235b4d2611184", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    ],
}  # fmt: skip

#: Payloads that are valid SQS batches but whose bodies are not S3 notifications.
MALFORMED_BODIES = ["sqs_sns_not_s3_powertools_pr4069.json", "sqs_raw_sns_not_s3_powertools_pr4069.json"]


def test_every_payload_file_is_covered() -> None:
    on_disk = {p.name for p in EVENTS.glob("*.json")}
    assert on_disk == set(EXPECTED) | set(MALFORMED_BODIES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vendor_payload_parses_into_object_events(name: str) -> None:
    parsed = parse_any(load_event(name))
    got = [(e.kind, e.bucket, e.key, e.size, e.etag, e.version) for e in parsed.events]
    assert got == EXPECTED[name]
    assert all(isinstance(e, ObjectEvent) for e in parsed.events)


def test_test_event_is_acknowledged_and_skipped() -> None:
    parsed = parse_any(load_event("s3_test_event_docs.json"))
    assert parsed.events == ()
    assert parsed.ignored and "s3:TestEvent" in parsed.ignored[0].detail


def test_test_event_inside_an_sqs_body_and_an_sns_envelope_is_skipped() -> None:
    test_event = (EVENTS / "s3_test_event_docs.json").read_text()
    assert parse_body(test_event).events == ()
    envelope = json.dumps({"Type": "Notification", "MessageId": "m", "Message": test_event})
    assert parse_body(envelope).events == ()
    assert parse_body(envelope).ignored


@pytest.mark.parametrize("name", MALFORMED_BODIES)
def test_bodies_that_are_not_s3_notifications_are_malformed(name: str) -> None:
    messages = sqs_messages(load_event(name))
    assert messages is not None and len(messages) == 1
    with pytest.raises(MalformedEvent) as caught:
        parse_body(messages[0].body)
    assert "S3 event notification" in str(caught.value)


def test_event_ids_and_times_are_carried() -> None:
    [event] = parse_any(load_event("s3_put_docs.json")).events
    assert event.event_id is not None and event.event_id.startswith("C3D13FE58DE4C810:")  # request id, then key
    assert event.event_time == "1970-01-01T00:00:00.000Z"
    [bridged] = parse_any(load_event("s3_eventbridge_object_created_docs.json")).events
    assert bridged.event_id == "17793124-05d4-b198-2fde-7ededc63b103"
    assert bridged.event_time == "2021-11-12T00:00:00Z"


# -- key decoding ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("red+flower.jpg", "red flower.jpg"),  # the S3 user guide's own example
        ("a%2Bb.jpg", "a+b.jpg"),  # a real plus is escaped
        ("Happy%20Face.jpg", "Happy Face.jpg"),
        ("a+b%2Fred+flower%2Bx.jpg", "a b/red flower+x.jpg"),  # moto also escapes "/"
        ("unicode/caf%C3%A9+%E5%86%99%E7%9C%9F.jpg", "unicode/café 写真.jpg"),
        ("a%40b%3Dc%26d.jpg", "a@b=c&d.jpg"),
        ("pct%2520.jpg", "pct%20.jpg"),  # decoded once: a literal "%20" in the key survives
        ("100%25.jpg", "100%.jpg"),
    ],
)
def test_keys_are_form_decoded_exactly_once(raw: str, key: str) -> None:
    assert decode_key(raw) == key
    record = json.loads((EVENTS / "s3_put_docs.json").read_text())
    record["Records"][0]["s3"]["object"]["key"] = raw
    [event] = parse_document(record).events
    assert event.key == key


def test_a_key_whose_escapes_are_not_utf8_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="not UTF-8"):
        decode_key("bad%FF.jpg")


def test_eventbridge_keys_go_through_the_same_decoder() -> None:
    event = load_event("s3_eventbridge_object_created_docs.json")
    event["detail"]["object"]["key"] = "photos/red+flower%2B1.jpg"
    [parsed] = parse_lambda_event(event).events
    assert parsed.key == "photos/red flower+1.jpg"


def test_eventbridge_events_carry_the_key_as_sent_when_decoding_changed_it() -> None:
    [raw] = parse_lambda_event(load_event("s3_eventbridge_object_created_special_key_raw_docs.json")).events
    assert raw.raw_key == "photos/2023-08-08T14:03:40 red flower+1 100%.jpg"  # the stored key, for a miss
    [encoded] = parse_lambda_event(load_event("s3_eventbridge_object_created_special_key_encoded_docs.json")).events
    assert encoded.key == "photos/2023-08-08T14:03:40 red flower+1 100%.jpg"
    assert encoded.raw_key == "photos/2023-08-08T14%3A03%3A40+red+flower%2B1+100%25.jpg"
    [plain] = parse_lambda_event(load_event("s3_eventbridge_object_created_docs.json")).events
    assert plain.raw_key is None  # nothing to retry when decoding changed nothing


def test_s3_notification_keys_are_documented_as_encoded_so_carry_no_alternative() -> None:
    [event] = parse_any(load_event("s3_put_percent20_key_go.json")).events
    assert event.key == "Happy Face.jpg" and event.raw_key is None


def test_records_sharing_a_request_id_get_distinct_event_ids() -> None:
    # Every record of a multi-object delete carries the same x-amz-request-id; the dotnet sample's two
    # records share theirs (and their sequencer). Before issue 17 both events had the id "EXAMPLE123456789".
    document = load_event("s3_multi_records_dotnet.json")
    for record in document["Records"]:
        record["eventName"] = "ObjectRemoved:Delete"
    events = parse_document(document).events
    ids = [event.event_id for event in events]
    assert len(events) == 2 and len(set(ids)) == 2
    assert all(i is not None and i.startswith("EXAMPLE123456789:") for i in ids)
    assert parse_document(document).events[0].event_id == ids[0]  # stable across redeliveries


# -- event kinds -------------------------------------------------------------------


def _s3_record(event_name: str, *, version: str = "2.1") -> dict[str, Any]:
    document = load_event("s3_put_docs.json")
    document["Records"][0]["eventName"] = event_name
    document["Records"][0]["eventVersion"] = version
    return document


@pytest.mark.parametrize(
    ("event_name", "kind"),
    [
        ("ObjectCreated:Put", C),
        ("ObjectCreated:CompleteMultipartUpload", C),
        ("ObjectCreated:Copy", C),
        ("ObjectRemoved:Delete", D),
        ("ObjectRemoved:DeleteMarkerCreated", D),
        ("LifecycleExpiration:Delete", D),
    ],
)
def test_created_and_removed_families(event_name: str, kind: EventKind) -> None:
    [event] = parse_document(_s3_record(event_name)).events
    assert event.kind is kind


@pytest.mark.parametrize(
    "event_name",
    ["ObjectRestore:Completed", "ObjectTagging:Put", "ObjectAcl:Put", "Replication:OperationFailedReplication"],
)
def test_other_s3_events_are_acknowledged_without_work(event_name: str) -> None:
    parsed = parse_document(_s3_record(event_name))
    assert parsed.events == ()
    assert event_name in parsed.ignored[0].detail


@pytest.mark.parametrize("detail_type", ["Object Tags Added", "Object Restore Completed", "Object ACL Updated"])
def test_other_eventbridge_types_are_acknowledged_without_work(detail_type: str) -> None:
    event = load_event("s3_eventbridge_object_created_docs.json")
    event["detail-type"] = detail_type
    parsed = parse_lambda_event(event)
    assert parsed.events == () and parsed.ignored


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2", "2.3"])
def test_any_2x_event_version_is_accepted(version: str) -> None:
    assert len(parse_document(_s3_record("ObjectCreated:Put", version=version)).events) == 1


def test_an_unknown_major_event_version_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match=r"expected 2\.x"):
        parse_document(_s3_record("ObjectCreated:Put", version="3.0"))


def test_null_version_ids_mean_no_version() -> None:
    document = load_event("s3_put_docs.json")
    document["Records"][0]["s3"]["object"]["versionId"] = "null"
    [event] = parse_document(document).events
    assert event.version is None


# -- malformed events -----------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"hello": "world"},
        [],
        "not an event",
        {"Records": []},
        {"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]},
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
    ],
)
def test_unknown_lambda_events_name_the_expected_shapes(event: Any) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_lambda_event(event)
    message = str(caught.value)
    assert "aws:s3" in message and "aws:sqs" in message and "EventBridge" in message


@pytest.mark.parametrize(
    "body",
    [
        "not json at all, password=hunter2",
        "[1, 2, 3]",
        json.dumps({"Records": [{"eventSource": "aws:s3"}]}),  # no "s3" object
        json.dumps({"Records": [{"eventVersion": "2.1", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}),
        json.dumps({"Type": "Notification", "Message": "{}"}),
        json.dumps({"Type": "Notification", "Message": 42}),
    ],
)
def test_malformed_bodies_raise_without_echoing_the_payload(body: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_body(body)
    assert "hunter2" not in str(caught.value)


def test_an_empty_key_is_malformed() -> None:
    document = load_event("s3_put_docs.json")
    document["Records"][0]["s3"]["object"]["key"] = ""
    with pytest.raises(MalformedEvent, match="key"):
        parse_document(document)


def test_sqs_records_without_a_body_are_malformed() -> None:
    with pytest.raises(MalformedEvent, match="messageId"):
        sqs_messages({"Records": [{"eventSource": "aws:sqs", "messageId": "m1"}]})


def test_non_sqs_events_are_not_batches() -> None:
    assert sqs_messages(load_event("s3_put_docs.json")) is None
    assert sqs_messages(load_event("s3_eventbridge_object_created_docs.json")) is None
    [message] = sqs_messages(load_event("s3_via_sqs_powertools.json")) or []
    assert message.message_id == "ca3e7a89-c358-40e5-8aa0-5da01403c267"
    assert not message.fifo
