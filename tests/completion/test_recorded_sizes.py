"""Every thumbnail records its measured size, so completion announces it without reading the thumbnail again.

A ready event must give each output's width and height (the schema's ``readyOutput``), also for outputs the
pipeline found already rendered (a redelivery, a partial re-render after a size was added). Each thumbnail
written carries ``polythumb_dimensions``; the pipeline heads every output anyway, so its records have the
size, and the event is built without a request for it. Only a thumbnail written before the size was
recorded is still measured (its header read), so its events stay complete.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.completion import Completion
from core.events import ObjectEvent
from core.keys import META_DIMENSIONS, Provenance
from core.outcome import Action, Outcome, SkipReason
from core.pipeline import Thumbnailer
from tests.completion.support import validate_event
from tests.images import jpeg_bytes
from tests.test_pipeline import DEST, SOURCE, CountingStore, make, upload

KEY = "photos/cat.jpg"


@pytest.fixture
def buckets() -> dict[str, CountingStore]:
    return {SOURCE: CountingStore(SOURCE), DEST: CountingStore(DEST)}


def completion(buckets: dict[str, CountingStore], thumbnailer: Thumbnailer) -> Completion:
    return Completion(thumbnailer.config, open_store=buckets.__getitem__, notifiers=[])  # type: ignore[arg-type]


def sizes(outcome: Outcome) -> dict[str, tuple[int | None, int | None]]:
    return {record.key: (record.width, record.height) for record in outcome.outputs}


def announced(buckets: dict[str, CountingStore], thumbnailer: Thumbnailer, outcome: Outcome) -> dict[str, tuple]:
    """The sizes the ready event of ``outcome`` gives, counting the destination's reads while it is built."""
    dest = buckets[DEST]
    dest.calls.clear()
    event = completion(buckets, thumbnailer).event_for(outcome, ObjectEvent.created(SOURCE, KEY))
    assert event is not None
    validate_event(event)
    return {o["key"]: (o["width"], o["height"]) for o in event["data"]["outputs"]}


def test_every_thumbnail_records_its_measured_size(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, KEY, jpeg_bytes(400, 300))
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, KEY))
    for record in outcome.outputs:
        stored = buckets[DEST].inner.get(record.key)
        with Image.open(io.BytesIO(stored.body)) as image:
            assert stored.info.metadata[META_DIMENSIONS] == f"{image.width}x{image.height}"
        provenance = Provenance.from_metadata(stored.info.metadata)
        assert provenance is not None and provenance.dimensions == (record.width, record.height)


def test_a_redelivery_is_announced_with_every_size_and_no_read_of_a_thumbnail(
    buckets: dict[str, CountingStore],
) -> None:
    upload(buckets, KEY, jpeg_bytes(400, 300))
    thumbnailer = make(buckets)
    first = thumbnailer.handle(ObjectEvent.created(SOURCE, KEY))
    buckets[DEST].calls.clear()
    again = thumbnailer.handle(ObjectEvent.created(SOURCE, KEY))
    assert again.reason is SkipReason.UNCHANGED
    assert dict(buckets[DEST].calls) == {"head": 2}  # one head per output, as before: the size comes with it
    assert sizes(again) == sizes(first) == {"photos/cat-256x256.jpg": (256, 192), "photos/cat-64x64.jpg": (64, 48)}
    assert announced(buckets, thumbnailer, again) == sizes(first)
    assert buckets[DEST].calls["get"] == 0  # nothing is read back after the pipeline


def test_a_partial_render_reports_the_kept_outputs_sizes_without_reading_them(
    buckets: dict[str, CountingStore],
) -> None:
    upload(buckets, KEY, jpeg_bytes(400, 300))
    make(buckets).handle(ObjectEvent.created(SOURCE, KEY))
    wider = make(buckets, THUMBS_SIZES="256x256,64x64,128x128")  # one size added: only it renders
    outcome = wider.handle(ObjectEvent.created(SOURCE, KEY))
    assert sorted(record.action for record in outcome.outputs) == [Action.UNCHANGED, Action.UNCHANGED, Action.WRITTEN]
    assert all(width and height for width, height in sizes(outcome).values())
    assert announced(buckets, wider, outcome) == sizes(outcome)
    assert buckets[DEST].calls["get"] == 0


def test_a_missing_manifest_is_written_from_the_recorded_sizes(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, KEY, jpeg_bytes(400, 300))
    thumbnailer = make(buckets, THUMBS_MANIFEST="true")
    first = thumbnailer.handle(ObjectEvent.created(SOURCE, KEY))
    assert first.manifest is not None
    buckets[DEST].inner.delete(first.manifest.key)
    buckets[DEST].calls.clear()
    again = thumbnailer.handle(ObjectEvent.created(SOURCE, KEY))  # only the manifest is written
    assert again.manifest is not None and again.manifest.action is Action.WRITTEN
    assert buckets[DEST].calls["get"] == 1  # the smallest thumbnail, for the placeholders; no size is read
    assert announced(buckets, thumbnailer, again) == sizes(first)
    assert buckets[DEST].calls["get"] == 0


@pytest.mark.parametrize("manifest", [False, True])
def test_a_thumbnail_written_before_sizes_were_recorded_is_still_measured(
    buckets: dict[str, CountingStore], manifest: bool
) -> None:
    """An earlier version's thumbnails (no ``polythumb_dimensions``) are current: not re-rendered, but measured."""
    upload(buckets, KEY, jpeg_bytes(400, 300))
    settings = {"THUMBS_MANIFEST": "true"} if manifest else {}
    thumbnailer = make(buckets, **settings)
    first = thumbnailer.handle(ObjectEvent.created(SOURCE, KEY))
    dest = buckets[DEST].inner
    for record in first.outputs:  # as an earlier version wrote them
        stored = dest.get(record.key)
        metadata = {name: value for name, value in stored.info.metadata.items() if name != META_DIMENSIONS}
        dest.put(record.key, stored.body, content_type=stored.info.content_type or "", metadata=metadata)
    again = thumbnailer.handle(ObjectEvent.created(SOURCE, KEY))
    assert again.reason is SkipReason.UNCHANGED  # current: nothing re-renders
    assert set(sizes(again).values()) == {(None, None)}  # a head does not say
    assert announced(buckets, thumbnailer, again) == sizes(first)
    assert buckets[DEST].calls["get"] >= 1  # read back: the size is nowhere else

