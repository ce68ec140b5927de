"""The pipeline's side of issue 17's event edge cases, on in-memory buckets.

* an ambiguous key encoding (S3 via EventBridge): the key as sent is tried on a miss, once;
* a source that is the destination of a copy still running (Azure, hierarchical namespace): retried;
  a failed or aborted copy: skipped with a reason;
* a recursive directory delete (Azure Data Lake): polythumb's own thumbnails of every source under the
  directory go, nothing else does, and the work is bounded.
"""

from __future__ import annotations

import dataclasses

import pytest

from core.config import load_config
from core.errors import CopyPending, PrefixTooLarge
from core.events import EventKind, ObjectEvent
from core.keys import render_key
from core.outcome import Action, SkipReason, Status
from core.prefixes import delete_outputs_under, output_listing_prefix, output_listing_prefixes
from core.storage import ObjectInfo
from tests.images import jpeg_bytes
from tests.test_pipeline import DEST, SOURCE, CountingStore, make, upload

STORED = "photos/2023-08-08T14:03:40 red flower+1 100%.jpg"
MISREAD = "photos/2023-08-08T14:03:40 red flower 1 100%.jpg"  # what form-decoding the raw key gives


@pytest.fixture
def buckets() -> dict[str, CountingStore]:
    return {SOURCE: CountingStore(SOURCE), DEST: CountingStore(DEST)}


# -- the key as sent, on a miss ---------------------------------------------------------------------


def test_the_raw_key_is_tried_once_when_the_decoded_key_is_missing(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, STORED, jpeg_bytes(320, 240))
    thumbnailer = make(buckets)

    outcome = thumbnailer.handle(ObjectEvent.created(SOURCE, MISREAD, raw_key=STORED))

    assert outcome.status is Status.OK and outcome.key == STORED
    assert {o.action for o in outcome.outputs} == {Action.WRITTEN}
    # The decoded key, then the raw key (one extra HEAD), then the check that the source is still there.
    assert buckets[SOURCE].calls["head"] == 3


def test_the_raw_key_costs_nothing_when_the_decoded_key_exists(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, STORED, jpeg_bytes(320, 240))
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, STORED, raw_key="photos/encoded%3Aform.jpg"))
    assert outcome.status is Status.OK and outcome.key == STORED
    assert buckets[SOURCE].calls["head"] == 2  # the key, and the check after storing: no raw-key HEAD


def test_a_source_missing_under_both_keys_is_skipped(buckets: dict[str, CountingStore]) -> None:
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, MISREAD, raw_key=STORED))
    assert (outcome.status, outcome.reason) == (Status.SKIPPED, SkipReason.SOURCE_MISSING)
    assert buckets[SOURCE].calls["head"] == 2


def test_a_delete_finds_thumbnails_under_the_raw_key(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, STORED, jpeg_bytes(320, 240))
    thumbnailer = make(buckets)
    thumbnailer.handle(ObjectEvent.created(SOURCE, STORED))
    buckets[SOURCE].delete(STORED)

    outcome = thumbnailer.handle(ObjectEvent.deleted(SOURCE, MISREAD, raw_key=STORED))

    assert outcome.key == STORED and {o.action for o in outcome.outputs} == {Action.DELETED}
    assert list(buckets[DEST].list()) == []


# -- copy status (Azure, hierarchical namespace) -----------------------------------------------------


class CopyingStore(CountingStore):
    """A bucket whose objects report a server-side copy in ``status``."""

    def __init__(self, bucket: str, status: str) -> None:
        super().__init__(bucket)
        self.status: str | None = status

    def head(self, key: str) -> ObjectInfo:
        return dataclasses.replace(super().head(key), copy_status=self.status)


