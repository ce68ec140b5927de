"""An output belongs to exactly one source (issue 20, item 4), on in-memory buckets.

With the default ``{dir}/{stem}-{width}x{height}.{ext}``, ``a.jpg`` and ``a.jpeg`` map to one thumbnail:
the first rendered owns it, the other fails with ``output_conflict`` naming both (never retried, nothing
overwritten), a delete removes only its own outputs, and an orphan (its owner gone) may be taken over.
Manifests are one per source by default, and a manifest left at the old default key is migrated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_config
from core.events import ObjectEvent
from core.keys import META_SOURCE, decode_meta_value
from core.ops.collisions import template_collisions
from core.outcome import Action, SkipReason, Status
from core.runtime import FunctionRuntime
from core.storage import MemoryStorage
from tests.completion.support import read_events
from tests.images import jpeg_bytes, png_rgba_bytes
from tests.test_pipeline import DEST, SOURCE, CountingStore, make, upload

THUMBS = ("a-256x256.jpg", "a-64x64.jpg")
PROFILE_TEMPLATE = "{dir}/{stem}_{srcext}_{size}.{ext}"


@pytest.fixture
def buckets() -> dict[str, CountingStore]:
    return {SOURCE: CountingStore(SOURCE), DEST: CountingStore(DEST)}


def _owners(buckets: dict[str, CountingStore]) -> dict[str, str]:
    """Output key -> the source it records."""
    store = buckets[DEST].inner
    return {i.key: decode_meta_value(store.head(i.key).metadata[META_SOURCE]) for i in store.list()}


def _revisions(buckets: dict[str, CountingStore]) -> dict[str, str]:
    return {i.key: i.revision for i in buckets[DEST].inner.list()}


def test_the_first_source_owns_a_shared_key_and_the_other_fails_naming_both(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    upload(buckets, "a.jpeg", jpeg_bytes(180, 320))
    assert make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpg")).status is Status.OK
    before, puts = _revisions(buckets), buckets[DEST].calls["put"]

    for _ in range(2):  # and its redelivery: the same answer, nothing written, no retry
        outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpeg"))
        assert (outcome.status, outcome.error_kind) == (Status.FAILED, "output_conflict")
        assert f"{SOURCE}/a.jpg" in (outcome.error_message or "") and f"{SOURCE}/a.jpeg" in (
            outcome.error_message or ""
        )
    assert buckets[SOURCE].calls["get"] == 1, "the loser is refused before its download"
    assert (_revisions(buckets), buckets[DEST].calls["put"]) == (before, puts)
    assert _owners(buckets) == dict.fromkeys(THUMBS, "a.jpg")
    again = make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpg"))
    assert (again.status, again.reason) == (Status.SKIPPED, SkipReason.UNCHANGED)


def test_identical_bytes_never_make_another_sources_output_current(buckets: dict[str, CountingStore]) -> None:
    """a.jpg and a.jpeg with the same bytes have one ETag: a.jpeg must not claim a.jpg's thumbnails as its own."""
    body = jpeg_bytes(320, 240)
    upload(buckets, "a.jpg", body)
    upload(buckets, "a.jpeg", body)
    make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpg"))
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpeg"))
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "output_conflict")


def test_deleting_the_other_source_keeps_the_owners_thumbnails(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    upload(buckets, "a.jpeg", jpeg_bytes(180, 320))
    thumbnailer = make(buckets)
    thumbnailer.handle(ObjectEvent.created(SOURCE, "a.jpg"))
    thumbnailer.handle(ObjectEvent.created(SOURCE, "a.jpeg"))
    before = _revisions(buckets)
    buckets[SOURCE].inner.delete("a.jpeg")

    outcome = thumbnailer.handle(ObjectEvent.deleted(SOURCE, "a.jpeg"))

    assert outcome.status is Status.OK
    assert {(o.key, o.action) for o in outcome.outputs} == {(key, Action.OTHER_SOURCE) for key in THUMBS}
    assert _revisions(buckets) == before and _owners(buckets) == dict.fromkeys(THUMBS, "a.jpg")
    buckets[SOURCE].inner.delete("a.jpg")
    gone = thumbnailer.handle(ObjectEvent.deleted(SOURCE, "a.jpg"))
    assert {o.action for o in gone.outputs} == {Action.DELETED} and _revisions(buckets) == {}


def test_an_orphan_is_taken_over_by_the_source_now_mapping_to_its_key(buckets: dict[str, CountingStore]) -> None:
    """a.jpeg rendered, then deleted with THUMBS_ON_DELETE=keep: its thumbnails are orphans; a.jpg takes them."""
    upload(buckets, "a.jpeg", jpeg_bytes(180, 320))
    make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpeg"))
    buckets[SOURCE].inner.delete("a.jpeg")
    assert make(buckets, THUMBS_ON_DELETE="keep").handle(ObjectEvent.deleted(SOURCE, "a.jpeg")).reason is (
        SkipReason.KEPT
    )
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))

    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpg"))

    assert outcome.status is Status.OK and {o.action for o in outcome.outputs} == {Action.WRITTEN}
    assert _owners(buckets) == dict.fromkeys(THUMBS, "a.jpg")


