"""``polythumb cost aws``: a month priced from the function's own measured events (tests/cost_support.py's log),
from a file or from CloudWatch Logs on moto; and ``backfill --target aws --dry-run`` priced the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.ops import cost as cost_cli
from core.ops.cli import main
from core.reports.costs import load_prices
from tests.cost_support import LOG, cost_inputs, event, lines_of, run_cost, without_deployment, write_log
from tests.images import jpeg_bytes

pytestmark = pytest.mark.aws
PRICES = load_prices()


def test_a_month_from_measured_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_deployment(monkeypatch)
    report = run_cost(capsys, "aws", "--uploads-per-month", "3000", "--from-logs", str(write_log(tmp_path)),
                      "--instance", "memory_mb=1024")  # fmt: skip
    avatars, photos = report["profiles"]
    assert (avatars["profile"], photos["profile"]) == ("avatars", "photos")
    assert (avatars["share"], avatars["events_per_upload"], avatars["thumbnails_per_upload"]) == (0.6667, 1.5, 2.0)
    assert (avatars["uploads_per_month"], avatars["events_per_month"]) == (2000.0, 3000.0)
    assert avatars["billed_s_per_event"] == pytest.approx(0.2)  # (0.3 + 0.1 + 0.2) / 3, per 1 ms
    assert photos["billed_s_per_event"] == pytest.approx(1.001)  # 1000.4 ms billed as 1001 ms
    assert (avatars["peak_memory_mb"], photos["peak_memory_mb"]) == (180.0, 250.0)  # Lambda's REPORT lines
    assert avatars["statuses"] == {"error": 1, "ok": 2}
    duration = lines_of(avatars)["Lambda duration"]
    assert duration["quantity"] == pytest.approx(3000 * 0.2 * 1.0)  # GB-seconds at 1 GB
    assert duration["cost"] == pytest.approx(600 * PRICES["aws"]["lambda_gb_second"].price, abs=1e-4)
    assert lines_of(avatars)["Lambda requests"]["quantity"] == 3000
    assert lines_of(avatars)["S3 PUT (one per thumbnail)"]["quantity"] == pytest.approx(4000)  # 2000 uploads x 2
    assert lines_of(photos)["Lambda duration"]["quantity"] == pytest.approx(1000 * 1.001)
    assert report["total"] == pytest.approx(avatars["total"] + photos["total"], abs=0.01)
    text = " ".join(report["assumptions"])
    assert "4 created events of 3 uploads" in text and "1 delete events not priced" in text
    assert "memory_mb=1024 from --instance" in text and "Few samples" in text


def test_profiles_come_from_the_deployments_settings_when_the_lines_name_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles = json.dumps({"profiles": {"avatars": {"match": ["avatars/*"]}, "rest": {"match": ["*"]}}})
    outputs = {"thumbs_environment": {"THUMBS_PROFILES": profiles, "THUMBS_DEST_BUCKET": "d"},
               "cost_inputs": {"instance": {"memory_mb": 512}}}  # fmt: skip
    monkeypatch.setattr(cost_cli, "deployment_outputs", lambda provider, workdir: outputs)
    path = tmp_path / "plain.log"
    path.write_text("\n".join([event("avatars/a.jpg", "1", 10.0), event("x/b.jpg", "2", 10.0)]), encoding="utf-8")
    report = run_cost(capsys, "aws", "--uploads-per-month", "10", "--from-logs", str(path))
    assert [p["profile"] for p in report["profiles"]] == ["avatars", "rest"]
    assert report["billed_memory_gb"] == 0.5  # the deployment's own size, from its outputs


def test_nothing_measured_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_deployment(monkeypatch)
    empty = tmp_path / "empty.log"
    empty.write_text("START RequestId: x\n", encoding="utf-8")
    assert main(["cost", "aws", "--uploads-per-month", "10", "--from-logs", str(empty)]) == 2
    assert "nothing measured to price" in capsys.readouterr().err


def test_from_cloud_reads_the_log_group_on_moto(
    aws_client: Callable[..., Any], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    logs = aws_client("logs")
    group = f"/aws/lambda/pt-cost-{time.time_ns()}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now, "message": line} for line in LOG])  # fmt: skip
    outputs = {"region": "us-east-1", "cost_inputs": {"log_group": group, "instance": {"memory_mb": 1024}}}
    monkeypatch.setattr(cost_cli, "deployment_outputs", lambda provider, workdir: outputs)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    report = run_cost(capsys, "aws", "--uploads-per-month", "3000", "--from-cloud", "--hours", "1")
    avatars, photos = report["profiles"]
    assert avatars["events_per_month"] == 3000.0 and photos["peak_memory_mb"] == 250.0


def test_a_backfill_dry_run_to_aws_is_priced_with_its_pricing_at_the_given_size(
    s3_client: Any, new_bucket: Callable[..., str], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    source, dest = new_bucket("est-src"), new_bucket("est-dst")
    for i in range(4):
        s3_client.put_object(Bucket=source, Key=f"shop/{i}.jpg", Body=jpeg_bytes(160, 120))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    log = tmp_path / "deployment.log"
    log.write_text("\n".join([event("x.jpg", "1", 100.0), event("y.jpg", "1", 300.0)]), encoding="utf-8")
    assert main(["backfill", source, "--target", "aws", "--out", dest, "--dry-run", "--json", "--sizes", "64x64,32x32",
                 "--cost-from-logs", str(log), "--instance", "memory_mb=1024"]) == 0  # fmt: skip
    cloud = json.loads(capsys.readouterr().out)["cost"]["cloud"]
    lines = {line["item"]: line for line in cloud["lines"]}
    # Both measured events count for the one recipe: 0.2 s each, billed per ms at 1 GB.
    assert cloud["billed_s_per_render"] == pytest.approx(0.2)
    assert lines["Lambda duration"]["quantity"] == pytest.approx(4 * 0.2 * 1.0)
    assert lines["Lambda requests"]["quantity"] == 4
    assert lines["S3 PUT (one per thumbnail)"]["quantity"] == 8
    assert lines["Lambda duration"]["cost"] == pytest.approx(0.8 * PRICES["aws"]["lambda_gb_second"].price, abs=1e-6)
    assert cloud["total"] == pytest.approx(sum(line["cost"] for line in cloud["lines"]), abs=1e-5)


def test_the_stack_outputs_what_the_cost_reads() -> None:
    assert cost_inputs("aws") == {"instance", "log_group"}
