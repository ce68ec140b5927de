"""Hostile envelopes against the CloudEvent and legacy parsers and the Eventarc delivery (hypothesis).

The properties and helpers shared by every provider are in :mod:`tests.reliability.envelopes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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

GCP_CLOUD_EVENTS = [
    "cloudevent_finalized_conformance.json",
    "cloudevent_finalized_workflows_google_cloudevents.json",
    "cloudevent_archived_workflows_google_cloudevents.json",
]
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

    assert_parsed_soundly(parse, envelope, gcp_exact)


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(GCP_CLOUD_EVENTS))
def test_gcp_deliveries_never_raise(data: st.DataObject, name: str) -> None:
    from core.delivery import deliver
    from providers.gcp.events import parse_structured_cloud_event

    envelope = data.draw(mutated(load("gcp", name)))
    deliver(memory_runtime(), lambda: parse_structured_cloud_event(envelope), route="cloudevent").raise_for_retry()


def test_every_vendor_sample_is_exercised() -> None:
    """A new sample in events/ is picked up by the properties above (no silent gap)."""
    assert set(samples("gcp")) == set(GCP_CLOUD_EVENTS + GCP_LEGACY + GCP_OBJECTS)


# -- the hostile fields hypothesis found, pinned ---------------------------------------------

def _gcp_data(**fields: Any) -> dict[str, Any]:
    return {"bucket": "my-bucket", "name": "photo.jpg", "size": "12", "generation": "1", **fields}


def _gcp_parse(data: Any) -> Any:
    from providers.gcp.events import parse_cloud_event

    return parse_cloud_event({"type": "google.cloud.storage.object.v1.finalized", "id": "1"}, data)


HOSTILE: dict[str, Callable[[], Any]] = {
    "gcp name with a NUL": lambda: _gcp_parse(_gcp_data(name="a\x00b.jpg")),
    "gcp name with a lone surrogate": lambda: _gcp_parse(_gcp_data(name="a\ud800.jpg")),
    "gcp name over 1024 bytes": lambda: _gcp_parse(_gcp_data(name="é" * 513)),
    "gcp bucket that is a path": lambda: _gcp_parse(_gcp_data(bucket="my-bucket/../x")),
    "gcp size in superscript digits": lambda: _gcp_parse(_gcp_data(size="²")),
    "gcp size of 5000 digits": lambda: _gcp_parse(_gcp_data(size="9" * 5000)),
    "gcp data nested too deep": lambda: _gcp_parse(DEEP),
}  # fmt: skip


test_hostile_fields_are_malformed_events = malformed_cases_test(HOSTILE)
