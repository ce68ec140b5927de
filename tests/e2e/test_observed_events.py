"""Where the platforms' event paths really differ, observed on each entrypoint, for the conformance matrix.

Each test records what it saw as the ``observed`` property and asserts what polythumb promises on
every platform (the key is decoded exactly once; every vendor sample is understood or refused as a
permanent error), so it fails when that promise breaks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import MalformedEvent
from core.events import EventKind, ObjectEvent
from tests import rigs
from tests.e2e.conftest import ENTRYPOINTS
from tests.images import jpeg_bytes
from tests.rigs.base import EntrypointRig

Record = Callable[[str, object], None]

#: One key with a space, a plus and a percent sign: the three characters the envelopes treat differently.
PROBE_NAME = "enc/red flower+1 100%.jpg"


def test_observed_key_in_the_event_envelope(entrypoint: EntrypointRig, record_property: Record) -> None:
    """How the key `enc/red flower+1 100%.jpg` appears in the platform's event envelope."""
    key = entrypoint.key(PROBE_NAME)
    entrypoint.upload(key, jpeg_bytes(320, 240))
    delivery = entrypoint.deliver_created(key)
    assert (delivery.status, delivery.key) == ("ok", key)  # decoded exactly once, whatever the envelope
    forms = []
    for field, raw in delivery.envelope.items():
        start = raw.find("enc")  # the rig's random prefix is not part of the observation
        forms.append(f"{field} `{raw[start:]}`")
    record_property("observed", "; ".join(forms))


#: Words in a sample's file name that say where it was copied from, not what it is (see SOURCES.md).
ORIGIN_WORDS = {
    "docs",
    "powertools",
    "pr4069",
    "go",
    "dotnet",
    "sam",
    "quickstart",
    "conformance",
    "workflows",
    "python",
    "library",
    "complex",
    "simple",
    "generate",
}


def route_of(sample: Path) -> str:
    """The envelope a sample shows, from its file name without its origin: ``s3_via_sns_then_sqs``."""
    words = sample.stem.split("_")
    cut = next((i for i, word in enumerate(words) if word in ORIGIN_WORDS), len(words))
    return "_".join(words[:cut]) or sample.stem


def test_observed_answer_to_the_platform(entrypoint: EntrypointRig, record_property: Record) -> None:
    """What the function answers the platform: for work done, and for a permanent error (not an image)."""
    good, bad = entrypoint.key("answer/good.jpg"), entrypoint.key("answer/bad.jpg")
    entrypoint.upload(good, jpeg_bytes(320, 240))
    entrypoint.upload(bad, b"not an image at all")
    done, refused = entrypoint.deliver_created(good), entrypoint.deliver_created(bad)
    assert (done.status, done.verdict) == ("ok", "acknowledged")
    assert (refused.status, refused.verdict) == ("failed", "acknowledged")  # never redelivered for ever
    record_property("observed", f"done: {done.answer}; permanent error: {refused.answer}")


def _classify(parse: Callable[[Any], tuple[int, int]], samples: list[Path]) -> str:
    """Run every sample through ``parse`` -> (object events, acknowledged-without-work); describe the result."""
    accepted: dict[str, None] = {}
    acknowledged: dict[str, None] = {}
    refused: dict[str, None] = {}
    for sample in samples:
        try:
            events, ignored = parse(json.loads(sample.read_text(encoding="utf-8-sig")))
        except MalformedEvent:
            refused[route_of(sample)] = None  # a permanent error: logged once, acknowledged, never retried
            continue
        assert events or ignored, f"{sample.name} produced nothing and said nothing"
        (accepted if events else acknowledged)[route_of(sample)] = None
    assert accepted, "no vendor sample was understood"
    parts = [f"{len(samples)} vendor samples; object events from: {', '.join(accepted)}"]
    if acknowledged:
        parts.append(f"acknowledged without work: {', '.join(acknowledged)}")
    if refused:
        parts.append(f"refused as malformed: {', '.join(refused)}")
    return "; ".join(parts)


def _local_watch(tmp_path: Path) -> Iterator[ObjectEvent]:
    from core.ops.runner import watch_events

    stop = threading.Event()
    timer = threading.Timer(10, stop.set)  # never wait forever on a poller
    timer.start()
    try:
        yield from watch_events(tmp_path, interval=0.05, stop=stop)
    finally:
        timer.cancel()


@pytest.mark.parametrize("provider", ENTRYPOINTS)
def test_observed_event_routes(provider: str, tmp_path: Path, record_property: Record) -> None:
    """Event envelopes the entrypoint's parser takes (every vendor sample in tests/providers/<cloud>/events)."""
    rig = rigs.by_name(provider)
    if rig.__name__ == rigs.LOCAL:  # no envelope at all: a poller reports what it sees
        (tmp_path / "a.jpg").write_bytes(b"x")
        events = _local_watch(tmp_path)
        created = next(events)
        (tmp_path / "a.jpg").unlink()
        deleted = next(events)
        assert [(e.kind, e.key) for e in (created, deleted)] == [
            (EventKind.CREATED, "a.jpg"),
            (EventKind.DELETED, "a.jpg"),
        ]
        record_property("observed", "no envelope: a poller's created/deleted (size and mtime stable for one scan)")
        return
    samples = sorted(rig.SAMPLES.glob("*.json"))
    assert samples, f"no vendor samples for {provider}"
    record_property("observed", _classify(rig.parse_sample, samples))
