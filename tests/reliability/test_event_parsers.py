"""Hostile envelopes against every event parser and entrypoint (hypothesis).

Starting from the real vendor payloads in ``tests/events/<cloud>``, mutated at random (see
:mod:`tests.reliability.envelopes`), and from arbitrary text and bytes:

* a parser returns events (or its documented "ignored" result) or raises
  :class:`core.errors.MalformedEvent` -- nothing else, ever;
* every event it returns names a bucket that is in the envelope (and is a bucket name, not a path),
  and a key taken from the envelope (decoded once where the route encodes it) that every storage
  backend can be asked for (no NUL, at most 1024 bytes of UTF-8, no lone surrogate);
* a whole entrypoint (SQS batch, Eventarc delivery, Event Grid delivery) fed the same never raises
  anything but its documented error, and never asks the platform to retry a malformed event.

The entrypoints run on in-memory storage, so these tests need no emulator and no cloud SDK.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.errors import MalformedEvent
from core.events import ObjectEvent
from core.runtime import FunctionRuntime
from core.storage.memory import MemoryStorage
from core.storage.validation import check_key
from tests.reliability.envelopes import form_decoded, load, mutated, samples, strings_in

HYPOTHESIS = settings(
    # 100 per property in the default run; POLYTHUMB_HYPOTHESIS_EXAMPLES=5000 for a deep run.
    max_examples=int(os.environ.get("POLYTHUMB_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def memory_runtime() -> FunctionRuntime:
    """A function instance over in-memory buckets (every source is missing: no image work)."""
    stores: dict[str, MemoryStorage] = {}
    return FunctionRuntime(
        lambda name: stores.setdefault(name, MemoryStorage(name)), environ={"THUMBS_DEST_BUCKET": "t"}
    )


def assert_sound(event: ObjectEvent, envelope: Any, keys_from: Callable[[set[str]], Iterable[str]]) -> None:
    """The bucket and key of ``event`` come from ``envelope`` and are names storage can be asked for."""
    strings = strings_in(envelope)
    # The bucket is a field of the envelope, or a whole path segment of one (a subject, a source, a resource).
    named = event.bucket in strings or any(f"/{event.bucket}/" in f"/{text}/" for text in strings)
    assert named, f"bucket {event.bucket!r} is not in the envelope"
    assert event.bucket.isprintable() and "/" not in event.bucket, f"bucket {event.bucket!r} is not a bucket name"
    check_key(event.key)  # InvalidKey (a test failure) for NUL, > 1024 bytes, lone surrogates
    assert event.key in set(keys_from(strings)), f"key {event.key!r} does not come from the envelope"


def as_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def encodings(payload: Any) -> st.SearchStrategy[Any]:
    """The payload as decoded JSON, as text, and as bytes (lone surrogates passed through as bytes)."""
    text = as_text(payload)
    return st.sampled_from([payload, text, text.encode("utf-8", "surrogatepass")])


# -- AWS -------------------------------------------------------------------------------------

AWS_SAMPLES = samples("aws")


def aws_events(event: Any) -> list[ObjectEvent]:
    """Everything the Lambda handler would act on, routed as the handler routes it."""
    from providers.aws.events import parse_body, parse_lambda_event, sqs_messages

    messages = sqs_messages(event)
    if messages is None:
        return list(parse_lambda_event(event).events)
    found: list[ObjectEvent] = []
    for message in messages:
        try:
            found.extend(parse_body(message.body).events)
        except MalformedEvent:
            continue  # logged and acknowledged by the handler
    return found


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(AWS_SAMPLES))
def test_aws_parsers_return_sound_events_or_raise_malformed_event(data: st.DataObject, name: str) -> None:
    envelope = data.draw(mutated(load("aws", name)))
    try:
        events = aws_events(envelope)
    except MalformedEvent:
        return
    for event in events:
        assert_sound(event, envelope, form_decoded)


@HYPOTHESIS
@given(body=st.text(max_size=200) | st.sampled_from(["[" * 5000, '{"Records": ' * 3000, "1" * 5000, "\ud800"]))
def test_aws_message_bodies_of_any_text_parse_or_raise_malformed_event(body: str) -> None:
    from providers.aws.events import parse_body

    try:
        parsed = parse_body(body)
    except MalformedEvent:
        return
    for event in parsed.events:
        assert_sound(event, body, form_decoded)


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from([n for n in AWS_SAMPLES if "sqs" in n]))
@example(data=None, name="poison")  # replaced below: one deeply nested body in a batch of good ones
def test_aws_sqs_batches_never_fail_and_never_retry_a_malformed_message(data: Any, name: str) -> None:
    from providers.aws.handler import LambdaHandler
    from tests.providers.aws.helpers import LambdaContext

    if name == "poison":
        event = load("aws", "s3_via_sqs_powertools.json")
        event["Records"].append({**event["Records"][0], "messageId": "poison", "body": "[" * 100_000})
    else:
        event = data.draw(mutated(load("aws", name)))
    handler = LambdaHandler(memory_runtime())
    try:
        response = handler(event, LambdaContext())
    except MalformedEvent:
        return  # not an SQS batch after all: the direct route's documented error
    failures = response.get("batchItemFailures")
    if failures is not None:
        assert failures == [], "over in-memory storage nothing is transient: a failure here is a crash"


# -- GCP -------------------------------------------------------------------------------------

GCP_CLOUD_EVENTS = ["cloudevent_finalized_conformance.json", "cloudevent_finalized_workflows_google_cloudevents.json",
                    "cloudevent_archived_workflows_google_cloudevents.json"]
GCP_LEGACY = ["legacy_background_finalize_dotnet.json", "legacy_object_change_deleted_dotnet.json"]
GCP_OBJECTS = ["storageobjectdata_complex.json", "storageobjectdata_simple_binary_body.json"]
FINALIZED_ATTRIBUTES = {
    "specversion": "1.0", "id": "1", "type": "google.cloud.storage.object.v1.finalized",
    "source": "//storage.googleapis.com/projects/_/buckets/some-bucket", "subject": "objects/folder/Test.cs",
}  # fmt: skip


def gcp_exact(strings: set[str]) -> set[str]:
    return strings  # GCS sends names unencoded: the key is a string of the envelope as is


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(GCP_CLOUD_EVENTS + GCP_LEGACY + GCP_OBJECTS))
def test_gcp_parsers_return_sound_events_or_raise_malformed_event(data: st.DataObject, name: str) -> None:
    from providers.gcp.events import (
        parse_cloud_event,
        parse_legacy_envelope,
        parse_structured_cloud_event,
    )

    envelope = data.draw(mutated(load("gcp", name)))
    if name in GCP_OBJECTS:  # the data of a binary-mode CloudEvent, as an object or as its JSON text
        # The SDK always hands over a mapping of attributes; their values are hostile.
        attributes = data.draw(mutated(FINALIZED_ATTRIBUTES, max_edits=2).filter(lambda a: isinstance(a, dict)))
        body = data.draw(encodings(envelope))

        def parse() -> Any:
            return parse_cloud_event(attributes, body)

        envelope = [attributes, envelope]
    elif name in GCP_LEGACY:

        def parse() -> Any:
            return parse_legacy_envelope(envelope)
    else:

        def parse() -> Any:
            return parse_structured_cloud_event(envelope)

    try:
        result = parse()
    except MalformedEvent:
        return
    if isinstance(result, ObjectEvent):
        assert_sound(result, envelope, gcp_exact)


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(GCP_CLOUD_EVENTS))
def test_gcp_deliveries_never_raise(data: st.DataObject, name: str) -> None:
    from core.delivery import deliver
    from providers.gcp.events import parse_structured_cloud_event

    envelope = data.draw(mutated(load("gcp", name)))
    deliver(memory_runtime(), lambda: parse_structured_cloud_event(envelope), route="cloudevent").raise_for_retry()


# -- Azure -----------------------------------------------------------------------------------

AZURE_EVENTS = [n for n in samples("azure") if not n.startswith("blob_trigger")]


def azure_subject_paths(strings: set[str]) -> set[str]:
    """Blob paths an envelope names: after ``/blobs/`` in a subject, or a blob URL's decoded path."""
    from urllib.parse import unquote, urlsplit

    paths = {text.partition("/blobs/")[2] for text in strings}
    for text in strings:
        if "://" not in text:
            continue
        try:
            path = urlsplit(text).path.lstrip("/")
        except ValueError:
            continue
        after_container = path.partition("/")[2]  # <container>/<path>, or <account>/<container>/<path>
        paths.update(unquote(part) for part in (after_container, after_container.partition("/")[2]))
    return paths


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(AZURE_EVENTS))
def test_azure_parsers_return_sound_events_or_raise_malformed_event(data: st.DataObject, name: str) -> None:
    from providers.azure.events import parse_batch

    envelope = data.draw(mutated(load("azure", name)))
    payload = data.draw(encodings(envelope))
    try:
        results = parse_batch(payload)
    except MalformedEvent:
        return
    for result in results:
        if isinstance(result, ObjectEvent):
            assert_sound(result, envelope, azure_subject_paths)


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(AZURE_EVENTS))
def test_azure_deliveries_never_raise(data: st.DataObject, name: str) -> None:
    from providers.azure.handlers import handle_event_grid

    envelope = data.draw(mutated(load("azure", name)))
    runtime = memory_runtime()
    for event in envelope if isinstance(envelope, list) else [envelope]:
        handle_event_grid(runtime, event)


