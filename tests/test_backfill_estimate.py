"""``polythumb backfill --dry-run`` states the renders a plan implies and what they cost: CPU seconds here (a
cloud's price: tests/providers/aws/test_cost.py); from a synthetic render of the plan's mean original, or
from the durations a deployment logged (``--cost-from-logs``); and what a ``--max-renders`` run of it takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.ops.cli import main
from tests.images import jpeg_bytes


def dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["backfill", *args, "--dry-run", "--json", "--sizes", "64x64,32x32"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    source = tmp_path / "photos"
    for folder, count in (("avatars", 2), ("shop", 3)):
        (source / folder).mkdir(parents=True)
        for i in range(count):
            (source / folder / f"{i}.jpg").write_bytes(jpeg_bytes(160, 120))
    return source


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    lines = [
        {"kind": "created", "status": "ok", "key": "avatars/x.jpg", "revision": "1", "duration_ms": 100.0},
        {"kind": "created", "status": "ok", "key": "shop/y.jpg", "revision": "1", "duration_ms": 300.0},
    ]
    path = tmp_path / "deployment.log"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    return path


def test_the_plans_renders_are_counted_and_timed_by_a_synthetic_render_here(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = dry_run(capsys, str(photos), "--out", str(tmp_path / "thumbs"), "--workers", "2")
    cost = report["cost"]
    size = len(jpeg_bytes(160, 120))
    assert (cost["renders"], cost["thumbnails"], cost["this_run"]) == (5, 10, 5)  # 5 sources x 2 sizes
    assert cost["source_mb"] == pytest.approx(5 * size / 1e6, abs=1e-3)
    assert cost["by_profile"] == {"default": 5}
    assert 0 < cost["seconds_per_render"] < 5
    assert cost["cpu_seconds"] == pytest.approx(5 * cost["seconds_per_render"], abs=0.1)
    assert cost["wall_seconds"] == pytest.approx(cost["cpu_seconds"] / 2, abs=0.1)
    assert "synthetic" in cost["assumptions"][0] and "64x64,32x32" in cost["assumptions"][0]
    assert not (tmp_path / "thumbs").exists()  # a dry run changes nothing


def test_measured_durations_price_the_renders_per_profile(
    photos: Path, tmp_path: Path, log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles = json.dumps({"profiles": {"avatars": {"match": ["avatars/*"]}, "shop": {"match": ["*"]}}})
    report = dry_run(capsys, str(photos), "--out", str(tmp_path / "thumbs"), "--workers", "4",
                     "--profiles", profiles, "--cost-from-logs", str(log_file), "--max-renders", "3")  # fmt: skip
    cost = report["cost"]
    assert cost["by_profile"] == {"avatars": 2, "shop": 3}
    # avatars 0.1 s x 2, shop 0.3 s x 3: 1.1 s over 5 renders; the bounded run takes 3 of them.
    assert cost["seconds_per_render"] == pytest.approx(0.22)
    assert (cost["this_run"], cost["cpu_seconds"]) == (3, pytest.approx(0.7, abs=0.05))
    assert "avatars: 0.100 s" in cost["assumptions"][0] and "shop: 0.300 s" in cost["assumptions"][0]


def test_nothing_to_render_costs_nothing_and_renders_nothing_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    cost = dry_run(capsys, str(tmp_path / "empty"), "--out", str(tmp_path / "thumbs"))["cost"]
    assert cost["renders"] == cost["this_run"] == 0 and "cpu_seconds" not in cost


def test_the_text_dry_run_states_renders_and_cost(photos: Path, tmp_path: Path, log_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["backfill", str(photos), "--out", str(tmp_path / "t"), "--dry-run", "--sizes", "64x64",
                 "--cost-from-logs", str(log_file), "--max-renders", "2", "--workers", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "to render: 5 sources, 5 thumbnails" in out
    assert "this run: 2 renders (--max-renders)" in out
    assert "estimated: 0.4 CPU seconds (0.2 s a render), about 0.4 s on this machine" in out
