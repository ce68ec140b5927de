"""A local backfill killed half-way (SIGKILL, workers included) and resumed from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.config import load_config
from core.keys import META_PARAMS, META_SOURCE_REVISION, decode_meta_value, output_format, output_keys
from core.keys import render_params_digest as digest
from core.storage import FilesystemStorage
from tests.images import encode, gradient

ROOT = Path(__file__).parents[1]
SIZES = "64x64,32x32"
COUNT = 300


def _backfill(src: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "core.ops.cli", "backfill", str(src), "--out", str(out), "--sizes", SIZES,
        "--workers", "2", "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", "--json", *extra,
    ]  # fmt: skip


def _write_pictures(src: Path, count: int, *, batches: int) -> list[str]:
    """``count`` identical 800x600 PNGs under ``batches`` folders of ``src``; their keys, sorted."""
    picture = encode(gradient(800, 600), "PNG")  # a PNG decodes in full: each render takes real time
    keys = sorted(f"batch{i % batches}/pic{i:03}.png" for i in range(count))
    for key in keys:
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(picture)
    return keys


def _start_backfill(src: Path, out: Path, checkpoint: Path, *, cwd: Path) -> subprocess.Popen[str]:
    """The CLI in its own session: it and its pool workers form one process group, signalled together."""
    return subprocess.Popen(
        _backfill(src, out, checkpoint), cwd=cwd, env=_env(), text=True, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _complete(src: FilesystemStorage, out: FilesystemStorage, key: str) -> bool:
    """Whether every thumbnail of ``key`` exists and renders its current revision with these settings."""
    config = load_config({}, overrides={"THUMBS_SIZES": SIZES})
    revision = src.head(key).revision
    for box, thumb in output_keys(config, key).items():
        try:
            meta = out.head(thumb).metadata
        except FileNotFoundError:
            return False
        if decode_meta_value(meta.get(META_SOURCE_REVISION, "")) != revision:
            return False
        if meta.get(META_PARAMS) != digest(config, output_format(config, key), box):
            return False
    return True


def _wait_for_progress(process: subprocess.Popen[str], checkpoint: Path, *, at_least: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the backfill ended before it could be interrupted"
        try:
            saved: dict[str, Any] = json.loads(checkpoint.read_text())
        except (FileNotFoundError, ValueError):  # not written yet (the write itself is atomic)
            saved = {}
        if saved.get("done", 0) >= at_least:
            return saved
        time.sleep(0.01)
    raise AssertionError("no checkpoint progress within 60 s")


def test_killed_backfill_resumes_after_its_checkpoint_and_ends_with_one_correct_set(tmp_path: Path) -> None:
    src, out, checkpoint = tmp_path / "src", tmp_path / "out", tmp_path / "run.checkpoint.json"
    keys = _write_pictures(src, COUNT, batches=3)
    env = _env()

    first = _start_backfill(src, out, checkpoint, cwd=tmp_path)
    try:
        _wait_for_progress(first, checkpoint, at_least=COUNT // 3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    saved = json.loads(checkpoint.read_text())
    assert saved["finished"] is False and saved["done"] < COUNT

    mark = saved["last_key"]
    before = [key for key in keys if key <= mark]
    source, dest = FilesystemStorage(src), FilesystemStorage(out)
    assert len(before) == saved["done"]  # every source was missing, so each is one work item
    assert all(_complete(source, dest, key) for key in before)
    unfinished = [key for key in keys if key > mark and not _complete(source, dest, key)]

    resumed = subprocess.run(
        _backfill(src, out, checkpoint, "--resume"), cwd=tmp_path, env=env, text=True, capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_after"] == mark
    assert summary["skipped_before_checkpoint"] == len(before)  # nothing before the mark was looked at again
    assert summary["rendered"] == len(unfinished)  # finished work after the mark is found current, not redone
    assert summary["unchanged"] == 0 and summary["failed"] == 0
    assert json.loads(checkpoint.read_text())["finished"] is True

    # Exactly one correct set per image, and nothing else.
    config = load_config({}, overrides={"THUMBS_SIZES": SIZES})
    expected = {thumb for key in keys for thumb in output_keys(config, key).values()}
    assert {info.key for info in dest.list()} == expected
    assert all(_complete(source, dest, key) for key in keys)
    final = subprocess.run(
        [*_backfill(src, out, checkpoint), "--dry-run"], cwd=tmp_path, env=env, text=True, capture_output=True,
        timeout=120,
    )  # fmt: skip
    report = json.loads(final.stdout)
    assert (report["missing"], report["stale"], report["orphaned"], report["current"]) == (0, 0, 0, COUNT)