@HYPOTHESIS
@given(
    name=st.text(max_size=60) | st.sampled_from(["c/\x00", "c/a\x00b", "c/" + "é" * 600, "c/\ud800", "/", "c/"]),
    container=st.none() | st.sampled_from(["c", "images"]),
)
def test_azure_blob_trigger_names_give_sound_locations(name: str, container: str | None) -> None:
    from providers.azure.events import blob_trigger_location

    try:
        bucket, key = blob_trigger_location(name, container)
    except MalformedEvent:
        return
    assert bucket == container or name.startswith(bucket + "/")
    check_key(key)
    assert name == key or name.endswith("/" + key)


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_every_vendor_sample_is_exercised(cloud: str) -> None:
    """A new sample in tests/events is picked up by the properties above (no silent gap)."""
    covered = {"aws": AWS_SAMPLES, "gcp": GCP_CLOUD_EVENTS + GCP_LEGACY + GCP_OBJECTS, "azure": AZURE_EVENTS}[cloud]
    left_out = {"azure": {"blob_trigger_metadata_python_library.json"}}.get(cloud, set())
    assert set(samples(cloud)) == set(covered) | left_out


# -- the hostile fields hypothesis found, pinned ---------------------------------------------

DEEP = "[" * 100_000


def _aws_record(key: str = "photo.jpg", bucket: str = "my-bucket", size: Any = 12) -> dict[str, Any]:
    record = load("aws", "s3_put_docs.json")["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"].update(key=key, size=size)
    return {"Records": [record]}


