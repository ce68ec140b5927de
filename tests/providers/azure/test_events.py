"""Event Grid payloads (both schemas, vendor samples and worker objects) to ObjectEvents."""

from __future__ import annotations

import datetime
import json

import pytest

from core.errors import MalformedEvent
from core.events import EventKind, ObjectEvent
from providers.azure.events import (
    CREATED_APIS,
    Ignored,
    blob_trigger_location,
    envelope_from_host,
    parse_batch,
    parse_events,
    split_subject,
)
from tests.providers.azure.delivery import EVENTS, as_input_stream, as_worker_event, load_event

BLOB_SAMPLES = [
    "eventgrid_schema_blobcreated_docs.json",
    "eventgrid_schema_blobdeleted_docs.json",
    "cloudevents_blobcreated_docs.json",
    "cloudevents_blobdeleted_docs.json",
    "eventgrid_schema_blobcreated_quickstart_powershell.json",
]


#: Issue 17's Data Lake (hierarchical namespace) samples and the event without a subject.
DATA_LAKE_SAMPLES = [
    "eventgrid_schema_blobrenamed_datalake_docs.json",
    "cloudevents_blobrenamed_datalake_docs.json",
    "cloudevents_directorydeleted_datalake_docs.json",
    "eventgrid_schema_directorydeleted_datalake_docs.json",
    "eventgrid_schema_blobcreated_createfile_datalake_docs.json",
    "eventgrid_schema_blobcreated_flushwithclose_datalake_docs.json",
    "eventgrid_schema_blobcreated_copyblob_rehydrate_docs.json",
    "cloudevents_blobcreated_no_subject_docs.json",
]


def test_every_shared_sample_is_here_and_parses() -> None:
    names = sorted(p.name for p in EVENTS.glob("*.json"))
    assert names == sorted([*BLOB_SAMPLES, *DATA_LAKE_SAMPLES, "eventgrid_subscription_validation_docs.json",
                            "blob_trigger_metadata_python_library.json"])  # fmt: skip
    sources = (EVENTS / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in sources for name in names), "every sample has its source recorded"
    for name in names:
        assert load_event(name)  # valid JSON, not empty


@pytest.mark.parametrize("name", BLOB_SAMPLES)
def test_vendor_blob_samples_parse_as_raw_json_and_as_worker_objects(name: str) -> None:
    batch = load_event(name)
    assert isinstance(batch, list) and len(batch) == 1  # webhook bodies are arrays, even for one event
    raw = batch[0]
    from_json = parse_batch(json.dumps(batch))
    [from_worker] = parse_events(as_worker_event(raw))
    for parsed in (from_json[0], from_worker):
        assert isinstance(parsed, ObjectEvent)
        assert parsed.key == raw["subject"].split("/blobs/", 1)[1]
        assert parsed.bucket == raw["subject"].split("/containers/", 1)[1].split("/", 1)[0]
        assert parsed.event_id == raw["id"]
        assert parsed.content_type == raw["data"]["contentType"]
        assert parsed.etag is None or '"' not in parsed.etag
    expected_kind = EventKind.DELETED if "Deleted" in (raw.get("eventType") or raw.get("type")) else EventKind.CREATED
    assert from_json[0].kind is from_worker.kind is expected_kind  # type: ignore[union-attr]


def test_docs_created_sample_fields() -> None:
    event = parse_batch(load_event("eventgrid_schema_blobcreated_docs.json"))[0]
    assert event == ObjectEvent.created(
        "test-container", "new-file.txt", size=524288, etag="0x8D4BCC2E4835CD0",
        event_id="831e1650-001e-001b-66ab-eeb76e069631", event_time="2017-06-26T18:41:00.9584103Z",
        content_type="text/plain",
    )  # fmt: skip


def test_quoted_and_unquoted_etags_give_the_same_etag() -> None:
    quoted = parse_batch(load_event("cloudevents_blobcreated_docs.json"))[0]
    bare = parse_batch(load_event("eventgrid_schema_blobcreated_quickstart_powershell.json"))[0]
    assert isinstance(quoted, ObjectEvent) and isinstance(bare, ObjectEvent)
    assert quoted.etag == "0x8D4BCC2E4835CD0"
    assert bare.etag == "0x8D4E4E61AE038AD"
    assert bare.size == 0  # contentLength 0 is a size, not "unknown"