def test_a_copy_still_pending_is_a_transient_error_and_the_retry_renders() -> None:
    buckets = {SOURCE: CopyingStore(SOURCE, "pending"), DEST: CountingStore(DEST)}
    upload(buckets, "copied.jpg", jpeg_bytes(320, 240))  # type: ignore[arg-type]
    thumbnailer = make(buckets)  # type: ignore[arg-type]

    with pytest.raises(CopyPending):
        thumbnailer.handle(ObjectEvent.created(SOURCE, "copied.jpg"))
    assert buckets[SOURCE].calls["get"] == 0 and list(buckets[DEST].list()) == []

    buckets[SOURCE].status = "success"  # the copy completes; Event Grid redelivers
    assert thumbnailer.handle(ObjectEvent.created(SOURCE, "copied.jpg")).status is Status.OK


@pytest.mark.parametrize("status", ["failed", "aborted"])
def test_a_failed_or_aborted_copy_is_skipped_with_a_reason(status: str) -> None:
    buckets = {SOURCE: CopyingStore(SOURCE, status), DEST: CountingStore(DEST)}
    upload(buckets, "copied.jpg", jpeg_bytes(320, 240))  # type: ignore[arg-type]
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "copied.jpg"))  # type: ignore[arg-type]
    assert (outcome.status, outcome.reason) == (Status.SKIPPED, SkipReason.COPY_FAILED)
    assert buckets[SOURCE].calls["get"] == 0 and list(buckets[DEST].list()) == []


# -- recursive directory deletes --------------------------------------------------------------------


def _render(buckets: dict[str, CountingStore], *keys: str, **settings: str) -> None:
    thumbnailer = make(buckets, **settings)
    for key in keys:
        upload(buckets, key, jpeg_bytes(320, 240))
        assert thumbnailer.handle(ObjectEvent.created(SOURCE, key)).status is Status.OK


def test_a_directory_delete_removes_only_polythumbs_thumbnails_of_sources_under_it(
    buckets: dict[str, CountingStore],
) -> None:
    inside = ["dir/a.jpg", "dir/sub/b.jpg"]
    _render(buckets, *inside, "dir2/c.jpg", "other/d.jpg")
    buckets[DEST].put("dir/notes.txt", b"user data", content_type="text/plain")  # not polythumb's
    kept_before = {info.key for info in buckets[DEST].list() if not info.key.startswith("dir/")}
    for key in inside:
        buckets[SOURCE].delete(key)

    outcome = make(buckets).handle(ObjectEvent.prefix_deleted(SOURCE, "dir"))

    assert outcome.status is Status.OK and outcome.kind is EventKind.PREFIX_DELETED
    assert len(outcome.outputs) == 4 and {o.action for o in outcome.outputs} == {Action.DELETED}
    remaining = {info.key for info in buckets[DEST].list()}
    assert remaining == kept_before | {"dir/notes.txt"}  # dir2/ shares the prefix text, not the directory


def test_a_source_recreated_under_the_directory_keeps_its_thumbnails(buckets: dict[str, CountingStore]) -> None:
    _render(buckets, "dir/a.jpg", "dir/b.jpg")
    buckets[SOURCE].delete("dir/a.jpg")  # dir/b.jpg was re-created after the directory delete
    outcome = make(buckets).handle(ObjectEvent.prefix_deleted(SOURCE, "dir"))
    assert {o.key.split("/")[1].split("-")[0] for o in outcome.outputs} == {"a"}
    assert {info.metadata["polythumb_source"] for info in buckets[DEST].list()} == {"dir/b.jpg"}


def test_keep_policy_keeps_a_directorys_thumbnails(buckets: dict[str, CountingStore]) -> None:
    _render(buckets, "dir/a.jpg")
    outcome = make(buckets, THUMBS_ON_DELETE="keep").handle(ObjectEvent.prefix_deleted(SOURCE, "dir"))
    assert outcome.reason is SkipReason.KEPT and len(list(buckets[DEST].list())) == 2