def test_two_sources_racing_for_a_key_end_with_one_owner_and_a_conflict(buckets: dict[str, CountingStore]) -> None:
    """a.jpeg looked at its keys (free) and rendered; a.jpg wrote them first: a.jpeg's put loses, and that is a
    conflict (permanent), not a race to retry; nothing of a.jpeg stays."""
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    upload(buckets, "a.jpeg", jpeg_bytes(180, 320))
    rival = make(buckets)

    def a_jpg_wins(key: str) -> None:
        buckets[DEST].before_put = None
        assert rival.handle(ObjectEvent.created(SOURCE, "a.jpg")).status is Status.OK

    buckets[DEST].before_put = a_jpg_wins
    outcome = make(buckets).handle(ObjectEvent.created(SOURCE, "a.jpeg"))

    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "output_conflict")
    assert _owners(buckets) == dict.fromkeys(THUMBS, "a.jpg")


def test_a_failed_delete_deletes_nothing_and_its_event_says_it_was_a_delete(tmp_path: Path) -> None:
    stores: dict[str, MemoryStorage] = {}
    events = tmp_path / "events.jsonl"
    environ = {"THUMBS_DEST_BUCKET": DEST, "THUMBS_SIZES": "256x256,64x64", "THUMBS_NOTIFY": f"file:{events}"}
    runtime = FunctionRuntime(lambda name: stores.setdefault(name, MemoryStorage(name)), environ=environ)
    from core.delivery import deliver

    stores.setdefault(SOURCE, MemoryStorage(SOURCE)).put("cat.jpg", jpeg_bytes(320, 240), content_type="image/jpeg")
    deliver(runtime, lambda: ObjectEvent.created(SOURCE, "cat.jpg"), route="test")
    stores[DEST].put("cat-64x64.jpg", b"the user's own file", content_type="image/jpeg")  # no polythumb marker
    stores[SOURCE].delete("cat.jpg")

    [result] = deliver(runtime, lambda: ObjectEvent.deleted(SOURCE, "cat.jpg"), route="test").results
    assert result.outcome is not None
    assert (result.outcome.status, result.outcome.error_kind, str(result.outcome.kind)) == (
        Status.FAILED, "output_conflict", "deleted",
    )  # fmt: skip
    assert "refusing to delete" in (result.outcome.error_message or "")
    assert sorted(i.key for i in stores[DEST].list()) == ["cat-256x256.jpg", "cat-64x64.jpg"]  # nothing half-done
    failed = read_events(events)[-1]
    assert (failed["data"]["status"], failed["data"]["kind"]) == ("failed", "deleted")


# -- manifests ------------------------------------------------------------------------------------------------


def test_the_default_manifest_key_is_one_per_source(buckets: dict[str, CountingStore]) -> None:
    """a.jpg and a.png get thumbnails of their own (.jpg, .png) and, now, manifests of their own."""
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    upload(buckets, "a.png", png_rgba_bytes(200, 100))
    for key in ("a.jpg", "a.png"):
        assert make(buckets, THUMBS_MANIFEST="true").handle(ObjectEvent.created(SOURCE, key)).status is Status.OK
    owners = _owners(buckets)
    assert (owners["a.jpg.thumbs.json"], owners["a.png.thumbs.json"]) == ("a.jpg", "a.png")
    listed = json.loads(buckets[DEST].inner.get("a.jpg.thumbs.json").body)
    assert {o["key"] for o in listed["outputs"]} == set(THUMBS)