def test_deleted_event_has_no_size() -> None:
    event = parse_batch(load_event("cloudevents_blobdeleted_docs.json"))[0]
    assert isinstance(event, ObjectEvent)
    assert event.kind is EventKind.DELETED and event.size is None and event.etag is None


def test_subscription_validation_is_acknowledged_not_parsed_as_a_blob() -> None:
    [result] = parse_batch(load_event("eventgrid_subscription_validation_docs.json"))
    assert isinstance(result, Ignored)
    assert result.reason == "subscription_validation"
    assert result.event_id == "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66"


def test_webhook_array_with_several_events_of_mixed_schemas_and_types() -> None:
    created = load_event("eventgrid_schema_blobcreated_docs.json")[0]
    deleted = load_event("cloudevents_blobdeleted_docs.json")[0]
    validation = load_event("eventgrid_subscription_validation_docs.json")[0]
    other = {**created, "eventType": "Microsoft.Storage.BlobTierChanged", "id": "tier"}
    results = parse_batch(json.dumps([created, validation, deleted, other]).encode())
    assert [type(r).__name__ for r in results] == ["ObjectEvent", "Ignored", "ObjectEvent", "Ignored"]
    assert [getattr(r, "reason", None) for r in results] == [None, "subscription_validation", None, "event_type"]


def test_blob_trigger_sample_parses_into_an_input_stream() -> None:
    sample = load_event("blob_trigger_metadata_python_library.json")
    metadata = sample["trigger_metadata"]
    stream = as_input_stream(
        sample["blob_content_bytes_utf8"].encode(),
        blob_trigger=metadata["BlobTrigger"], uri=metadata["Uri"],
        properties=metadata["Properties"], metadata=metadata["Metadata"],
    )  # fmt: skip
    expected = sample["expected_InputStream"]
    assert (stream.name, stream.length, stream.uri, stream.metadata) == (
        expected["name"], expected["length"], expected["uri"], expected["metadata"],
    )  # fmt: skip
    # This library sample's name has no container: the binding's container (THUMBS_SOURCE_CONTAINER) applies.
    assert blob_trigger_location(stream.name, "images") == ("images", "blob_trigger_name")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("/blobServices/default/containers/c1/blobs/a.jpg", ("c1", "a.jpg")),
        ("/blobServices/default/containers/c1/blobs/dir/sub dir/é 写真.jpg", ("c1", "dir/sub dir/é 写真.jpg")),
        ("/blobServices/default/containers/c1/blobs/x/blobs/y.png", ("c1", "x/blobs/y.png")),  # split once
        ("/blobServices/default/containers/c1/blobs/100%25 real%20.jpg", ("c1", "100%25 real%20.jpg")),  # verbatim
        ("/blobServices/default/containers/c1/blobs//lead.jpg", ("c1", "/lead.jpg")),
    ],
)
def test_subject_is_split_once_and_never_url_decoded(subject: str, expected: tuple[str, str]) -> None:
    assert split_subject(subject) == expected


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "/blobServices/default/containers/c1",
        "/blobServices/default/containers/c1/blobs/",
        "/blobServices/default/containers//blobs/a.jpg",
        "/fileServices/default/shares/s/files/a.jpg",
        "blobServices/default/containers/c1/blobs/a.jpg",
    ],
)
def test_bad_subjects_are_malformed_with_a_clear_message(subject: str) -> None:
    raw = {"eventType": "Microsoft.Storage.BlobCreated", "id": "x", "subject": subject, "data": {"api": "PutBlob"}}
    with pytest.raises(MalformedEvent, match="subject"):
        parse_events(raw)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ([], "not an Event Grid event"),
        ({"id": "1", "subject": "/blobServices/default/containers/c/blobs/a", "data": {}}, "no event type"),
        ({"eventType": "Microsoft.Storage.BlobCreated", "subject": 5, "data": {}}, "non-string subject"),
        ({"eventType": "Microsoft.Storage.BlobCreated", "subject": "/x", "data": "oops"}, "not an object"),
    ],
)
def test_malformed_envelopes(raw: object, match: str) -> None:
    with pytest.raises(MalformedEvent, match=match):
        parse_events(raw)


def test_malformed_batches() -> None:
    with pytest.raises(MalformedEvent, match="JSON"):
        parse_batch("{not json")
    with pytest.raises(MalformedEvent, match="array"):
        parse_batch("42")


