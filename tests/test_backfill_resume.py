"""A backfill killed half-way (SIGKILL, its workers included) and resumed from its checkpoint, on every rig.

Written once for every platform (see :mod:`tests.rigs`): locally the CLI renders in its own worker
processes; on a cloud it hands work items to the platform (a queue drained into the real function, or
posts to the real function server) and the destination is read back. Some thumbnails exist before the
run -- current ones, stale ones (the original changed since) and orphans (the original is gone). The run
is SIGKILLed part-way and resumed: every image ends with exactly one correct set of thumbnails and
nothing else, and nothing before the checkpoint is looked at again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests import rigs
from tests.images import open_bytes
from tests.rigs.base import BackfillRig, current_keys

#: Keys whose encodings differ between envelopes and listings: space, plus, percent, non-ASCII.
TRICKY = ["plus+sign/a+b.jpg", "unicode/café/日本語 写真.jpg", "percent/100% off.jpg", "space dir/x y.jpg"]
TIMEOUT = 120


@pytest.fixture(params=rigs.names())
def backfill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackfillRig]:
    yield rigs.by_name(request.param).backfill(request, tmp_path)


def sources(rig: BackfillRig) -> list[str]:
    tricky = [key.removesuffix(".jpg") + rig.suffix for key in TRICKY]
    return sorted([f"photos/{i % 4}/img {i:03}{rig.suffix}" for i in range(rig.count - len(tricky))] + tricky)


def complete(rig: BackfillRig, keys: Sequence[str]) -> set[str]:
    """The keys whose every thumbnail renders their current revision with the rig's settings."""
    return current_keys(rig.config, rig.source, rig.dest, keys)


def run(rig: BackfillRig, checkpoint: Path, *extra: str) -> dict[str, Any]:
    finished = subprocess.run(
        rig.command(checkpoint, *extra), cwd=checkpoint.parent, env=rig.environment(), text=True,
        capture_output=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def wait_for_progress(process: subprocess.Popen[str], checkpoint: Path, *, at_least: int) -> None:
    """Return once ``checkpoint`` records ``at_least`` completed items, while ``process`` still runs."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the backfill ended before it could be interrupted"
        try:
            if json.loads(checkpoint.read_text()).get("done", 0) >= at_least:
                return
        except (FileNotFoundError, ValueError):
            pass  # not written yet, or caught between its temporary file and the rename
        time.sleep(0.01)
    raise AssertionError("no checkpoint progress within 60 s")


def test_killed_backfill_resumes_and_ends_with_one_correct_set_per_image(backfill: BackfillRig, tmp_path: Path) -> None:
    rig = backfill
    keys = sources(rig)
    for key in keys:
        rig.source.put(key, rig.body(), content_type=rig.content_type)

    # Some thumbnails exist already: current ones, stale ones (the original changed since) and orphans.
    current, stale = keys[5:8], keys[40:42]
    gone = [f"gone/old {i}{rig.suffix}" for i in (1, 2)]
    for key in gone:
        rig.source.put(key, rig.body(), content_type=rig.content_type)
    rig.render(current + stale + gone)
    for key in stale:
        rig.source.put(key, rig.body(1), content_type=rig.content_type)
    for key in gone:
        rig.source.delete(key)
    config = rig.config
    orphans = {output.key for key in gone for output in config.profiles.outputs_for(key)}
    assert orphans <= {info.key for info in rig.dest.list()}

    checkpoint = tmp_path / f"{rig.name}.checkpoint.json"
    plan = run(rig, checkpoint, "--dry-run")
    assert (plan["missing"], plan["stale"], plan["current"], plan["orphaned"]) == (
        rig.count - len(current) - len(stale), len(stale), len(current), len(orphans),
    )  # fmt: skip
    assert rig.settle() in (None, [])  # a dry run sends nothing
    assert complete(rig, keys) == set(current)  # and renders nothing

    # start_new_session: the CLI and its pool workers form one process group, killed together by its id.
    first = subprocess.Popen(
        rig.command(checkpoint, *rig.pace), cwd=tmp_path, env=rig.environment(), text=True,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_progress(first, checkpoint, at_least=rig.count // 3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    saved = json.loads(checkpoint.read_text())
    assert saved["finished"] is False and saved["done"] < rig.count
    mark = saved["last_key"]
    handled = rig.settle()  # what was handed to the platform before the kill is done by the function
    done = complete(rig, keys)
    up_to_mark = [key for key in keys if key <= mark]
    assert set(up_to_mark) <= done  # the checkpoint never runs ahead of the work
    if handled is not None:  # the platform says what it got: everything up to the mark was sent
        assert {key for key in up_to_mark if key not in current} <= set(handled)
    assert not orphans & {info.key for info in rig.dest.list()}  # orphans are deleted by the CLI itself
    unfinished = sorted(set(keys) - done)
    assert unfinished, "the first run finished everything before it was killed"
    assert all(key > mark for key in unfinished)

    # The dry run of the resumed job counts exactly what the resumed run then does.
    ahead = run(rig, checkpoint, "--dry-run", "--resume")
    assert ahead["missing"] + ahead["stale"] == len(unfinished)
    summary = run(rig, checkpoint, "--resume")
    assert summary["resumed_after"] == mark
    assert summary["skipped_before_checkpoint"] == len(up_to_mark)  # nothing before the mark looked at again
    # Finished work after the mark is found current, not redone.
    assert summary[rig.work_field] == len(unfinished)
    assert summary.get("failed", 0) == summary.get("unchanged", 0) == summary.get("dead_lettered", 0) == 0
    handled = rig.settle()
    if handled is not None:
        assert sorted(handled) == unfinished
    assert json.loads(checkpoint.read_text())["finished"] is True

    # Exactly one correct set per image, and nothing else.
    expected = {output.key for key in keys for output in config.profiles.outputs_for(key)}
    assert {info.key for info in rig.dest.list()} == expected
    assert complete(rig, keys) == set(keys)
    report = run(rig, checkpoint, "--dry-run")
    assert (report["missing"], report["stale"], report["orphaned"], report["current"]) == (0, 0, 0, rig.count)
    for key in [*keys[:2], *(k for k in keys if not k.startswith("photos/")), *stale]:  # and the pixels are right
        for box, thumb, fmt in ((o.box, o.key, o.format) for o in config.profiles.outputs_for(key)):
            image = open_bytes(rig.dest.get(thumb).body)
            assert image.format == fmt.upper()  # Pillow's name of the format
            assert max(image.width / box.width, image.height / box.height) > 0.99
    rig.check_logs()
