"""Hostile envelopes against the Event Grid parsers and handlers (hypothesis).

The properties and helpers shared by every provider are in :mod:`tests.reliability.envelopes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.errors import MalformedEvent
from core.events import ObjectEvent
from core.storage.validation import check_key
from tests.reliability.envelopes import (
    DEEP,
    HYPOTHESIS,
    assert_parsed_soundly,
    encodings,
    load,
    malformed_cases_test,
    memory_runtime,
    mutated,
    samples,
)

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
    assert_parsed_soundly(lambda: parse_batch(payload), envelope, azure_subject_paths)


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


def test_every_vendor_sample_is_exercised() -> None:
    """A new sample in events/ is picked up by the properties above (no silent gap)."""
    left_out = {"blob_trigger_metadata_python_library.json"}
    assert set(samples("azure")) == set(AZURE_EVENTS) | left_out


# -- the hostile fields hypothesis found, pinned ---------------------------------------------

def _azure_event(subject: str, **data: Any) -> dict[str, Any]:
    return {"eventType": "Microsoft.Storage.BlobCreated", "subject": subject, "id": "1", "data": data}


AZURE_SUBJECT = "/blobServices/default/containers/{}/blobs/{}"


def _azure_parse(event: Any) -> Any:
    from providers.azure.events import parse_events

    return parse_events(event)


def _azure_batch(body: str) -> Any:
    from providers.azure.events import parse_batch

    return parse_batch(body)


def _azure_trigger(name: str) -> Any:
    from providers.azure.events import blob_trigger_location

    return blob_trigger_location(name, None)


HOSTILE: dict[str, Callable[[], Any]] = {
    "azure blob with a NUL": lambda: _azure_parse(_azure_event(AZURE_SUBJECT.format("images", "a\x00b.jpg"))),
    "azure blob over 1024 bytes": lambda: _azure_parse(_azure_event(AZURE_SUBJECT.format("images", "k" * 1025))),
    "azure container with a space": lambda: _azure_parse(_azure_event(AZURE_SUBJECT.format("my images", "a.jpg"))),
    "azure batch nested too deep": lambda: _azure_batch(DEEP),
    "azure blob trigger name with a NUL": lambda: _azure_trigger("images/a\x00b.jpg"),
}  # fmt: skip


test_hostile_fields_are_malformed_events = malformed_cases_test(HOSTILE)


def test_a_hostile_size_is_dropped_not_fatal() -> None:
    """The size is advisory: one that cannot be read is unknown, and must not crash the parser."""
    for size in ("²", "9" * 5000, "１２"):
        [result] = _azure_parse(_azure_event(AZURE_SUBJECT.format("images", "a.jpg"), contentLength=size))
        assert isinstance(result, ObjectEvent) and result.size is None