def test_very_long_subjects_are_clipped_in_errors() -> None:
    with pytest.raises(MalformedEvent) as caught:
        split_subject("/x" * 5000)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(("api", "processed"), sorted(CREATED_APIS.items()))
def test_data_api_table(api: str, processed: bool) -> None:
    raw = load_event("eventgrid_schema_blobcreated_docs.json")[0]
    [result] = parse_events({**raw, "data": {**raw["data"], "api": api}})
    assert isinstance(result, ObjectEvent) is processed
    if not processed:
        assert isinstance(result, Ignored) and result.reason == "intermediate_write"


@pytest.mark.parametrize("data", [{"api": "SomeFutureApi"}, {}])
def test_unknown_or_absent_api_is_processed(data: dict[str, str]) -> None:
    raw = {"eventType": "Microsoft.Storage.BlobCreated", "subject": "/blobServices/default/containers/c/blobs/a.jpg",
           "data": data}  # fmt: skip
    assert [type(r) for r in parse_events(raw)] == [ObjectEvent]


def test_data_lake_duplicate_pair_yields_one_event() -> None:
    raw = load_event("eventgrid_schema_blobcreated_docs.json")[0]
    create_file = {**raw, "data": {**raw["data"], "api": "CreateFile", "contentLength": 0}}
    flush = {**raw, "data": {**raw["data"], "api": "FlushWithClose", "contentOffset": 0}}
    results = parse_batch([create_file, flush])
    assert [isinstance(r, ObjectEvent) for r in results] == [False, True]


def test_worker_objects_carry_times_as_iso_strings() -> None:
    import azure.functions as func

    event = func.EventGridEvent(
        id="1", data={"api": "PutBlob"}, topic="t", subject="/blobServices/default/containers/c/blobs/a.jpg",
        event_type="Microsoft.Storage.BlobCreated",
        event_time=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), data_version="",
    )  # fmt: skip
    envelope = envelope_from_host(event)
    assert envelope.schema == "eventgrid"
    assert envelope.event_time == "2026-01-02T03:04:05+00:00"
    cloud = as_worker_event(load_event("cloudevents_blobcreated_docs.json")[0])
    assert type(cloud).__name__ == "CloudEvent"
    assert envelope_from_host(cloud).schema == "cloudevents"


def test_a_worker_cloud_event_s_traceparent_is_read_from_its_extensions() -> None:
    """The worker's converter keeps unknown attributes in ``extension_attrs``: before, the envelope looked for a
    ``traceparent`` attribute the object never has, and every producer's trace was dropped."""
    raw = {**load_event("cloudevents_blobcreated_docs.json")[0],
           "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}  # fmt: skip
    cloud = as_worker_event(raw)
    assert not hasattr(cloud, "traceparent") and cloud.extension_attrs["traceparent"] == raw["traceparent"]
    assert envelope_from_host(cloud).traceparent == raw["traceparent"]
    assert envelope_from_host(as_worker_event(load_event("cloudevents_blobcreated_docs.json")[0])).traceparent is None


def test_not_an_event_object() -> None:
    with pytest.raises(MalformedEvent, match="not an Event Grid event"):
        envelope_from_host(object())


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("images/photos/a b.jpg", "images", ("images", "photos/a b.jpg")),
        ("images/images/x.jpg", "images", ("images", "images/x.jpg")),  # strip the container once
        ("photos/a.jpg", "images", ("images", "photos/a.jpg")),  # a host that sends only the path
        ("src/dir/ü.png", None, ("src", "dir/ü.png")),
    ],
)
def test_blob_trigger_location(name: str, source: str | None, expected: tuple[str, str]) -> None:
    assert blob_trigger_location(name, source) == expected


@pytest.mark.parametrize(("name", "source"), [(None, "images"), ("", None), ("images/", "images"), ("flat", None)])
def test_blob_trigger_location_malformed(name: str | None, source: str | None) -> None:
    with pytest.raises(MalformedEvent):
        blob_trigger_location(name, source)


# -- issue 17: Data Lake (hierarchical namespace) events, and an event without a subject ------------