def _gcp_data(**fields: Any) -> dict[str, Any]:
    return {"bucket": "my-bucket", "name": "photo.jpg", "size": "12", "generation": "1", **fields}


def _azure_event(subject: str, **data: Any) -> dict[str, Any]:
    return {"eventType": "Microsoft.Storage.BlobCreated", "subject": subject, "id": "1", "data": data}


AZURE_SUBJECT = "/blobServices/default/containers/{}/blobs/{}"
HOSTILE: dict[str, Callable[[], Any]] = {
    "aws key with an encoded NUL": lambda: _aws_parse(_aws_record(key="a%00b.jpg")),
    "aws key over 1024 bytes": lambda: _aws_parse(_aws_record(key="k" * 1025)),
    "aws bucket with a slash": lambda: _aws_parse(_aws_record(bucket="my-bucket/../other")),
    "aws bucket with a NUL": lambda: _aws_parse(_aws_record(bucket="my\x00bucket")),
    "aws body nested too deep": lambda: _aws_body(DEEP),
    "gcp name with a NUL": lambda: _gcp_parse(_gcp_data(name="a\x00b.jpg")),
    "gcp name with a lone surrogate": lambda: _gcp_parse(_gcp_data(name="a\ud800.jpg")),
    "gcp name over 1024 bytes": lambda: _gcp_parse(_gcp_data(name="é" * 513)),
    "gcp bucket that is a path": lambda: _gcp_parse(_gcp_data(bucket="my-bucket/../x")),
    "gcp size in superscript digits": lambda: _gcp_parse(_gcp_data(size="²")),
    "gcp size of 5000 digits": lambda: _gcp_parse(_gcp_data(size="9" * 5000)),
    "gcp data nested too deep": lambda: _gcp_parse(DEEP),
    "azure blob with a NUL": lambda: _azure_parse(_azure_event(AZURE_SUBJECT.format("images", "a\x00b.jpg"))),
    "azure blob over 1024 bytes": lambda: _azure_parse(_azure_event(AZURE_SUBJECT.format("images", "k" * 1025))),
    "azure container with a space": lambda: _azure_parse(_azure_event(AZURE_SUBJECT.format("my images", "a.jpg"))),
    "azure batch nested too deep": lambda: _azure_batch(DEEP),
    "azure blob trigger name with a NUL": lambda: _azure_trigger("images/a\x00b.jpg"),
}  # fmt: skip


def _aws_parse(event: Any) -> list[ObjectEvent]:
    from providers.aws.events import parse_lambda_event

    return list(parse_lambda_event(event).events)


def _aws_body(body: str) -> list[ObjectEvent]:
    from providers.aws.events import parse_body

    return list(parse_body(body).events)


def _gcp_parse(data: Any) -> Any:
    from providers.gcp.events import parse_cloud_event

    return parse_cloud_event({"type": "google.cloud.storage.object.v1.finalized", "id": "1"}, data)


def _azure_parse(event: Any) -> Any:
    from providers.azure.events import parse_events

    return parse_events(event)


def _azure_batch(body: str) -> Any:
    from providers.azure.events import parse_batch

    return parse_batch(body)


def _azure_trigger(name: str) -> Any:
    from providers.azure.events import blob_trigger_location

    return blob_trigger_location(name, None)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_fields_are_malformed_events(case: str) -> None:
    """Each was a crash (RecursionError, ValueError) or a key/bucket no store can hold before the fix."""
    with pytest.raises(MalformedEvent):
        HOSTILE[case]()


def test_hostile_sizes_are_dropped_not_fatal_where_size_is_advisory() -> None:
    """AWS and Azure treat a size they cannot read as unknown (it is advisory); they must not crash on it."""
    [event] = _aws_parse(json.loads(json.dumps(_aws_record(size=float("inf")))))
    assert event.size is None
    for size in ("²", "9" * 5000, "１２"):
        [result] = _azure_parse(_azure_event(AZURE_SUBJECT.format("images", "a.jpg"), contentLength=size))
        assert isinstance(result, ObjectEvent) and result.size is None
