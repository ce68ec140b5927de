"""``polythumb cost azure``: Flex Consumption bills every event a second at least; the log query it runs (az
monitor log-analytics query on the workspace) checked through the command and its answer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from providers.azure.pricing import log_lines
from tests.cost_support import LOG, cost_inputs, lines_of, run_cost, without_deployment, write_log


def test_every_event_is_billed_a_second_at_least(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_deployment(monkeypatch)
    report = run_cost(capsys, "azure", "--uploads-per-month", "3000", "--from-logs", str(write_log(tmp_path)))
    avatars = report["profiles"][0]
    assert avatars["billed_s_per_event"] == pytest.approx(1.0)  # 300, 100 and 200 ms: 1000 ms each
    execution = lines_of(avatars)["Flex Consumption execution time"]
    assert execution["quantity"] == pytest.approx(3000 * 1.0 * 2.0)  # the Terraform default: 2048 MB
    assert "the defaults of deploy/" in " ".join(report["assumptions"])


def test_from_cloud_queries_the_workspace_with_az() -> None:
    seen: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout=json.dumps([{"Message": LOG[2]}]), stderr="")

    assert list(log_lines({"cost_inputs": {"workspace": "w-1"}}, hours=24, run=run)) == [LOG[2]]
    assert seen[0][:4] == ["az", "monitor", "log-analytics", "query"] and "w-1" in seen[0]
    query = seen[0][seen[0].index("--analytics-query") + 1]
    assert "ago(24h)" in query and "duration_ms" in query


def test_the_stack_outputs_what_the_cost_reads() -> None:
    assert cost_inputs("azure") == {"instance", "workspace"}
