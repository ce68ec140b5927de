"""The serve benchmark (``python -m benchmarks.serve``) runs end to end on a tiny input and writes its table and
JSON. Only the machinery is checked: timings on a tiny image mean nothing and are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_serve_benchmark_reports_every_case_side_by_side(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.serve", "--tiny", "--out", str(tmp_path)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((tmp_path / "serve.json").read_text())
    [row] = results["rows"]
    for case in ("upload render", "first request", "first request, in process", "cached request"):
        assert row[case] > 0, case
        assert f"{case} (ms)" in completed.stdout
    assert {"overhead", "cpu_overhead", "added_ms", "added_overhead"} <= set(row)
    assert results["target_overhead"] == 0.10 and "target" in completed.stdout
