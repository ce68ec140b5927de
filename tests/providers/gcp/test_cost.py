"""``polythumb cost gcp``: the text report with every assumption, and the log query it runs (gcloud logging read
on the functions' log bucket) checked through the command and its answer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.ops.cli import main
from providers.gcp.pricing import log_lines
from tests.cost_support import LOG, cost_inputs, without_deployment, write_log


def test_the_text_report_prints_every_assumption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_deployment(monkeypatch)
    assert main(["cost", "gcp", "--uploads-per-month", "1000000", "--from-logs", str(write_log(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Google Cloud: 1,000,000 uploads a month -> ")
    assert "profile avatars: 66.7% of uploads, 1.5 events per upload" in out
    assert "Cloud Run functions CPU" in out and "billed 0.2 s each" in out  # per 100 ms: 0.3, 0.1, 0.2
    assert out.count("\n  - ") == 6  # measured, mix, billed size, requests, prices, few samples


def test_from_cloud_reads_the_log_bucket_with_gcloud() -> None:
    seen: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        entries = [{"jsonPayload": json.loads(LOG[2]), "resource": {"type": "cloud_run_revision"}}]
        return subprocess.CompletedProcess(argv, 0, stdout=json.dumps(entries), stderr="")

    outputs = {"cost_inputs": {"project": "acme", "log_bucket": "polythumb-functions"}}
    lines = list(log_lines(outputs, hours=6, run=run))
    assert [json.loads(line)["jsonPayload"]["duration_ms"] for line in lines] == [100.0]
    assert seen[0][:3] == ["gcloud", "logging", "read"] and "jsonPayload.duration_ms:*" in seen[0][3]
    assert {"--bucket=polythumb-functions", "--project=acme", "--freshness=6h", "--view=_AllLogs"} <= set(seen[0])


def test_the_stack_outputs_what_the_cost_reads() -> None:
    assert cost_inputs("gcp") == {"instance", "project", "log_bucket"}