def test_a_manifest_at_the_old_default_key_is_removed_when_its_source_is_rendered_or_deleted(
    buckets: dict[str, CountingStore],
) -> None:
    """Deployments upgrading from ``{dir}/{stem}.thumbs.json``: the old manifest goes once its source is handled
    again, and only if it names that source."""
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    upload(buckets, "b.png", png_rgba_bytes(200, 100))
    old = {"THUMBS_MANIFEST": "true", "THUMBS_MANIFEST_KEY": "{dir}/{stem}.thumbs.json"}
    for key in ("a.jpg", "b.png"):
        make(buckets, **old).handle(ObjectEvent.created(SOURCE, key))
    assert {"a.thumbs.json", "b.thumbs.json"} <= set(_owners(buckets))
    upgraded = make(buckets, THUMBS_MANIFEST="true")

    rendered = upgraded.handle(ObjectEvent.created(SOURCE, "a.jpg"))  # thumbnails current: only the manifest
    assert rendered.status is Status.OK and rendered.manifest is not None
    assert rendered.manifest.key == "a.jpg.thumbs.json" and {o.action for o in rendered.outputs} == {Action.UNCHANGED}
    owners = _owners(buckets)
    assert "a.thumbs.json" not in owners and owners["a.jpg.thumbs.json"] == "a.jpg"

    buckets[SOURCE].inner.delete("b.png")
    assert upgraded.handle(ObjectEvent.deleted(SOURCE, "b.png")).status is Status.OK
    assert sorted(_owners(buckets)) == ["a-256x256.jpg", "a-64x64.jpg", "a.jpg.thumbs.json"]


def test_an_old_manifest_of_another_source_stays(buckets: dict[str, CountingStore]) -> None:
    upload(buckets, "a.png", png_rgba_bytes(200, 100))
    make(buckets, THUMBS_MANIFEST="true", THUMBS_MANIFEST_KEY="{dir}/{stem}.thumbs.json").handle(
        ObjectEvent.created(SOURCE, "a.png")
    )
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    make(buckets, THUMBS_MANIFEST="true").handle(ObjectEvent.created(SOURCE, "a.jpg"))
    assert _owners(buckets)["a.thumbs.json"] == "a.png"


# -- {srcext}: a key per source in every template ----------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"THUMBS_KEY_TEMPLATE": "{dir}/{stem}.{srcext}-{width}x{height}.{ext}"},
        {"THUMBS_PROFILES": json.dumps({"profiles": {"all": {"match": "*", "key_template": PROFILE_TEMPLATE}}})},
    ],
    ids=["THUMBS_KEY_TEMPLATE", "profile key_template"],
)
def test_srcext_gives_sources_that_differ_in_extension_their_own_keys(
    buckets: dict[str, CountingStore], settings: dict[str, str]
) -> None:
    upload(buckets, "a.jpg", jpeg_bytes(320, 240))
    upload(buckets, "a.jpeg", jpeg_bytes(180, 320))
    thumbnailer = make(buckets, THUMBS_MANIFEST="true", THUMBS_MANIFEST_KEY="{dir}/{stem}.{srcext}.json", **settings)
    for key in ("a.jpg", "a.jpeg"):
        assert thumbnailer.handle(ObjectEvent.created(SOURCE, key)).status is Status.OK
    owners = _owners(buckets)
    assert len(owners) == 6 and sorted(set(owners.values())) == ["a.jpeg", "a.jpg"]
    assert (owners["a.jpg.json"], owners["a.jpeg.json"]) == ("a.jpg", "a.jpeg")
    assert template_collisions(thumbnailer.config) == []


# -- polythumb config and backfill --dry-run ------------------------------------------------------------------


def test_config_says_which_templates_can_give_two_sources_one_key() -> None:
    [default] = template_collisions(load_config({}))
    assert "THUMBS_KEY_TEMPLATE" in default and "jpg, jpeg, jpe, jfif -> .jpg" in default and "{srcext}" in default
    assert "gif" in default and "output_conflict" in default
    manifest = template_collisions(load_config({"THUMBS_MANIFEST": "true", "THUMBS_MANIFEST_KEY": "{dir}/{stem}.json",
                                                "THUMBS_KEY_TEMPLATE": "{dir}/{name}-{size}.{ext}"}))  # fmt: skip
    assert len(manifest) == 1 and "THUMBS_MANIFEST_KEY" in manifest[0]
    [flat] = template_collisions(load_config({"THUMBS_KEY_TEMPLATE": "thumbs/{name}-{size}.{ext}"}))
    assert "no {dir}" in flat
    assert (
        template_collisions(
            load_config({"THUMBS_MANIFEST": "true", "THUMBS_KEY_TEMPLATE": "{dir}/{name}-{size}.{ext}"})
        )
        == []
    )