@pytest.mark.parametrize(
    "name", ["eventgrid_schema_blobrenamed_datalake_docs.json", "cloudevents_blobrenamed_datalake_docs.json"]
)
def test_a_rename_is_a_delete_of_the_old_name_and_a_create_of_the_new(name: str) -> None:
    # Before issue 17 BlobRenamed was ignored: the new name got no thumbnails, the old ones stayed.
    raw = load_event(name)[0]
    for results in (parse_batch(load_event(name)), parse_events(as_worker_event(raw))):
        assert [(r.kind, r.bucket, r.key) for r in results if isinstance(r, ObjectEvent)] == [
            (EventKind.DELETED, "my-file-system", "my-original-file.txt"),
            (EventKind.CREATED, "my-file-system", "my-renamed-file.txt"),
        ]


def test_a_rename_without_its_source_url_is_malformed() -> None:
    raw = load_event("eventgrid_schema_blobrenamed_datalake_docs.json")[0]
    del raw["data"]["sourceUrl"]
    with pytest.raises(MalformedEvent, match="sourceUrl"):
        parse_events(raw)


@pytest.mark.parametrize(
    "name",
    ["cloudevents_directorydeleted_datalake_docs.json", "eventgrid_schema_directorydeleted_datalake_docs.json"],
)
def test_a_recursive_directory_delete_is_one_prefix_delete(name: str) -> None:
    [event] = parse_batch(load_event(name))
    assert isinstance(event, ObjectEvent)
    assert (event.kind, event.bucket, event.key) == (EventKind.PREFIX_DELETED, "my-file-system", "directory-to-delete")


def test_a_directory_deleted_without_recursion_was_empty_and_is_ignored() -> None:
    raw = load_event("cloudevents_directorydeleted_datalake_docs.json")[0]
    raw["data"]["recursive"] = "false"
    [result] = parse_events(raw)
    assert isinstance(result, Ignored) and result.reason == "empty_directory"


def test_create_file_then_flush_with_close_renders_once() -> None:
    create = parse_batch(load_event("eventgrid_schema_blobcreated_createfile_datalake_docs.json"))
    flush = parse_batch(load_event("eventgrid_schema_blobcreated_flushwithclose_datalake_docs.json"))
    assert isinstance(create[0], Ignored) and create[0].reason == "intermediate_write"
    assert [(type(r), r.key) for r in flush if isinstance(r, ObjectEvent)] == [(ObjectEvent, "new-file.txt")]


def test_copy_blob_is_processed_and_the_copy_status_is_the_pipelines_to_check() -> None:
    [event] = parse_batch(load_event("eventgrid_schema_blobcreated_copyblob_rehydrate_docs.json"))
    assert isinstance(event, ObjectEvent) and event.kind is EventKind.CREATED
    assert (event.bucket, event.key, event.etag, event.size) == ("my-file-system", "photos/copied.jpg",
                                                                 "0x8D9595DCA505BDF", 48)  # fmt: skip


def test_an_event_without_subject_is_located_by_its_url() -> None:
    # Before issue 17 this was refused as malformed although data.url names the blob.
    [event] = parse_batch(load_event("cloudevents_blobcreated_no_subject_docs.json"))
    assert isinstance(event, ObjectEvent) and (event.bucket, event.key) == ("testcontainer", "new-file.txt")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acct.blob.core.windows.net/c1/photos/red%20flower%2B1.jpg", ("c1", "photos/red flower+1.jpg")),
        ("https://acct.dfs.core.windows.net/fs/a/b%25c.jpg", ("fs", "a/b%c.jpg")),  # decoded exactly once
        ("http://127.0.0.1:10000/devstoreaccount1/c1/x%C3%A9.jpg", ("c1", "xé.jpg")),  # Azurite, path-style
    ],
)
def test_blob_urls_are_decoded_once(url: str, expected: tuple[str, str]) -> None:
    raw = {"eventType": "Microsoft.Storage.BlobCreated", "id": "u", "data": {"api": "PutBlob", "url": url}}
    [event] = parse_events(raw)
    assert isinstance(event, ObjectEvent) and (event.bucket, event.key) == expected


@pytest.mark.parametrize(
    "url", ["", "ftp://acct.blob.core.windows.net/c/a.jpg", "https://acct.blob.core.windows.net/c", "https://x/c/%FF"]
)
def test_unusable_urls_without_a_subject_are_malformed(url: str) -> None:
    raw = {"eventType": "Microsoft.Storage.BlobCreated", "id": "u", "data": {"url": url}}
    with pytest.raises(MalformedEvent):
        parse_events(raw)
