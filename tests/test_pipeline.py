"""The shared pipeline on in-memory buckets: filters, loop guard, idempotency, deletes, error classes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from core.config import Config, load_config
from core.errors import StorageUnavailable, SupersededError, TransientError
from core.events import ObjectEvent
from core.keys import META_SOURCE, META_SOURCE_REVISION, decode_meta_value
from core.outcome import Action, SkipReason, Status
from core.pipeline import Thumbnailer
from core.storage import MemoryStorage, ObjectInfo, StoredObject
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes

SOURCE, DEST = "uploads", "thumbs"


class CountingStore:
    """A MemoryStorage that counts calls and can fail or interfere on demand."""

    def __init__(self, bucket: str) -> None:
        self.inner = MemoryStorage(bucket)
        self.calls: Counter[str] = Counter()
        self.fail_put_after: int | None = None
        self.before_put: Callable[[str], None] | None = None

    @property
    def bucket(self) -> str:
        return self.inner.bucket

    def head(self, key: str) -> ObjectInfo:
        self.calls["head"] += 1
        return self.inner.head(key)

    def get(self, key: str) -> StoredObject:
        self.calls["get"] += 1
        return self.inner.get(key)

    def put(self, key: str, body: bytes, **options: Any) -> ObjectInfo:
        self.calls["put"] += 1
        if self.fail_put_after is not None and self.calls["put"] > self.fail_put_after:
            raise StorageUnavailable("503 SlowDown (injected)")
        if self.before_put:
            self.before_put(key)
        return self.inner.put(key, body, **options)

    def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        self.inner.delete(key)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix, page_size=page_size)


@pytest.fixture
def buckets() -> dict[str, CountingStore]:
    return {SOURCE: CountingStore(SOURCE), DEST: CountingStore(DEST)}


def make(buckets: Mapping[str, CountingStore], **settings: str) -> Thumbnailer:
    env = {"THUMBS_DEST_BUCKET": DEST, "THUMBS_SIZES": "256x256,64x64", **settings}
    return Thumbnailer(load_config(env), buckets.__getitem__)  # type: ignore[arg-type]


def upload(buckets: Mapping[str, CountingStore], key: str, body: bytes, bucket: str = SOURCE) -> ObjectInfo:
    return buckets[bucket].inner.put(key, body, content_type="image/jpeg")


def test_created_event_writes_every_size_with_type_cache_and_metadata(buckets: dict[str, CountingStore]) -> None:
    source = upload(buckets, "photos/2024/red flower.jpg", jpeg_bytes(640, 480))
    thumbnailer = make(buckets)

    outcome = thumbnailer.handle(ObjectEvent.created(SOURCE, "photos/2024/red flower.jpg"))

    assert outcome.status is Status.OK
    assert [o.key for o in outcome.outputs] == [
        "photos/2024/red flower-256x256.jpg",
        "photos/2024/red flower-64x64.jpg",
    ]
    assert [(o.width, o.height) for o in outcome.outputs] == [(256, 192), (64, 48)]
    for record in outcome.outputs:
        stored = buckets[DEST].inner.get(record.key)
        assert stored.info.content_type == "image/jpeg"
        assert stored.info.cache_control == "public, max-age=86400"
        assert decode_meta_value(stored.info.metadata[META_SOURCE]) == "photos/2024/red flower.jpg"
        assert stored.info.metadata[META_SOURCE_REVISION] == source.revision
        assert open_bytes(stored.body).size == (record.width, record.height)
        assert record.bytes == len(stored.body)
    assert buckets[SOURCE].calls["get"] == 1  # one download, one decode, every size


def test_top_level_keys_have_no_leading_slash_and_unicode_metadata_is_ascii(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "café 写真.jpg", jpeg_bytes(100, 100))
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "café 写真.jpg"))
    assert outcome.outputs[0].key == "café 写真-256x256.jpg"
    meta = buckets[DEST].inner.head("café 写真-256x256.jpg").metadata
    assert all(value.isascii() for value in meta.values())
    assert decode_meta_value(meta[META_SOURCE]) == "café 写真.jpg"


def test_auto_format_never_writes_jpeg_for_transparency(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "logo.png", png_rgba_bytes())
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "logo.png"))
    record = outcome.outputs[0]
    assert (record.key, record.content_type) == ("logo-256x256.png", "image/png")
    assert open_bytes(buckets[DEST].inner.get(record.key).body).mode in ("RGBA", "LA", "PA")


def test_filtered_keys_do_no_io(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "docs/readme.txt", b"hello")
    upload(buckets, "private/secret.jpg", jpeg_bytes())
    thumbnailer = make(buckets, THUMBS_EXCLUDE="private/*")
    for key in ("docs/readme.txt", "private/secret.jpg"):
        outcome = thumbnailer.handle(ObjectEvent.created(SOURCE, key))
        assert (outcome.status, outcome.reason) == (Status.SKIPPED, SkipReason.FILTERED)
    assert sum(buckets[SOURCE].calls.values()) == 0
    assert sum(buckets[DEST].calls.values()) == 0


def test_loop_guard_with_destination_equal_to_source(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "a/cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets, THUMBS_DEST_BUCKET=SOURCE)
    first = thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))
    assert first.status is Status.OK
    # Every thumbnail written into the watched bucket raises its own event: none is processed.
    for record in first.outputs:
        again = thumbnailer.handle(ObjectEvent.created(SOURCE, record.key))
        assert (again.status, again.reason) == (Status.SKIPPED, SkipReason.POLYTHUMB_OUTPUT)
    assert sorted(i.key for i in buckets[SOURCE].inner.list()) == ["a/cat-256x256.jpg", "a/cat-64x64.jpg", "a/cat.jpg"]


def test_a_template_mapping_a_key_onto_itself_is_refused(buckets: dict[str, CountingStore]) -> None:
    original = upload(buckets, "a/cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets, THUMBS_DEST_BUCKET=SOURCE, THUMBS_SIZES="64", THUMBS_KEY_TEMPLATE="{dir}/{name}")
    outcome = thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "output_conflict")
    assert buckets[SOURCE].inner.head("a/cat.jpg").revision == original.revision


def test_redelivery_does_no_work_twice(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets)
    thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    revisions = {i.key: i.revision for i in buckets[DEST].inner.list()}
    puts, gets = buckets[DEST].calls["put"], buckets[SOURCE].calls["get"]

    again = thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))

    assert (again.status, again.reason) == (Status.SKIPPED, SkipReason.UNCHANGED)
    assert {o.action for o in again.outputs} == {Action.UNCHANGED}
    assert (buckets[DEST].calls["put"], buckets[SOURCE].calls["get"]) == (puts, gets)
    assert {i.key: i.revision for i in buckets[DEST].inner.list()} == revisions


def test_concurrent_duplicate_deliveries_end_in_one_consistent_set(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets)
    results: list[object] = []

    def deliver() -> None:
        try:
            results.append(thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg")).status)
        except SupersededError as exc:  # the loser of the race asks for a retry; it must not corrupt anything
            results.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Status.OK in results
    retry = thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    assert retry.reason is SkipReason.UNCHANGED
    assert sorted(i.key for i in buckets[DEST].inner.list()) == ["cat-256x256.jpg", "cat-64x64.jpg"]


def test_keys_with_surrounding_spaces_round_trip_through_metadata(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, " padded name .jpg", jpeg_bytes(100, 100))
    thumbnailer = make(buckets)
    assert thumbnailer.handle(ObjectEvent.created(SOURCE, " padded name .jpg")).status is Status.OK
    meta = buckets[DEST].inner.head(" padded name -256x256.jpg").metadata
    assert meta[META_SOURCE] == "%20padded%20name%20.jpg"  # no bare space for a store to trim
    buckets[SOURCE].inner.delete(" padded name .jpg")
    deleted = thumbnailer.handle(ObjectEvent.deleted(SOURCE, " padded name .jpg"))
    assert {o.action for o in deleted.outputs} == {Action.DELETED}


def test_a_changed_source_regenerates(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes(640, 480))
    thumbnailer = make(buckets)
    thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    newer = upload(buckets, "cat.jpg", jpeg_bytes(480, 640))
    outcome = thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    assert outcome.status is Status.OK
    assert outcome.revision == newer.revision
    assert (outcome.outputs[0].width, outcome.outputs[0].height) == (192, 256)
    assert buckets[DEST].inner.head("cat-256x256.jpg").metadata[META_SOURCE_REVISION] == newer.revision


def test_changed_settings_regenerate(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    make(buckets).handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    outcome = make(buckets, THUMBS_QUALITY="40").handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    assert outcome.status is Status.OK
    assert {o.action for o in outcome.outputs} == {Action.WRITTEN}


def test_a_newly_added_size_renders_only_that_size(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    make(buckets).handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    outcome = make(buckets, THUMBS_SIZES="256x256,64x64,32x32").handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    actions = {o.key: o.action for o in outcome.outputs}
    assert actions == {
        "cat-256x256.jpg": Action.UNCHANGED,
        "cat-64x64.jpg": Action.UNCHANGED,
        "cat-32x32.jpg": Action.WRITTEN,
    }


def test_deleted_event_removes_the_thumbnails(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "a/cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets)
    thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))
    buckets[SOURCE].inner.delete("a/cat.jpg")
    outcome = thumbnailer.handle(ObjectEvent.deleted(SOURCE, "a/cat.jpg"))
    assert outcome.status is Status.OK
    assert {o.action for o in outcome.outputs} == {Action.DELETED}
    assert list(buckets[DEST].inner.list()) == []
    # Redelivered delete: nothing left to do, still fine.
    assert {o.action for o in thumbnailer.handle(ObjectEvent.deleted(SOURCE, "a/cat.jpg")).outputs} == {Action.ABSENT}


def test_keep_policy_leaves_thumbnails(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    make(buckets).handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    buckets[SOURCE].inner.delete("cat.jpg")
    outcome = make(buckets, THUMBS_ON_DELETE="keep").handle(ObjectEvent.deleted(SOURCE, "cat.jpg"))
    assert outcome.reason is SkipReason.KEPT
    assert len(list(buckets[DEST].inner.list())) == 2


def test_a_delete_that_arrives_after_a_recreate_is_ignored(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets)
    thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    outcome = thumbnailer.handle(ObjectEvent.deleted(SOURCE, "cat.jpg"))  # the key exists again
    assert outcome.reason is SkipReason.SOURCE_EXISTS
    assert len(list(buckets[DEST].inner.list())) == 2


def test_a_created_event_for_a_vanished_object_is_skipped(buckets: dict[str, CountingStore]) -> None:
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "gone.jpg"))
    assert outcome.reason is SkipReason.SOURCE_MISSING
    assert buckets[DEST].calls["put"] == 0


def test_delete_never_removes_an_object_polythumb_did_not_write(buckets: dict[str, CountingStore]) -> None:
    buckets[DEST].inner.put("cat-256x256.jpg", b"user's own file", content_type="image/jpeg")
    outcome = make(buckets).handle(ObjectEvent.deleted(SOURCE, "cat.jpg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "output_conflict")
    assert buckets[DEST].inner.get("cat-256x256.jpg").body == b"user's own file"


def test_create_never_overwrites_an_object_polythumb_did_not_write(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    buckets[DEST].inner.put("cat-64x64.jpg", b"user's own file", content_type="image/jpeg")
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "output_conflict")
    assert buckets[DEST].inner.get("cat-64x64.jpg").body == b"user's own file"
    assert buckets[DEST].calls["put"] == 0


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not_an_image"),
        (b"", "not_an_image"),
        (jpeg_bytes(400, 300)[:2000], "truncated"),
    ],
)
def test_bad_input_is_a_permanent_error_and_writes_nothing(
    buckets: dict[str, CountingStore], body: bytes, kind: str
) -> None:
    upload(buckets, "bad.jpg", body)
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "bad.jpg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, kind)
    assert outcome.error_message
    assert buckets[DEST].calls["put"] == 0


def test_byte_limit_is_checked_before_download(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "big.jpg", jpeg_bytes(800, 600))
    outcome = make(buckets, THUMBS_MAX_BYTES="1KB").handle(ObjectEvent.created(SOURCE, "big.jpg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "too_large")
    assert "THUMBS_MAX_BYTES" in (outcome.error_message or "")
    assert buckets[SOURCE].calls["get"] == 0


def test_pixel_limit_is_a_permanent_error(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "wide.jpg", jpeg_bytes(1000, 1000))
    outcome = make(buckets, THUMBS_MAX_PIXELS="999999").handle(ObjectEvent.created(SOURCE, "wide.jpg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "too_large")
    assert buckets[DEST].calls["put"] == 0


def test_transient_storage_errors_raise_and_a_retry_completes(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes())
    thumbnailer = make(buckets)
    buckets[DEST].fail_put_after = 1  # the second put fails
    with pytest.raises(TransientError):
        thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    written = list(buckets[DEST].inner.list())
    assert len(written) == 1  # the finished object is whole; the other was never started
    buckets[DEST].fail_put_after = None
    retry = thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    assert retry.status is Status.OK
    assert {o.key: o.action for o in retry.outputs} == {
        "cat-64x64.jpg": Action.WRITTEN,
        "cat-256x256.jpg": Action.UNCHANGED,
    }


def test_a_slow_worker_never_overwrites_thumbnails_of_a_newer_original(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "cat.jpg", jpeg_bytes(640, 480))
    slow = make(buckets)
    fast = make(buckets)

    def newer_original_lands_and_is_processed_first(key: str) -> None:
        buckets[DEST].before_put = None
        upload(buckets, "cat.jpg", jpeg_bytes(480, 640))
        assert fast.handle(ObjectEvent.created(SOURCE, "cat.jpg")).status is Status.OK

    buckets[DEST].before_put = newer_original_lands_and_is_processed_first
    with pytest.raises(SupersededError):
        slow.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    newest = buckets[SOURCE].inner.head("cat.jpg").revision
    for info in buckets[DEST].inner.list():
        assert info.metadata[META_SOURCE_REVISION] == newest
    assert slow.handle(ObjectEvent.created(SOURCE, "cat.jpg")).reason is SkipReason.UNCHANGED


def test_output_keys_follow_the_template() -> None:
    config = load_config(
        {"THUMBS_KEY_TEMPLATE": "thumbs/{dir}/{stem}/{size}.{ext}", "THUMBS_FORMAT": "webp", "THUMBS_SIZES": "64x32"}
    )
    assert [o.key for o in config.profiles.outputs_for("a/b/c.JPG")] == ["thumbs/a/b/c/64x32.webp"]
    assert [o.key for o in config.profiles.outputs_for("top.png")] == ["thumbs/top/64x32.webp"]
    assert [o.key for o in Config().profiles.outputs_for("x.heic")] == ["x-256x256.webp"]
    assert [o.key for o in Config().profiles.outputs_for("scan.tiff")] == ["scan-256x256.png"]


def test_each_objects_metadata_is_read_once_per_event(
    buckets: dict[str, CountingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan reads each output's (and the manifest's) metadata once, into the verdict that both the
    ownership claim and the idempotency test use."""
    from core.keys import Provenance

    upload(buckets, "cat.jpg", jpeg_bytes(320, 240))
    thumbnailer = make(buckets, THUMBS_MANIFEST="true")
    thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg"))
    reads: list[str] = []
    original = Provenance.from_metadata.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Provenance], metadata: Mapping[str, str]) -> Provenance | None:
        reads.append(metadata.get("polythumb_box", "source"))
        return original(cls, metadata)  # type: ignore[no-any-return]

    monkeypatch.setattr(Provenance, "from_metadata", classmethod(counted))
    assert thumbnailer.handle(ObjectEvent.created(SOURCE, "cat.jpg")).reason is SkipReason.UNCHANGED
    assert sorted(reads) == ["256x256", "64x64", "manifest", "source"]  # the source: the loop guard
