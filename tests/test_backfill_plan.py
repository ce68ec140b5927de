"""The backfill plan and local mode on real local backends: counts that match a constructed truth."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import Config, load_config
from core.events import ObjectEvent
from core.imaging.types import Box
from core.keys import META_SOURCE, Provenance, encode_meta_value, render_key
from core.ops.backfill.concurrency import ordered_map
from core.ops.backfill.keyspace import dest_scan_prefix, output_key_pattern
from core.ops.backfill.planner import Orphan, OrphanReason, PlanEntry, Planner, SourceStatus
from core.ops.backfill.report import PlanSummary
from core.ops.backfill.sorting import ExternalSorter
from core.ops.cli import main
from core.ops.runner import open_local_bucket
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.storage import FilesystemStorage, MemoryStorage, ObjectInfo, Storage
from tests.images import jpeg_bytes

SIZES = "32x32,16x16"


def _config(dest: str, **settings: str) -> Config:
    overrides: dict[str, str | None] = {"THUMBS_DEST_BUCKET": dest, "THUMBS_SIZES": SIZES}
    overrides.update(settings)
    return load_config({}, overrides=overrides)


def _render(config: Config, bucket: str, key: str, opener: Callable[[str], Storage] = open_local_bucket) -> None:
    outcome = Thumbnailer(config, opener).handle(ObjectEvent.created(bucket, key))
    assert outcome.status is Status.OK, outcome


# -- the constructed truth ---------------------------------------------------------------------------


@dataclass
class Scene:
    src: Path
    out: Path
    truth: dict[str, set[str]]  # class -> source keys (orphaned: thumbnail keys)
    user_files: list[str]
    foreign: str


@pytest.fixture(scope="module")
def shared_scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """One scene for the tests that only read it (building one takes a few seconds of fsyncs)."""
    return _build_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    """A scene of its own, for a test that changes it."""
    return _build_scene(tmp_path)


def _build_scene(root: Path) -> Scene:
    """300 sources: 100 current, 80 stale, 120 missing; 27 orphans; user files and a foreign thumbnail."""
    src, out = root / "src", root / "out"
    photo = jpeg_bytes(64, 48)
    keys = [f"d{i % 6}/img{i:03}.jpg" for i in range(300)]
    for key in keys:
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(photo)
    (src / "notes").mkdir()
    (src / "notes" / "readme.txt").write_text("not an image")
    (src / "d1" / "private-1.jpg").write_bytes(photo)
    gone = [f"gone/img{i}.jpg" for i in range(10)]
    (src / "gone").mkdir()
    for key in gone:
        (src / key).write_bytes(photo)

    bucket = str(src.resolve())
    config = _config(str(out))
    for key in keys[:180] + gone + ["d1/private-1.jpg"]:
        _render(config, bucket, key)
    for key in keys[100:160]:  # a new original after rendering: the thumbnails are stale
        (src / key).write_bytes(jpeg_bytes(48, 64))
    for key in keys[160:180]:  # rendered with other settings: stale by params
        _render(_config(str(out), THUMBS_QUALITY="50"), bucket, key)
    for key in keys[180:200]:  # only one of the two sizes exists: missing
        _render(_config(str(out), THUMBS_SIZES="32x32"), bucket, key)
    for key in keys[:5]:  # a size that is no longer configured: orphans of current sources
        _render(_config(str(out), THUMBS_SIZES="64x64"), bucket, key)
    for key in gone:
        (src / key).unlink()

    dest = FilesystemStorage(out)
    dest.put("d0/holiday-32x32.jpg", photo, content_type="image/jpeg")  # a user's file, shaped like a thumbnail
    dest.put("notes.txt", b"mine", content_type="text/plain")
    foreign = "d2/other-32x32.jpg"
    dest.put(
        foreign,
        photo,
        content_type="image/jpeg",
        metadata=Provenance("d2/other.jpg", "/elsewhere", "x", "32x32", "params").to_metadata(),
    )
    orphans = {o.key for g in gone for o in config.profiles.outputs_for(g)}
    orphans |= {render_key(config.key_template, key, Box(64, 64), "jpeg") for key in keys[:5]}
    orphans |= {o.key for o in config.profiles.outputs_for("d1/private-1.jpg")}
    truth = {
        "current": set(keys[:100]),
        "stale": set(keys[100:180]),
        "missing": set(keys[180:]),
        "orphaned": orphans,
    }
    return Scene(src, out, truth, ["d0/holiday-32x32.jpg", "notes.txt"], foreign)


SCENE_FLAGS = ["--sizes", SIZES, "--exclude", "*/private-*"]


def _dry_run(scene: Scene, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    status = main(["backfill", str(scene.src), "--out", str(scene.out), "--dry-run", "--json", *SCENE_FLAGS, *extra])
    assert status == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_dry_run_counts_match_the_constructed_truth(shared_scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    scene = shared_scene
    report = _dry_run(scene, capsys, "--sample", "5")

    assert {name: report[name] for name in scene.truth} == {name: len(keys) for name, keys in scene.truth.items()}
    assert report["orphan_reasons"] == {"not_configured": 5, "source_filtered": 2, "source_missing": 20}
    assert report["sources"] == {
        "listed": 302,
        "selected": 300,
        "filtered": 2,
        "polythumb_outputs": 0,
        "invalid_keys": 0,
        "before_checkpoint": 0,
    }
    for name in ("current", "stale", "missing"):  # the sample is the first keys, in listing order
        assert report["samples"][name] == sorted(scene.truth[name])[:5]
    assert set(report["samples"]["orphaned"]) <= scene.truth["orphaned"]
    assert len(report["samples"]["orphaned"]) == 5
    # The filesystem lists metadata; only the user's thumbnail-shaped file (no metadata at all) is head-ed.
    assert report["requests"]["dest_heads"] == 1
    assert scene.foreign not in report["samples"]["orphaned"]


def test_dry_run_text_names_counts_and_changes_nothing(shared_scene: Scene, capsys: pytest.CaptureFixture[str]) -> None:
    scene = shared_scene
    before = sorted(p.relative_to(scene.out).as_posix() for p in scene.out.rglob("*"))
    status = main(["backfill", str(scene.src), "--out", str(scene.out), "--dry-run", "--sample", "2", *SCENE_FLAGS])
    text = capsys.readouterr().out

    assert status == 0
    assert "missing        120  e.g. d0/img180.jpg, d0/img186.jpg, ..." in text
    assert "stale           80" in text and "current        100" in text and "orphaned        27" in text
    assert sorted(p.relative_to(scene.out).as_posix() for p in scene.out.rglob("*")) == before


def test_local_backfill_renders_deletes_orphans_and_leaves_user_files(
    scene: Scene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "ck.json"
    status = main(
        ["backfill", str(scene.src), "--out", str(scene.out), "--json", "--workers", "2", "--delete-orphans",
         "--checkpoint", str(checkpoint), *SCENE_FLAGS]
    )  # fmt: skip
    summary = json.loads(capsys.readouterr().out)

    assert status == 0
    assert summary["rendered"] == 200 and summary["unchanged"] == 0 and summary["failed"] == 0
    assert summary["orphans_deleted"] == 27 and summary["orphans_kept"] == 0
    assert summary["plan"]["missing"] == 120 and summary["plan"]["stale"] == 80
    saved = json.loads(checkpoint.read_text())
    # Entries done: 200 renders, 10 gone sources, 1 filtered source, 5 current sources with an orphan size.
    assert saved["finished"] is True and saved["done"] == 200 + 10 + 1 + 5
    dest = FilesystemStorage(scene.out)
    for key in [*scene.user_files, scene.foreign]:
        assert dest.head(key)  # never reported, never deleted
    for orphan in scene.truth["orphaned"]:
        assert not (scene.out / orphan).exists()

    after = _dry_run(scene, capsys)
    assert (after["missing"], after["stale"], after["current"], after["orphaned"]) == (0, 0, 300, 0)


def test_plan_through_a_listing_without_metadata_heads_only_thumbnail_shaped_keys(shared_scene: Scene) -> None:
    scene = shared_scene
    config = _config(str(scene.out), THUMBS_EXCLUDE="*/private-*")
    source = FilesystemStorage(scene.src)
    plain = list(Planner(source, FilesystemStorage(scene.out), config).entries())
    bare = _BareListing(FilesystemStorage(scene.out))  # lists like S3: no metadata
    planner = Planner(source, bare, config, io_workers=4)
    entries = list(planner.entries())

    assert entries == plain
    thumbnails = sum(1 for info in FilesystemStorage(scene.out).list() if info.metadata.get(META_SOURCE))
    assert planner.stats.dest_heads == thumbnails + 1  # the user's holiday-32x32.jpg, not notes.txt
    assert bare.heads == planner.stats.dest_heads


# -- backends that list like the clouds ------------------------------------------------------------------------


class _BareListing:
    """A store whose listing carries no metadata (S3, Azure): the planner must head."""

    def __init__(self, inner: Storage) -> None:
        self._inner = inner
        self.heads = 0

    @property
    def bucket(self) -> str:
        return self._inner.bucket

    def head(self, key: str) -> ObjectInfo:
        self.heads += 1
        return self._inner.head(key)

    def get(self, key: str) -> Any:
        return self._inner.get(key)

    def put(self, key: str, body: bytes, **kwargs: Any) -> ObjectInfo:
        return self._inner.put(key, body, **kwargs)

    def delete(self, key: str) -> None:
        self._inner.delete(key)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        for info in self._inner.list(prefix, page_size=page_size):
            yield ObjectInfo(key=info.key, size=info.size, etag=info.etag, last_modified=info.last_modified)


class _VersionedListing(_BareListing):
    """A versioned bucket whose listing shows no version ids (S3 ListObjectsV2)."""

    def head(self, key: str) -> ObjectInfo:
        info = super().head(key)
        return replace(info, version=f"v-{info.etag}")

    def get(self, key: str) -> Any:
        stored = self._inner.get(key)
        return replace(stored, info=replace(stored.info, version=f"v-{stored.info.etag}"))


def test_a_listing_without_versions_is_settled_with_a_head_of_the_source() -> None:
    originals = MemoryStorage("photos")
    source = _VersionedListing(originals)
    thumbs = MemoryStorage("thumbs")
    stores: Mapping[str, Storage] = {"photos": source, "thumbs": thumbs}
    config = _config("thumbs")
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        originals.put(name, jpeg_bytes(64, 48), content_type="image/jpeg")
    for name in ("a.jpg", "b.jpg"):
        _render(config, "photos", name, stores.__getitem__)
    originals.put("b.jpg", jpeg_bytes(48, 64), content_type="image/jpeg")  # a new version
    source.heads = 0

    planner = Planner(source, thumbs, config)
    statuses = {e.key: e.status for e in planner.entries()}

    assert statuses == {"a.jpg": SourceStatus.CURRENT, "b.jpg": SourceStatus.STALE, "c.jpg": SourceStatus.MISSING}
    assert planner.stats.source_heads == source.heads == 2  # only sources with outputs, never c.jpg


def test_one_bucket_for_both_thumbnails_are_not_sources() -> None:
    bucket = MemoryStorage("media")
    config = _config("media")
    for name in ("p/a.jpg", "p/b.jpg", "p/c.jpg", "p/a-b.jpg"):
        bucket.put(name, jpeg_bytes(64, 48), content_type="image/jpeg")
    for name in ("p/a.jpg", "p/a-b.jpg"):
        _render(config, "media", name, lambda _: bucket)
    bucket.put(
        "p/old-16x16.jpg", b"x", content_type="image/jpeg", metadata={META_SOURCE: encode_meta_value("p/old.jpg")}
    )
    bucket.put("p/mine-32x32.jpg", b"x", content_type="image/jpeg")  # a user's upload: a source like any other

    planner = Planner(bucket, bucket, config)
    entries = list(planner.entries())
    statuses = {e.key: e.status for e in entries if e.status}

    assert statuses == {
        "p/a-b.jpg": SourceStatus.CURRENT,
        "p/a.jpg": SourceStatus.CURRENT,
        "p/b.jpg": SourceStatus.MISSING,
        "p/c.jpg": SourceStatus.MISSING,
        "p/mine-32x32.jpg": SourceStatus.MISSING,
    }
    assert planner.stats.polythumb_outputs == 5  # 2 x 2 rendered + the orphan
    assert [(o.key, o.reason) for e in entries for o in e.orphans] == [("p/old-16x16.jpg", OrphanReason.SOURCE_MISSING)]
    assert [e.key for e in entries] == sorted(e.key for e in entries)


def test_prefix_limits_sources_orphans_and_the_destination_listing() -> None:
    source, thumbs = MemoryStorage("photos"), MemoryStorage("thumbs")
    config = _config("thumbs", THUMBS_KEY_TEMPLATE="t/{dir}/{stem}-{size}.{ext}")
    opener: dict[str, Storage] = {"photos": source, "thumbs": thumbs}
    for name in ("2024/a.jpg", "2024/b.jpg", "2025/a.jpg", "2025/gone.jpg"):
        source.put(name, jpeg_bytes(64, 48), content_type="image/jpeg")
        _render(config, "photos", name, opener.__getitem__)
    source.delete("2025/gone.jpg")
    source.put("2024/c.jpg", jpeg_bytes(64, 48), content_type="image/jpeg")

    planner = Planner(source, thumbs, config, prefix="2024/")
    summary = PlanSummary()
    for entry in planner.entries():
        summary.add(entry)

    assert planner.stats.dest_prefix == "t/2024"
    assert planner.stats.dest_listed == 4  # 2025's thumbnails are not even listed
    assert summary.counts == {"missing": 1, "stale": 0, "current": 2, "orphaned": 0}


def test_resume_point_skips_sources_up_to_it() -> None:
    source, thumbs = MemoryStorage("photos"), MemoryStorage("thumbs")
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        source.put(name, jpeg_bytes(64, 48), content_type="image/jpeg")
    planner = Planner(source, thumbs, _config("thumbs"), after="b.jpg")

    assert [e.key for e in planner.entries()] == ["c.jpg", "d.jpg"]
    assert planner.stats.before_checkpoint == 2


def test_the_index_spills_to_disk_and_merges_back_in_order(shared_scene: Scene) -> None:
    scene = shared_scene
    config = _config(str(scene.out), THUMBS_EXCLUDE="*/private-*")
    source, dest = FilesystemStorage(scene.src), FilesystemStorage(scene.out)
    in_memory = list(Planner(source, dest, config).entries())
    planner = Planner(source, dest, config, sort_chunk=7)
    spilled = list(planner.entries())

    assert spilled == in_memory
    assert planner.stats.index_runs == planner.stats.index_rows // 7 > 40


def test_plan_entries_round_trip_through_json() -> None:
    info = ObjectInfo(key="a b.jpg", size=3, etag="e", version="7")
    orphan = Orphan("a b-9x9.jpg", "a b.jpg", OrphanReason.NOT_CONFIGURED)
    entry = PlanEntry("a b.jpg", info, SourceStatus.STALE, ("a b-1x1.jpg",), (orphan,))
    assert PlanEntry.from_json(json.loads(json.dumps(entry.to_json()))) == entry


# -- building blocks ------------------------------------------------------------------------------------------

TEMPLATES = [
    "{dir}/{stem}-{width}x{height}.{ext}",
    "thumbs/{dir}/{stem}_{size}.{ext}",
    "{size}/{dir}/{name}",
    "/{dir}//{stem}.{width}w.{ext}",
    "cache/{stem}-{width}.{srcext}.{ext}",
    "a+b(c)/{dir}/[{stem}]-{size}.{ext}",
]
_segment = st.text(
    st.characters(blacklist_characters="/", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8
).filter(lambda part: part not in (".", ".."))  # a source key with a dot segment is refused (invalid_key)


@settings(max_examples=200, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    parts=st.lists(_segment, min_size=1, max_size=4),
    cut=st.integers(min_value=0, max_value=40),
    box=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
    fmt=st.sampled_from(["auto", "jpeg", "png", "webp", "avif"]),
)
def test_every_output_key_matches_the_shape_and_starts_with_the_scan_prefix(
    template: str, parts: list[str], cut: int, box: tuple[int, int], fmt: str
) -> None:
    config = load_config({}, overrides={"THUMBS_KEY_TEMPLATE": template, "THUMBS_FORMAT": fmt})
    key = "/".join(parts)
    prefix = key[:cut]
    [fmt] = config.profiles.profiles[0].formats_for(key)
    rendered = render_key(config.key_template, key, Box(*box), fmt)

    assert output_key_pattern(config).fullmatch(rendered)
    assert rendered.startswith(dest_scan_prefix(config, prefix))


def test_the_shape_rejects_originals_and_the_scan_prefix_is_narrow() -> None:
    config = load_config({}, overrides={})
    pattern = output_key_pattern(config)
    assert pattern.fullmatch("photos/beach-256x256.jpg")
    assert not pattern.fullmatch("photos/beach.jpg") and not pattern.fullmatch("photos/beach-256x256.gif")
    assert dest_scan_prefix(config, "photos/2024/") == "photos/2024"
    assert dest_scan_prefix(config, "photos") == ""
    thumbs = load_config({}, overrides={"THUMBS_KEY_TEMPLATE": "thumbs//{dir}/{stem}-{size}.{ext}"})
    assert dest_scan_prefix(thumbs, "a/b/c") == "thumbs/a/b"


def test_external_sorter_merges_spilled_runs() -> None:
    rows = [(f"k{(i * 7919) % 101:03}", str(i)) for i in range(101)]
    with ExternalSorter(chunk_size=10) as sorter:
        for row in rows:
            sorter.add(row)
        assert sorter.runs == 10 and len(sorter) == 101
        assert list(sorter.sorted()) == sorted(rows)


def test_ordered_map_keeps_input_order_and_bounds_the_window() -> None:
    import time

    pulled = 0
    ahead: list[int] = []

    def items() -> Iterator[int]:
        nonlocal pulled
        for n in range(60):
            pulled += 1
            yield n

    def slow_square(n: int) -> int:
        time.sleep(0.002 * (n % 3))  # later items often finish first
        return n * n

    results = []
    for value in ordered_map(slow_square, items(), workers=4, window=6, inline=lambda n: n % 5 == 0):
        results.append(value)
        ahead.append(pulled - len(results))

    assert results == [n * n for n in range(60)]
    assert max(ahead) <= 6  # never more than the window in flight