def test_a_directory_delete_is_bounded_and_says_what_to_run(buckets: dict[str, CountingStore]) -> None:
    _render(buckets, "dir/a.jpg", "dir/b.jpg", "dir/c.jpg")  # six thumbnails
    for key in ("dir/a.jpg", "dir/b.jpg", "dir/c.jpg"):
        buckets[SOURCE].delete(key)
    config = load_config({"THUMBS_DEST_BUCKET": DEST, "THUMBS_SIZES": "256x256,64x64"})
    with pytest.raises(PrefixTooLarge, match="--delete-orphans"):
        delete_outputs_under(config, source=buckets[SOURCE], dest=buckets[DEST], directory="dir", limit=4)
    assert len(list(buckets[DEST].list())) == 2  # what was examined within the bound is done


def test_a_directory_delete_reads_metadata_where_the_listing_has_none(buckets: dict[str, CountingStore]) -> None:
    _render(buckets, "dir/a.jpg")
    buckets[SOURCE].delete("dir/a.jpg")
    bare = CountingStore(DEST)
    for info in buckets[DEST].list():  # an S3- or Azure-like listing: no metadata in listed records
        bare.inner.put(info.key, buckets[DEST].get(info.key).body, content_type="image/jpeg",
                       metadata=dict(info.metadata))  # fmt: skip
    bare.list = lambda prefix="", *, page_size=1000: (  # type: ignore[method-assign]
        dataclasses.replace(info, metadata={}) for info in bare.inner.list(prefix)
    )
    config = load_config({"THUMBS_DEST_BUCKET": DEST, "THUMBS_SIZES": "256x256,64x64"})
    records = delete_outputs_under(config, source=buckets[SOURCE], dest=bare, directory="dir")
    assert len(records) == 2 and bare.calls["head"] == 2 and list(bare.inner.list()) == []


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("{dir}/{stem}-{width}x{height}.{ext}", "dir/sub/"),
        ("thumbs/{dir}/{name}-{size}.{ext}", "thumbs/dir/sub/"),
        ("thumbs/{size}/{dir}/{stem}.{ext}", "thumbs/"),
        ("{dir}-small/{stem}.{ext}", "dir/sub"),
        ("/{dir}//{stem}.{ext}", "dir/sub/"),
        ("flat/{stem}.{ext}", "flat/"),
    ],
)
def test_the_listing_prefix_covers_every_thumbnail_under_the_directory(template: str, prefix: str) -> None:
    config = load_config({"THUMBS_DEST_BUCKET": DEST, "THUMBS_KEY_TEMPLATE": template})
    assert output_listing_prefix(template, "dir/sub") == prefix
    assert output_listing_prefixes(config, "dir/sub") == [prefix]
    for source in ("dir/sub/a.jpg", "dir/sub/deeper/b c.png"):
        for box in config.boxes:
            assert render_key(config.key_template, source, box, "jpeg").startswith(prefix)


def test_a_directory_delete_finds_the_thumbnails_of_every_profiles_key_template(
    buckets: dict[str, CountingStore],
) -> None:
    import json

    profiles = {"profiles": {
        "avatars": {"match": "dir/avatars/*", "sizes": ["64x64"], "key_template": "avatars/{dir}/{stem}.{ext}"},
        "rest": {"match": "*", "sizes": ["64x64"]},
    }}  # fmt: skip
    settings = {"THUMBS_PROFILES": json.dumps(profiles)}
    _render(buckets, "dir/avatars/me.jpg", "dir/photo.jpg", "other/keep.jpg", **settings)
    assert {info.key for info in buckets[DEST].list()} == {
        "avatars/dir/avatars/me.jpg", "dir/photo-64x64.jpg", "other/keep-64x64.jpg"
    }  # fmt: skip
    for key in ("dir/avatars/me.jpg", "dir/photo.jpg"):
        buckets[SOURCE].delete(key)

    outcome = make(buckets, **settings).handle(ObjectEvent.prefix_deleted(SOURCE, "dir"))

    assert sorted(o.key for o in outcome.outputs) == ["avatars/dir/avatars/me.jpg", "dir/photo-64x64.jpg"]
    assert [info.key for info in buckets[DEST].list()] == ["other/keep-64x64.jpg"]
