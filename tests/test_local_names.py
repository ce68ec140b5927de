"""Files no key can name are reported by ``polythumb run``, as ``polythumb watch`` reports them.

Issue 20: ``run`` left out, without a word, files whose names are not UTF-8 or hold a newline, and symlinks
leading out of SRC (its listing skipped every name the storage port cannot express), while ``watch`` reported
each as failed. Both now read SRC through one walk (:mod:`core.storage.tree`) and hand every file to the
pipeline, which fails such a name with ``invalid_key`` and the reason.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.ops.cli import main
from core.ops.runner import run_directory, watch_directory
from core.outcome import Outcome
from tests.images import jpeg_bytes

SIZES = "32x32"


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    """A source with one ordinary photo and three names no key can hold."""
    src = tmp_path / "src"
    src.mkdir()
    body = jpeg_bytes(120, 80)
    (src / "ok.jpg").write_bytes(body)
    (src / "new\nline.jpg").write_bytes(body)
    with open(os.path.join(os.fsencode(src), b"caf\xe9.jpg"), "wb") as latin1:  # Latin-1, not UTF-8
        latin1.write(body)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(body)
    os.symlink(outside, src / "link-out.jpg")
    return src


REASONS = {
    "new\nline.jpg": "control characters",
    "caf\udce9.jpg": "not valid Unicode",
    "link-out.jpg": "resolves outside the storage root",
}


def test_run_reports_each_file_it_cannot_name(
    awkward: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", str(awkward), "--out", str(tmp_path / "out"), "--json", "--workers", "2",
                   "--sizes", SIZES])  # fmt: skip
    records = {r["key"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}

    assert status == 1
    assert set(records) == {"ok.jpg", *REASONS}
    assert records["ok.jpg"]["status"] == "ok"
    for key, reason in REASONS.items():
        assert (records[key]["status"], records[key]["error_kind"]) == ("failed", "invalid_key"), key
        assert reason in records[key]["error_message"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["ok-32x32.jpg"]


def test_run_and_watch_report_the_same_outcomes(awkward: Path, tmp_path: Path) -> None:
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(tmp_path / "out"), "THUMBS_SIZES": SIZES})
    ran: list[Outcome] = []
    run_directory(awkward, config, on_outcome=lambda outcome, done, total: ran.append(outcome))

    watched: list[Outcome] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_directory, args=(awkward, config),
        kwargs={"interval": 0.05, "stop": stop, "on_outcome": watched.append}, daemon=True,
    )  # fmt: skip
    watcher.start()
    deadline = time.monotonic() + 30
    while len(watched) < len(ran) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join(timeout=10)

    def summary(outcomes: list[Outcome]) -> set[tuple[str, str, str | None]]:
        return {(o.key, str(o.status), o.error_kind) for o in outcomes}

    assert len(ran) == 4
    # The thumbnail of ok.jpg is unchanged the second time; everything else is reported alike.
    assert summary(watched) - {("ok.jpg", "skipped", None)} == summary(ran) - {("ok.jpg", "ok", None)}
