"""``polythumb backfill --max-renders N`` on every rig: the run takes N sources to render, finishes them and
stops at a checkpoint just past the last one; nothing else is rendered or sent, nothing is half-done, and
``--resume`` continues from there until the plan is done.

Written once for every platform (see :mod:`tests.rigs`): locally the CLI renders; on a cloud it hands the
work items to the platform and the function renders them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rigs
from tests.rigs.base import BackfillRig, current_keys

KEYS = 11
BOUND = 4


@pytest.fixture(params=rigs.names())
def backfill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackfillRig]:
    yield rigs.by_name(request.param).backfill(request, tmp_path)


def run(rig: BackfillRig, checkpoint: Path, *extra: str) -> dict[str, Any]:
    finished = subprocess.run(
        rig.command(checkpoint, *extra), cwd=checkpoint.parent, env=rig.environment(), text=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def test_a_bounded_backfill_stops_cleanly_and_resume_finishes_it(backfill: BackfillRig, tmp_path: Path) -> None:
    rig = backfill
    keys = sorted(f"bound/img {i:02}{rig.suffix}" for i in range(KEYS))
    for key in keys:
        rig.source.put(key, rig.body(), content_type=rig.content_type)
    checkpoint = tmp_path / f"{rig.name}.bounded.json"

    plan = run(rig, checkpoint, "--dry-run", "--max-renders", str(BOUND))
    assert plan["missing"] == KEYS and plan["cost"]["renders"] == KEYS and plan["cost"]["this_run"] == BOUND

    done: list[str] = []
    for step in range(3):  # 4, 4, then the 3 left
        summary = run(rig, checkpoint, "--max-renders", str(BOUND), *(["--resume"] if step else []))
        taken = keys[len(done) : len(done) + BOUND]
        assert summary[rig.work_field] == len(taken)
        assert summary["stopped_at_bound"] is (step < 2)
        handled = rig.settle()
        if handled is not None:  # the platform says what it got: exactly the taken sources
            assert sorted(handled) == taken
        done += taken
        saved = json.loads(checkpoint.read_text())
        assert saved["last_key"] == done[-1] and saved["done"] == len(done)
        assert saved["finished"] is (step == 2)
        assert current_keys(rig.config, rig.source, rig.dest, keys) == set(done)  # nothing half-done
        expected = {output.key for key in done for output in rig.config.profiles.outputs_for(key)}
        assert {info.key for info in rig.dest.list()} == expected  # and nothing of the sources left
    assert done == keys
    rig.check_logs()
