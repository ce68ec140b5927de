"""Temporaries of the filesystem backend: where writes stage their bytes, and what a killed run leaves.

Issue 17: a process killed mid-write left ``.polythumb-tmp-<id>-<key>`` files beside the thumbnails for
good. Temporaries now live under the destination's reserved ``.polythumb/tmp/`` (same filesystem, so the
rename stays atomic), and every run, watch and backfill (and resume) removes those older than an hour.
Issue 20: only those polythumb created (in its area, or recorded there), never a user's file named alike.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.ops.runner import run_directory
from core.storage import FilesystemStorage
from core.storage.filesystem import RESERVED_DIR, STALE_TEMPORARY_AGE, TMP_DIR
from tests.images import jpeg_bytes
from tests.rigs.base import current_keys
from tests.rigs.local import BACKFILL_SIZES as SIZES
from tests.rigs.local import backfill_command, backfill_environment, start_backfill, write_pictures

COUNT = 160
HOURS_AGO = time.time() - 2 * STALE_TEMPORARY_AGE


def _temporaries(root: Path) -> list[Path]:
    """Every temporary under ``root``: in the reserved area, or beside a target (the old layout)."""
    staged = list((root / RESERVED_DIR / TMP_DIR).glob("*")) if (root / RESERVED_DIR / TMP_DIR).is_dir() else []
    beside = [Path(d) / n for d, _, names in os.walk(root) for n in names if n.startswith(".polythumb-tmp-")]
    return staged + beside


def test_writes_stage_their_bytes_under_the_reserved_area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemStorage(tmp_path)
    staged: list[Path] = []
    real_replace, real_link = os.replace, os.link

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        staged.append(Path(src))
        real_replace(src, dst)

    def link(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        staged.append(Path(src))
        real_link(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "link", link)
    store.put("a/b/photo-64x64.jpg", b"x", content_type="image/jpeg")  # create-only would link; this replaces
    store.put("a/b/new.jpg", b"y", content_type="image/jpeg", if_none_match=True)

    assert staged and all(p.parent == tmp_path / RESERVED_DIR / TMP_DIR for p in staged)
    assert _temporaries(tmp_path) == []  # nothing left once the writes are done
    assert [info.key for info in store.list()] == ["a/b/new.jpg", "a/b/photo-64x64.jpg"]


def test_the_sweep_removes_only_stale_temporaries(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    store.put("kept/photo.jpg", b"user's photo", content_type="image/jpeg")
    area = tmp_path / RESERVED_DIR / TMP_DIR
    area.mkdir(parents=True, exist_ok=True)
    stale, fresh = area / "dead-writer-photo-64x64.jpg", area / "live-writer-photo-32x32.jpg"
    # Named like the temporaries older versions left beside their targets, but nothing records it as one of
    # polythumb's: it may be a user's file (issue 20), so it stays.
    lookalike = tmp_path / "kept" / ".polythumb-tmp-0a1b2c-photo-64x64.jpg"
    for path in (stale, fresh, lookalike):
        path.write_bytes(b"half a thumbnail")
    os.utime(stale, (HOURS_AGO, HOURS_AGO))
    os.utime(lookalike, (HOURS_AGO, HOURS_AGO))
    os.utime(tmp_path / "kept" / "photo.jpg", (HOURS_AGO, HOURS_AGO))  # old, but not a temporary

    assert store.sweep_temporaries() == 1

    assert _temporaries(tmp_path) == [fresh, lookalike]  # a concurrent writer's temporary is never touched
    assert store.get("kept/photo.jpg").body == b"user's photo"
    assert (tmp_path / RESERVED_DIR / "meta").is_dir()  # the metadata sidecars are not temporaries


def test_a_run_in_place_never_removes_a_users_file_named_like_a_temporary(tmp_path: Path) -> None:
    """Issue 20: with DEST == SRC, the sweep removed any old ``.polythumb-tmp-*`` file, originals included."""
    photos = tmp_path / "photos"
    (photos / "2019").mkdir(parents=True)
    (photos / "a.jpg").write_bytes(jpeg_bytes())
    users = [photos / ".polythumb-tmp-holiday.jpg", photos / "2019" / ".polythumb-tmp-0123456789abcdef-x.jpg"]
    for path in users:
        path.write_bytes(b"a user's file")
        os.utime(path, (HOURS_AGO, HOURS_AGO))
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(photos), "THUMBS_SIZES": SIZES})

    assert run_directory(photos, config).failed == 0

    assert [path.read_bytes() for path in users] == [b"a user's file"] * 2


def _die_writing_beside(root: Path, key: str) -> None:
    """In a child process: write ``key`` as if its directory were another mount, and die before the rename."""
    FilesystemStorage._same_device = staticmethod(lambda first, second: False)  # type: ignore[method-assign]
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == Path(key).name:
            os._exit(9)  # killed: no cleanup runs
        real_replace(src, dst)

    os.replace = replace  # type: ignore[assignment]
    FilesystemStorage(root).put(key, b"thumbnail", content_type="image/jpeg")


def test_temporaries_beside_their_target_on_another_mount_are_recorded_and_swept(tmp_path: Path) -> None:
    writer = multiprocessing.get_context("fork").Process(
        target=_die_writing_beside, args=(tmp_path, "mnt/photo-64x64.jpg")
    )
    writer.start()
    writer.join(timeout=60)
    assert writer.exitcode == 9
    [left] = [p for p in (tmp_path / "mnt").iterdir() if p.name.startswith(".polythumb-tmp-")]
    lookalike = tmp_path / "mnt" / ".polythumb-tmp-feedfacefeedface-photo-64x64.jpg"  # unrecorded: not ours
    lookalike.write_bytes(b"a user's file")
    [record] = list((tmp_path / RESERVED_DIR / TMP_DIR).glob("*.beside"))
    store = FilesystemStorage(tmp_path)
    assert store.sweep_temporaries() == 0  # not stale yet: perhaps a live writer's

    for path in (left, lookalike, record):
        os.utime(path, (HOURS_AGO, HOURS_AGO))
    assert store.sweep_temporaries() == 1

    assert not left.exists() and lookalike.exists()
    assert list((tmp_path / RESERVED_DIR / TMP_DIR).iterdir()) == []


def test_run_sweeps_its_destination_first(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.jpg").write_bytes(jpeg_bytes())
    (out / RESERVED_DIR / TMP_DIR).mkdir(parents=True)
    left = out / RESERVED_DIR / TMP_DIR / "killed-a-64x64.jpg"
    left.write_bytes(b"partial")
    os.utime(left, (HOURS_AGO, HOURS_AGO))
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(out), "THUMBS_SIZES": SIZES})

    assert run_directory(src, config).ok == 1
    assert _temporaries(out) == []


def _stop_mid_write(process: subprocess.Popen[str], out: Path) -> list[Path]:
    """Freeze the run (SIGSTOP, workers included) while a temporary exists, then SIGKILL it there."""
    area = out / RESERVED_DIR / TMP_DIR
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before a write could be interrupted"
        if area.is_dir() and any(area.iterdir()):
            os.killpg(process.pid, signal.SIGSTOP)
            caught = list(area.iterdir())  # still there now that nothing runs
            if caught:
                os.killpg(process.pid, signal.SIGKILL)
                return caught
            os.killpg(process.pid, signal.SIGCONT)  # renamed between the two looks: try the next write
    raise AssertionError("no write was caught in progress within 60 s")


def test_a_backfill_killed_mid_write_leaves_no_temporary_after_the_resume(tmp_path: Path) -> None:
    src, out, checkpoint = tmp_path / "src", tmp_path / "out", tmp_path / "run.checkpoint.json"
    keys = write_pictures(src, COUNT, batches=4)

    first = start_backfill(src, out, checkpoint, cwd=tmp_path)  # the CLI and its two workers, one group
    try:
        caught = _stop_mid_write(first, out)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    left = _temporaries(out)
    assert left and set(caught) <= set(left), "the kill left the temporaries of its writes in progress"
    assert all(p.parent == out / RESERVED_DIR / TMP_DIR for p in left), "none beside the thumbnails"
    dest = FilesystemStorage(out)
    assert not {p.name for p in left} & {Path(info.key).name for info in dest.list()}  # invisible to listings
    for path in left:  # an hour passes: they are stale now (a younger one could be a live writer's)
        os.utime(path, (HOURS_AGO, HOURS_AGO))

    resumed = subprocess.run(
        backfill_command(src, out, checkpoint, "--resume"), cwd=tmp_path, env=backfill_environment(), text=True,
        capture_output=True, timeout=120,
    )  # fmt: skip

    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["failed"] == 0
    assert _temporaries(out) == []
    config = load_config({}, overrides={"THUMBS_SIZES": SIZES})
    assert {info.key for info in dest.list()} == {o.key for key in keys for o in config.profiles.outputs_for(key)}
    source = FilesystemStorage(src)
    assert current_keys(config, source, dest, keys) == set(keys)
