"""Building blocks of a resumable backfill: watermark, checkpoint file, spool, orphan re-checks, local mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, load_config
from core.errors import ConfigError
from core.keys import Provenance
from core.ops.backfill.checkpoint import Checkpoint, CheckpointWriter, Watermark, load_checkpoint, save_checkpoint
from core.ops.backfill.executor import run_local
from core.ops.backfill.job import checkpoint_directory
from core.ops.backfill.orphans import OrphanAction, delete_orphan
from core.ops.backfill.planner import Orphan, OrphanReason, PlanEntry, Planner, SourceStatus
from core.ops.backfill.spool import Spool
from core.storage import MemoryStorage, ObjectInfo, Storage
from tests.images import jpeg_bytes

ROOT = Path(__file__).resolve().parents[1]
JOB = {"target": "local", "source": "/src", "dest": "/out", "prefix": ""}


def test_the_watermark_advances_only_over_contiguous_completed_keys() -> None:
    mark = Watermark()
    tokens = {key: mark.register(key) for key in ("a", "b", "c", "d")}
    mark.complete(tokens["b"])
    mark.complete(tokens["d"])
    assert (mark.low, mark.count, mark.in_flight) == (None, 0, 4)
    mark.complete(tokens["a"])
    assert (mark.low, mark.count) == ("b", 2)
    mark.complete(tokens["c"])
    assert (mark.low, mark.count, mark.in_flight) == ("d", 4, 0)
    with pytest.raises(ValueError, match="increasing key order"):
        mark.register("c")


def test_checkpoint_files_are_replaced_atomically_and_checked_against_the_job(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "ck.json"
    save_checkpoint(path, Checkpoint(job=JOB, last_key="photos/ü.jpg", done=3))
    save_checkpoint(path, Checkpoint(job=JOB, last_key="photos/z.jpg", done=9))

    assert [p.name for p in path.parent.iterdir()] == ["ck.json"]  # no temporary file left behind
    loaded = load_checkpoint(path, job=JOB)
    assert loaded is not None and (loaded.last_key, loaded.done, loaded.finished) == ("photos/z.jpg", 9, False)
    assert load_checkpoint(tmp_path / "none.json", job=JOB) is None
    with pytest.raises(ConfigError, match="belongs to another backfill"):
        load_checkpoint(path, job={**JOB, "prefix": "other/"})
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable backfill checkpoint"):
        load_checkpoint(path, job=JOB)


def test_the_writer_saves_at_most_once_per_interval_and_marks_the_end(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "ck.json"
    writer = CheckpointWriter(path, JOB, start=Checkpoint(job=JOB, last_key="a", done=5), interval=1.0,
                              clock=lambda: now[0])  # fmt: skip
    mark = Watermark()
    mark.complete(mark.register("b"))
    writer.update(mark)
    assert json.loads(path.read_text())["last_key"] == "b"
    mark.complete(mark.register("c"))
    now[0] = 0.5
    writer.update(mark)
    assert json.loads(path.read_text())["last_key"] == "b"  # too soon
    now[0] = 1.5
    writer.update(mark)
    saved = json.loads(path.read_text())
    assert (saved["last_key"], saved["done"], saved["finished"]) == ("c", 7, False)
    mark.register("d")
    writer.finish(mark)
    assert json.loads(path.read_text())["finished"] is False  # "d" never completed
    fresh = CheckpointWriter(path, JOB, start=Checkpoint(job=JOB, last_key="a", done=5))
    fresh.finish(Watermark())
    saved = json.loads(path.read_text())
    assert (saved["last_key"], saved["done"], saved["finished"]) == ("a", 5, True)  # resumed with nothing left


def test_the_spool_reads_back_what_was_written_repeatably() -> None:
    entries = [
        PlanEntry("a.jpg", ObjectInfo(key="a.jpg", size=1, etag="x"), SourceStatus.MISSING, ("a-1x1.jpg",)),
        PlanEntry("b.jpg", orphans=(Orphan("b-1x1.jpg", "b.jpg", OrphanReason.SOURCE_MISSING),)),
    ]
    with Spool() as spool:
        for entry in entries:
            spool.write(entry)
        assert len(spool) == 2
        assert list(spool) == entries
        assert list(spool) == entries


# -- orphans are checked again just before they go -------------------------------------------------------------


ORPHAN = Orphan("a-256x256.jpg", "a.jpg", OrphanReason.SOURCE_MISSING)


@pytest.fixture
def orphan_stores() -> tuple[MemoryStorage, MemoryStorage]:
    """The source (``a.jpg`` gone) and the destination holding :data:`ORPHAN`, its thumbnail."""
    source, thumbs = MemoryStorage("photos"), MemoryStorage("thumbs")
    config = _orphan_config()
    [output] = config.profiles.outputs_for("a.jpg")
    meta = Provenance.of(output.spec, bucket="photos", source_key="a.jpg", revision="r", box=output.box,
                         dimensions=(256, 192)).to_metadata()  # fmt: skip
    thumbs.put(ORPHAN.key, b"thumb", content_type="image/jpeg", metadata=meta)
    return source, thumbs


def _orphan_config() -> Config:
    return load_config({}, overrides={"THUMBS_DEST_BUCKET": "thumbs"})


def _delete(stores: tuple[MemoryStorage, MemoryStorage]) -> OrphanAction:
    source, thumbs = stores
    return delete_orphan(ORPHAN, source=source, dest=thumbs, config=_orphan_config())


def test_an_orphan_is_deleted_only_while_it_still_is_one(orphan_stores: tuple[MemoryStorage, MemoryStorage]) -> None:
    source, _ = orphan_stores
    source.put("a.jpg", b"back again", content_type="image/jpeg")
    assert _delete(orphan_stores) is OrphanAction.KEPT
    source.delete("a.jpg")
    assert _delete(orphan_stores) is OrphanAction.DELETED
    assert _delete(orphan_stores) is OrphanAction.ABSENT


def test_a_user_file_put_over_an_orphan_is_never_deleted(orphan_stores: tuple[MemoryStorage, MemoryStorage]) -> None:
    _, thumbs = orphan_stores
    thumbs.put(ORPHAN.key, b"mine now", content_type="image/jpeg")
    assert _delete(orphan_stores) is OrphanAction.KEPT
    assert thumbs.get(ORPHAN.key).body == b"mine now"


# -- local mode in one process -----------------------------------------------------------------------------------


def test_local_mode_reports_failures_moves_past_them_and_counts_unchanged(tmp_path: Path) -> None:
    source, thumbs = MemoryStorage("photos"), MemoryStorage("thumbs")
    stores: dict[str, Storage] = {"photos": source, "thumbs": thumbs}
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": "thumbs", "THUMBS_SIZES": "32x32"})
    for key in ("a.jpg", "c.jpg"):
        source.put(key, jpeg_bytes(64, 48), content_type="image/jpeg")
    source.put("b.jpg", b"<html>502 Bad Gateway</html>", content_type="image/jpeg")
    entries = list(Planner(source, thumbs, config).entries())
    source.delete("c.jpg")  # gone between the plan and the work: skipped, not failed
    path = tmp_path / "ck.json"

    seen: list[str] = []
    summary = run_local(
        entries,
        config=config,
        source_bucket="photos",
        dest_bucket="thumbs",
        open_bucket=stores.__getitem__,
        checkpoint=CheckpointWriter(path, JOB),
        on_result=lambda result, counts: seen.append(f"{result.key}:{result.render}:{result.error_kind}"),
    )

    assert seen == ["a.jpg:rendered:None", "b.jpg:failed:not_an_image", "c.jpg:unchanged:None"]
    assert (summary.rendered, summary.failed, summary.unchanged, summary.entries) == (1, 1, 1, 3)
    saved = json.loads(path.read_text())
    assert (saved["last_key"], saved["done"], saved["finished"]) == ("c.jpg", 3, True)


# -- where the checkpoint lives ------------------------------------------------------------------------------------


def _backfill(cwd: Path, src: Path, out: Path, *extra: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """``polythumb backfill SRC --out OUT`` in ``cwd``: its JSON summary and its stderr."""
    command = [sys.executable, "-m", "core.ops.cli", "backfill", str(src), "--out", str(out), "--sizes", "32x32",
               "--workers", "1", "--json", "--no-progress", *extra]  # fmt: skip
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


@pytest.fixture
def operator(tmp_path: Path) -> dict[str, Path]:
    """An operator's folders: an empty working directory, a home, a cache, sources (two jobs' destinations)."""
    places = {name: tmp_path / name for name in ("work", "home", "cache", "src", "out", "out2")}
    for place in places.values():
        place.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (places["src"] / name).write_bytes(jpeg_bytes(64, 48))
    return places


def _environment(operator: dict[str, Path], *, cache: bool = True) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "XDG_"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(operator["home"]))
    if cache:
        env["XDG_CACHE_HOME"] = str(operator["cache"])
    return env


def test_the_default_checkpoint_is_one_per_job_in_the_users_cache_and_never_in_the_working_directory(
    operator: dict[str, Path],
) -> None:
    env, work = _environment(operator), operator["work"]
    first, _ = _backfill(work, operator["src"], operator["out"], env=env)
    second, _ = _backfill(work, operator["src"], operator["out2"], env=env)  # another job: another file
    folder = operator["cache"] / "polythumb" / "backfill"
    assert sorted(folder.iterdir()) == sorted({Path(first["checkpoint"]), Path(second["checkpoint"])})
    assert first["checkpoint"] != second["checkpoint"]
    resumed, _ = _backfill(work, operator["src"], operator["out"], "--resume", env=env)
    assert (resumed["checkpoint"], resumed["resumed_after"]) == (first["checkpoint"], "b.jpg")
    given, _ = _backfill(work, operator["src"], operator["out"], "--checkpoint", "mine.json", env=env)
    assert given["checkpoint"] == "mine.json" and sorted(p.name for p in work.iterdir()) == ["mine.json"]
    (work / "mine.json").unlink()
    without_xdg, _ = _backfill(work, operator["src"], operator["out"], env=_environment(operator, cache=False))
    assert Path(without_xdg["checkpoint"]).parent == operator["home"] / ".cache" / "polythumb" / "backfill"
    assert list(work.iterdir()) == []  # a run from a checkout leaves nothing in it


def test_a_resume_moves_a_checkpoint_an_older_version_left_in_the_working_directory(
    operator: dict[str, Path],
) -> None:
    env, work = _environment(operator), operator["work"]
    done, _ = _backfill(work, operator["src"], operator["out"], env=env)
    current = Path(done["checkpoint"])
    digest = current.stem.rsplit("-", 1)[1]
    legacy = work / f".polythumb-backfill-{digest}.json"
    current.replace(legacy)  # where the versions before the cache directory wrote it
    planned, _ = _backfill(work, operator["src"], operator["out"], "--resume", "--dry-run", env=env)
    assert planned["resumed_after"] == "b.jpg" and legacy.exists()  # a dry run reads it where it is
    resumed, stderr = _backfill(work, operator["src"], operator["out"], "--resume", env=env)
    assert (resumed["resumed_after"], resumed["checkpoint"]) == ("b.jpg", str(current))
    assert f"moved the checkpoint {legacy}" in stderr
    assert list(work.iterdir()) == [] and current.exists()


def test_the_cache_directory_follows_xdg_and_ignores_a_relative_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/op")
    assert checkpoint_directory({"XDG_CACHE_HOME": "/var/cache/op"}) == Path("/var/cache/op/polythumb/backfill")
    assert checkpoint_directory({"XDG_CACHE_HOME": "rel"}) == Path("/home/op/.cache/polythumb/backfill")
    assert checkpoint_directory({}) == Path("/home/op/.cache/polythumb/backfill")
