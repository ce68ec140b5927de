"""Several ``polythumb run`` and ``polythumb backfill`` processes over one destination, some killed mid-run.

Issue 20: two runs at once (5 of 5 rounds) or a ``kill -9`` at the wrong moment left thumbnails whose sidecar
did not match their bytes; every later run failed them with ``output_conflict``. Now each put holds a
cross-process lock on its key and writes the sidecar so that a crash at any instant leaves an object that reads
back as polythumb's. These tests run the real CLI in subprocesses: processes started together race on every
output; ``SIGKILL`` lands at random moments (seeded, so a failure replays); then a final run must settle
everything and a follow-up run must write nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.keys import is_polythumb_output
from core.storage import FilesystemStorage
from tests.images import encode, gradient
from tests.rigs.base import current_keys
from tests.rigs.local import backfill_environment

SIZES = "48x48,32x32,16x16"


def _write_sources(src: Path, count: int) -> list[str]:
    keys = sorted(f"set{i % 4}/img{i:03}.jpg" for i in range(count))
    for i, key in enumerate(keys):
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(encode(gradient(160 + i % 7, 120 + i % 5), "JPEG"))
    return keys


class _Cli:
    """Starts ``polythumb run`` / ``polythumb backfill`` over one SRC and DEST, each in its own process group."""

    def __init__(self, tmp_path: Path) -> None:
        self.src, self.out, self._root = tmp_path / "src", tmp_path / "out", tmp_path
        self._checkpoints = 0

    def command(self, kind: str) -> list[str]:
        common = ["--sizes", SIZES, "--workers", "2", "--json", "--no-progress"]
        if kind == "run":
            return [sys.executable, "-m", "core.ops.cli", "run", str(self.src), "--out", str(self.out), *common]
        self._checkpoints += 1  # a fresh checkpoint each time: every backfill plans the whole source
        checkpoint = self._root / f"backfill-{self._checkpoints}.json"
        return [
            sys.executable, "-m", "core.ops.cli", "backfill", str(self.src), "--out", str(self.out),
            "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", *common,
        ]  # fmt: skip

    def start(self, kind: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(kind), cwd=self._root, env=backfill_environment(), text=True, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def run(self) -> list[dict[str, object]]:
        """A ``polythumb run`` to its end: its JSON lines (it must exit 0)."""
        done = subprocess.run(
            self.command("run"), cwd=self._root, env=backfill_environment(), text=True, capture_output=True,
            timeout=120,
        )  # fmt: skip
        failed = [line for line in done.stdout.splitlines() if '"status": "failed"' in line]
        assert done.returncode == 0, "\n".join(failed[:5]) or done.stderr[-2000:]
        return [json.loads(line) for line in done.stdout.splitlines()]


def _kill(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended already
        os.killpg(process.pid, signal.SIGKILL)  # the CLI and its pool workers: one group
    process.communicate(timeout=30)


def _finish(process: subprocess.Popen[str]) -> None:
    """Wait for a run or backfill that was not killed: racing another one, it still completes every source."""
    stdout, stderr = process.communicate(timeout=180)
    failed = [line for line in stdout.splitlines() if '"status": "failed"' in line]  # run: one line per source
    assert process.returncode == 0, "\n".join(failed[:5]) or stderr[-2000:]


def _assert_settled(cli: _Cli, keys: list[str]) -> None:
    """Exactly the expected thumbnails, each recognised as polythumb's and rendered from the current source."""
    config = load_config({}, overrides={"THUMBS_SIZES": SIZES})
    source, dest = FilesystemStorage(cli.src, create=False), FilesystemStorage(cli.out)
    listed = list(dest.list())
    expected = {output.key for key in keys for output in config.profiles.outputs_for(key)}
    assert {info.key for info in listed} == expected
    unrecognised = [info.key for info in listed if not is_polythumb_output(info.metadata)]
    assert unrecognised == [], "thumbnails whose sidecar no longer matches their bytes"
    assert current_keys(config, source, dest, keys) == set(keys)


def _race_and_kill(cli: _Cli, keys: list[str], *, rounds: int, seed: int) -> None:
    """Rounds of two processes started together over one DEST; in each, one of them is killed at a random moment."""
    chance = random.Random(seed)
    for round_ in range(rounds):
        kinds = [chance.choice(("run", "backfill")), chance.choice(("run", "backfill"))]
        processes = [cli.start(kind) for kind in kinds]
        if round_ == 0:  # the first round: both race over an empty destination, to the end
            for process in processes:
                _finish(process)
            continue
        victim = chance.randrange(2)
        time.sleep(chance.uniform(0.3, 2.0))  # start-up takes ~0.5 s: some kills land before, most during the writes
        _kill(processes[victim])
        _finish(processes[1 - victim])
        if chance.random() < 0.5:  # and sometimes the sources change between rounds: stale outputs to replace
            key = chance.choice(keys)
            (cli.src / key).write_bytes(encode(gradient(150, 110 + round_), "JPEG"))

    final = cli.run()
    assert not [line for line in final if line["status"] == "failed"]
    _assert_settled(cli, keys)
    again = cli.run()
    assert [line for line in again if line["status"] != "skipped"] == []
    assert {line["reason"] for line in again} == {"unchanged"}


def test_concurrent_and_killed_runs_end_with_every_output_current_and_recognised(tmp_path: Path) -> None:
    cli = _Cli(tmp_path)
    keys = _write_sources(cli.src, 36)
    _race_and_kill(cli, keys, rounds=4, seed=20)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_rounds_of_concurrent_and_killed_runs(tmp_path: Path, seed: int) -> None:
    cli = _Cli(tmp_path)
    keys = _write_sources(cli.src, 80)
    _race_and_kill(cli, keys, rounds=12, seed=seed)
