"""Cloud Storage envelopes -> ObjectEvent: every vendor sample, both data encodings, and what is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from core.delivery import Ignored
from core.errors import MalformedEvent, PermanentError
from core.events import EventKind, ObjectEvent
from providers.gcp.events import (
    ARCHIVED,
    DELETED,
    FINALIZED,
    METADATA_UPDATED,
    parse_background_event,
    parse_cloud_event,
    parse_legacy_envelope,
    parse_structured_cloud_event,
)

EVENTS = Path(__file__).parent / "events"
SAMPLES = sorted(p.name for p in EVENTS.glob("*.json"))


def load_event(name: str) -> Any:
    # utf-8-sig: functions-framework-dotnet's storage.json starts with a BOM upstream.
    return json.loads((EVENTS / name).read_text(encoding="utf-8-sig"))


def binary_attributes(bucket: str, name: str, *, event_type: str = FINALIZED) -> dict[str, str]:
    """The context attributes of a binary-mode delivery (what the ce-* headers carry)."""
    return {
        "specversion": "1.0",
        "type": event_type,
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "subject": f"objects/{name}",
        "id": "1234567890",
        "time": "2020-04-23T07:38:57.772Z",
    }


def parse_sample(name: str) -> Any:
    """Parse one sample file with the parser its envelope calls for."""
    payload = load_event(name)
    if name.startswith("cloudevent_"):
        return parse_structured_cloud_event(payload)
    if name.startswith("legacy_"):
        return parse_legacy_envelope(payload)
    # A bare StorageObjectData is the body of a binary-mode CloudEvent.
    return parse_cloud_event(binary_attributes(payload["bucket"], payload["name"]), payload)


def test_every_sample_is_copied_with_its_source() -> None:
    sources = (EVENTS / "SOURCES.md").read_text(encoding="utf-8")
    assert len(SAMPLES) == 7
    for name in SAMPLES:
        assert f"| {name} |" in sources, f"{name} has no row in SOURCES.md"


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses(name: str) -> None:
    event = parse_sample(name)
    assert isinstance(event, ObjectEvent)
    payload = load_event(name)
    data = payload.get("data", payload)
    assert event.key == data["name"]
    assert event.bucket == data["bucket"]
    assert event.version == str(data["generation"])
    assert event.size == int(data["size"])


def test_conformance_cloud_event() -> None:
    event = parse_sample("cloudevent_finalized_conformance.json")
    assert event == ObjectEvent(
        kind=EventKind.CREATED,
        bucket="some-bucket",
        key="folder/Test.cs",
        size=352,
        etag="CNHZkbuF/ugCEAE=",
        version="1587627537231057",
        event_id="aaaaaa-1111-bbbb-2222-cccccccccccc",
        event_time="2020-09-29T11:32:00.123Z",
        content_type="text/plain",
    )


def test_workflows_sample_with_numbers_and_a_bucket_extension() -> None:
    event = parse_sample("cloudevent_finalized_workflows_google_cloudevents.json")
    assert isinstance(event, ObjectEvent)
    assert (event.bucket, event.key, event.size, event.version) == ("sample-bucket", "MyFile", 0, "96883251")
    assert event.event_id == "1234567"


def test_complex_object_data_as_a_deleted_event() -> None:
    data = load_event("storageobjectdata_complex.json")
    event = parse_cloud_event(binary_attributes("sample-bucket", "MyFile", event_type=DELETED), data)
    assert isinstance(event, ObjectEvent)
    assert (event.kind, event.bucket, event.key) == (EventKind.DELETED, "sample-bucket", "MyFile")
    assert event.version == "96883251"


def test_legacy_background_finalize() -> None:
    event = parse_sample("legacy_background_finalize_dotnet.json")
    assert event == ObjectEvent(
        kind=EventKind.CREATED,
        bucket="some-bucket",
        key="folder/Test.cs",
        size=352,
        etag="CNHZkbuF/ugCEAE=",
        version="1587627537231057",
        event_id="1147091835525187",
        event_time="2020-04-23T07:38:57.772Z",
        content_type="text/plain",
    )


def test_legacy_object_change_with_not_exists_is_a_deletion() -> None:
    event = parse_sample("legacy_object_change_deleted_dotnet.json")
    assert isinstance(event, ObjectEvent)
    assert (event.kind, event.bucket, event.key) == (EventKind.DELETED, "sample-bucket", "MyFile")
    assert event.version == "1588778055917163"
    assert event.event_id == "1200401551653202"


def test_legacy_object_change_that_exists_is_a_creation() -> None:
    payload = load_event("legacy_object_change_deleted_dotnet.json")
    payload["data"]["resourceState"] = "exists"
    event = parse_legacy_envelope(payload)
    assert isinstance(event, ObjectEvent) and event.kind is EventKind.CREATED


def test_legacy_delete_type() -> None:
    payload = load_event("legacy_background_finalize_dotnet.json")
    payload["context"]["eventType"] = "google.storage.object.delete"
    event = parse_legacy_envelope(payload)
    assert isinstance(event, ObjectEvent) and event.kind is EventKind.DELETED


def test_old_format_converted_by_functions_framework_keeps_its_deletion() -> None:
    # functions-framework turns object.change into type "finalized" whatever happened; resourceState tells.
    data = load_event("legacy_object_change_deleted_dotnet.json")["data"]
    event = parse_cloud_event(binary_attributes("sample-bucket", "MyFile"), data)
    assert isinstance(event, ObjectEvent) and event.kind is EventKind.DELETED


def test_metadata_updated_is_acknowledged() -> None:
    payload = load_event("cloudevent_finalized_conformance.json")
    payload["type"] = METADATA_UPDATED
    parsed = parse_structured_cloud_event(payload)
    assert isinstance(parsed, Ignored)
    assert (parsed.reason, parsed.event_type, parsed.bucket, parsed.key, parsed.event_id) == (
        "not_applicable", METADATA_UPDATED, "some-bucket", "folder/Test.cs", "aaaaaa-1111-bbbb-2222-cccccccccccc"
    )


def test_legacy_metadata_update_is_acknowledged() -> None:
    payload = load_event("legacy_background_finalize_dotnet.json")
    payload["context"]["eventType"] = "google.storage.object.metadataUpdate"
    parsed = parse_legacy_envelope(payload)
    assert isinstance(parsed, Ignored) and parsed.key == "folder/Test.cs"


def test_archived_is_a_delete_on_a_versioned_bucket() -> None:
    # A versioned bucket sends no "deleted" for a delete: the live generation is archived (it becomes
    # noncurrent). Before issue 17 this was acknowledged and skipped, and the thumbnails stayed.
    event = parse_sample("cloudevent_archived_workflows_google_cloudevents.json")
    assert event == ObjectEvent(
        kind=EventKind.DELETED, bucket="sample-bucket", key="MyFile", size=0, etag="COu8mb3Dn+kCEAE=",
        version="96883251", event_id="1234567", event_time="2021-11-25T21:04:32.279744Z", content_type="text/plain",
    )  # fmt: skip
    assert parse_cloud_event(binary_attributes("b-1", "a.jpg", event_type=ARCHIVED), {"name": "a.jpg"}).kind is (
        EventKind.DELETED
    )


def test_legacy_archive_is_a_delete() -> None:
    payload = load_event("legacy_background_finalize_dotnet.json")
    payload["context"]["eventType"] = "google.storage.object.archive"
    parsed = parse_legacy_envelope(payload)
    assert isinstance(parsed, ObjectEvent) and parsed.kind is EventKind.DELETED and parsed.key == "folder/Test.cs"


@pytest.mark.parametrize(
    ("size", "generation", "expected"),
    [("352", "1587627537231057", (352, "1587627537231057")), (352, 1587627537231057, (352, "1587627537231057")),
     (0, "7", (0, "7")), (None, None, (None, None)), (352.0, "8", (352, "8"))],
)  # fmt: skip
def test_size_and_generation_as_strings_or_numbers(size: Any, generation: Any, expected: tuple[Any, Any]) -> None:
    data = load_event("storageobjectdata_simple_binary_body.json")
    data["size"], data["generation"] = size, generation
    event = parse_cloud_event(binary_attributes("some-bucket", "folder/Test.cs"), data)
    assert isinstance(event, ObjectEvent)
    assert (event.size, event.version) == expected


def test_key_is_data_name_unencoded_never_id_or_media_link() -> None:
    data = load_event("storageobjectdata_simple_binary_body.json")
    name = "photos/été 2024/a+b%20c #1.jpg"
    data.update(name=name, id="some-bucket/other/key.jpg/1", mediaLink="https://x/o/photos%2Fother.jpg?alt=media")
    event = parse_cloud_event(binary_attributes("some-bucket", "ignored/subject"), data)
    assert isinstance(event, ObjectEvent) and event.key == name


def test_bucket_falls_back_to_the_extension_then_the_source() -> None:
    data = load_event("storageobjectdata_simple_binary_body.json")
    del data["bucket"]
    attributes = binary_attributes("from-source", "folder/Test.cs")
    assert parse_cloud_event(attributes, data).bucket == "from-source"  # type: ignore[union-attr]
    assert parse_cloud_event({**attributes, "bucket": "from-extension"}, data).bucket == "from-extension"  # type: ignore[union-attr]


def test_data_as_json_text_or_bytes() -> None:
    data = load_event("storageobjectdata_simple_binary_body.json")
    for encoded in (json.dumps(data), json.dumps(data).encode()):
        assert parse_cloud_event(binary_attributes("some-bucket", "folder/Test.cs"), encoded).key == "folder/Test.cs"  # type: ignore[union-attr]


def test_background_event_from_functions_framework_context_fields() -> None:
    data = load_event("legacy_background_finalize_dotnet.json")["data"]
    del data["bucket"]
    event = parse_background_event(
        data, event_type="google.storage.object.finalize", event_id="1",
        resource={"name": "projects/_/buckets/from-resource/objects/folder/Test.cs"},
    )  # fmt: skip
    assert isinstance(event, ObjectEvent) and event.bucket == "from-resource"
    old = parse_background_event(
        data, event_type="providers/cloud.storage/eventTypes/object.change",
        resource="projects/_/buckets/old-bucket/objects/folder/Test.cs#1587627537231057",
    )  # fmt: skip
    assert isinstance(old, ObjectEvent) and old.bucket == "old-bucket"


def _conformance() -> dict[str, Any]:
    return copy.deepcopy(load_event("cloudevent_finalized_conformance.json"))


MALFORMED = {
    "no type": lambda e: e.pop("type"),
    "unknown type": lambda e: e.update(type="google.cloud.pubsub.topic.v1.messagePublished"),
    "no data": lambda e: e.pop("data"),
    "data is a list": lambda e: e.update(data=[1, 2]),
    "data is not JSON": lambda e: e.update(data="<xml/>"),
    "no name": lambda e: e["data"].pop("name"),
    "empty name": lambda e: e["data"].update(name=""),
    "name is a number": lambda e: e["data"].update(name=12),
    "no bucket anywhere": lambda e: (e["data"].pop("bucket"), e.update(source="//elsewhere/x")),
    "size is text": lambda e: e["data"].update(size="big"),
    "size is negative": lambda e: e["data"].update(size=-1),
    "size is a bool": lambda e: e["data"].update(size=True),
    "generation is fractional": lambda e: e["data"].update(generation=1.5),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_cloud_events_are_refused_permanently(case: str) -> None:
    envelope = _conformance()
    MALFORMED[case](envelope)
    with pytest.raises(MalformedEvent) as caught:
        parse_structured_cloud_event(envelope)
    assert isinstance(caught.value, PermanentError)
    assert "kF8MuJ5" not in str(caught.value)  # the message names fields, it never dumps the payload


@pytest.mark.parametrize(
    "envelope",
    [[], {"context": "x", "data": {}}, {"context": {"eventType": "google.storage.object.finalize"}, "data": None},
     {"context": {"eventType": "google.pubsub.topic.publish"}, "data": {"name": "a", "bucket": "b"}},
     {"data": {"name": "a", "bucket": "b"}}],
)  # fmt: skip
def test_malformed_background_events_are_refused(envelope: Any) -> None:
    with pytest.raises(MalformedEvent):
        parse_legacy_envelope(envelope)


@pytest.mark.parametrize("padding", ["\x1f", "\x1c", " ", "\n"])
def test_a_generation_padded_with_characters_strip_removes_parses_as_the_number(padding: str) -> None:
    """str.strip() removes U+001C-U+001F, int() does not: the stripped text is what is converted.

    Found by the hostile-envelope property test (``'1588778055917163\\x1f'`` raised ValueError, not a
    classified error).
    """
    envelope = load_event("legacy_background_finalize_dotnet.json")
    envelope = copy.deepcopy(envelope)
    data = envelope.get("data", envelope)
    data["generation"] = "1588778055917163" + padding
    event = parse_legacy_envelope(envelope)
    assert isinstance(event, ObjectEvent)
    assert event.version == "1588778055917163"