def test_backfill_dry_run_lists_the_sources_that_share_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.ops.cli import main

    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for name in ("d/a.jpg", "d/a.jpeg", "d/a.JPG", "d/b.jpg", "x.png", "x.gif"):
        (src / name).write_bytes(jpeg_bytes(40, 30) if not name.endswith(("png", "gif")) else png_rgba_bytes(20, 20))
    assert main(["backfill", str(src), "--out", str(tmp_path / "out"), "--dry-run", "--json", "--sizes", "64"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["collisions"] == 2
    assert plan["collision_samples"] == [
        {"key": "d/a-64x64.jpg", "sources": ["d/a.JPG", "d/a.jpeg", "d/a.jpg"]},
        {"key": "x-64x64.png", "sources": ["x.gif", "x.png"]},
    ]
    assert main(["backfill", str(src), "--out", str(tmp_path / "out"), "--dry-run", "--sizes", "64"]) == 0
    assert "collisions        2" in capsys.readouterr().out
    apart = ["--key-template", "{dir}/{stem}.{srcext}-{size}.{ext}"]
    assert (
        main(["backfill", str(src), "--out", str(tmp_path / "out"), "--dry-run", "--json", "--sizes", "64", *apart])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["collisions"] == 0


def test_a_backfill_of_sources_sharing_keys_converges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run reports the conflict (exit 1) and writes nothing more: the destination is a fixed point."""
    from core.ops.cli import main
    from core.storage import FilesystemStorage

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.jpg").write_bytes(jpeg_bytes(320, 240))
    (src / "a.jpeg").write_bytes(jpeg_bytes(180, 320))
    (src / "b.jpg").write_bytes(jpeg_bytes(100, 100))
    monkeypatch.chdir(tmp_path)  # the checkpoint files
    command = ["backfill", str(src), "--out", str(out), "--json", "--sizes", "64", "--workers", "1", "--no-progress"]

    def snapshot() -> dict[str, tuple[str, str]]:
        dest = FilesystemStorage(out)
        return {i.key: (i.revision, decode_meta_value(dest.head(i.key).metadata[META_SOURCE])) for i in dest.list()}

    runs = []
    for _ in range(3):
        assert main(command) == 1
        runs.append((snapshot(), json.loads(capsys.readouterr().out)))
    (first, summary), *later = runs
    assert first == {
        "a-64x64.jpg": (first["a-64x64.jpg"][0], "a.jpeg"),
        "b-64x64.jpg": (first["b-64x64.jpg"][0], "b.jpg"),
    }
    assert summary["plan"]["collisions"] == 1 and summary["failed"] == 1
    for state, result in later:
        assert state == first, "a later run rewrote a thumbnail: the backfill does not converge"
        assert (result["rendered"], result["failed"]) == (0, 1)


def test_backfill_delete_orphans_moves_every_manifest_off_the_old_default_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bulk migration: manifests at ``{dir}/{stem}.thumbs.json`` are orphans of the new default key (their
    source no longer writes that key); a backfill writes the new ones and --delete-orphans removes the old."""
    from core.ops.cli import main

    src, out = tmp_path / "src", tmp_path / "out"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.jpg").write_bytes(jpeg_bytes(320, 240))
    (src / "d" / "b.png").write_bytes(png_rgba_bytes(200, 100))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUMBS_MANIFEST", "true")
    base = ["backfill", str(src), "--out", str(out), "--json", "--sizes", "64", "--workers", "1", "--no-progress"]
    monkeypatch.setenv("THUMBS_MANIFEST_KEY", "{dir}/{stem}.thumbs.json")  # what an earlier release wrote
    assert main(base) == 0
    monkeypatch.delenv("THUMBS_MANIFEST_KEY")  # the upgrade: the default again, one manifest per source
    capsys.readouterr()
    assert (out / "d" / "a.thumbs.json").exists() and (out / "d" / "b.thumbs.json").exists()

    assert main([*base, "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["orphaned"], plan["orphan_reasons"], plan["samples"]["orphaned"]) == (
        2, {"not_configured": 2}, ["d/a.thumbs.json", "d/b.thumbs.json"],
    )  # fmt: skip
    assert main([*base, "--delete-orphans"]) == 0
    capsys.readouterr()
    manifests = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.thumbs.json") if ".polythumb" not in p.parts)
    assert manifests == ["d/a.jpg.thumbs.json", "d/b.png.thumbs.json"]
