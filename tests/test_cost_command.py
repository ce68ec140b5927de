"""``polythumb cost <cloud>``: a month priced from a deployment's own measured events, per profile.

The figures are worked out by hand from the log below and the price table: per profile, the share of
uploads, events per upload (a retried event counts), each duration rounded as the cloud bills it, the
thumbnails written; Lambda's REPORT lines give the peak memory. ``--from-cloud`` reads CloudWatch Logs on
moto, and the GCP and Azure log queries are checked through the commands they run.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.ops import cost as cost_cli
from core.ops.cli import main
from core.reports.costs import load_prices

PRICES = load_prices()


def event(key: str, revision: str, ms: float, *, status: str = "ok", written: tuple[int, ...] = (),
          profile: str | None = None, request: str | None = None, kind: str = "created") -> str:  # fmt: skip
    record: dict[str, Any] = {
        "severity": "INFO", "message": f"{kind} b/{key}: {status}", "kind": kind, "bucket": "b", "key": key,
        "revision": revision, "status": status, "duration_ms": ms,
        "outputs": [{"key": f"t/{key}-{i}", "action": "written", "bytes": size} for i, size in enumerate(written)],
    }  # fmt: skip
    if profile:
        record["profile"] = profile
    if request:
        record["aws_request_id"] = request
    return json.dumps(record)


def report(request: str, ms: float, peak: int) -> str:
    """Lambda's end-of-invocation line."""
    return (f"REPORT RequestId: {request}\tDuration: {ms} ms\tBilled Duration: {round(ms + 0.5)} ms\t"
            f"Memory Size: 1024 MB\tMax Memory Used: {peak} MB")  # fmt: skip


LOG = [
    "START RequestId: req-1 Version: $LATEST",
    event("avatars/a.jpg", "r1", 300.0, status="error", profile="avatars", request="req-1"),
    event("avatars/a.jpg", "r1", 100.0, written=(1000, 3000), profile="avatars", request="req-1"),
    report("req-1", 420.11, 180),
    event("avatars/b.jpg", "r2", 200.0, written=(1000, 1000), profile="avatars"),
    "2026-01-02T03:04:05.000Z\t" + event("photos/c.jpg", "r3", 1000.4, written=(10000,), profile="photos",
                                          request="req-2"),
    report("req-2", 1000.9, 250),
    event("photos/c.jpg", "r3", 5.0, kind="deleted"),
    "some other text",
]  # fmt: skip


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "function.log"
    path.write_text("\n".join(LOG) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def no_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(provider: str, workdir: Path) -> dict[str, Any]:
        raise cost_cli.ConfigError("no Terraform outputs")

    monkeypatch.setattr(cost_cli, "deployment_outputs", missing)


def run_cost(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["cost", *args, "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def lines_of(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["item"]: line for line in profile["lines"]}


def test_aws_month_from_measured_events(
    log_file: Path, no_deployment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_cost(capsys, "aws", "--uploads-per-month", "3000", "--from-logs", str(log_file),
                      "--instance", "memory_mb=1024")  # fmt: skip
    avatars, photos = report["profiles"]
    assert (avatars["profile"], photos["profile"]) == ("avatars", "photos")
    # avatars: 2 uploads, 3 events (a retry), 4 thumbnails; photos: 1 upload, 1 event; the delete is not priced.
    assert (avatars["share"], avatars["events_per_upload"], avatars["thumbnails_per_upload"]) == (0.6667, 1.5, 2.0)
    assert (avatars["uploads_per_month"], avatars["events_per_month"]) == (2000.0, 3000.0)
    assert avatars["billed_s_per_event"] == pytest.approx(0.2)  # (0.3 + 0.1 + 0.2) / 3, per 1 ms
    assert photos["billed_s_per_event"] == pytest.approx(1.001)  # 1000.4 ms billed as 1001 ms
    assert (avatars["peak_memory_mb"], photos["peak_memory_mb"]) == (180.0, 250.0)
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


def test_azure_bills_each_event_at_least_a_second(
    log_file: Path, no_deployment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_cost(capsys, "azure", "--uploads-per-month", "3000", "--from-logs", str(log_file))
    avatars = report["profiles"][0]
    assert avatars["billed_s_per_event"] == pytest.approx(1.0)  # Flex Consumption: 1000 ms at least
    execution = lines_of(avatars)["Flex Consumption execution time"]
    assert execution["quantity"] == pytest.approx(3000 * 1.0 * 2.0)  # the Terraform default: 2048 MB
    assert "the defaults of deploy/" in " ".join(report["assumptions"])


def test_the_text_report_prints_every_assumption(
    log_file: Path, no_deployment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", "gcp", "--uploads-per-month", "1000000", "--from-logs", str(log_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Google Cloud: 1,000,000 uploads a month -> ")
    assert "profile avatars: 66.7% of uploads, 1.5 events per upload" in out
    assert out.count("\n  - ") == 6  # measured, mix, billed size, requests, prices, few samples


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


def test_nothing_measured_is_refused(tmp_path: Path, no_deployment: None, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("START RequestId: x\n", encoding="utf-8")
    assert main(["cost", "aws", "--uploads-per-month", "10", "--from-logs", str(empty)]) == 2
    assert "nothing measured to price" in capsys.readouterr().err


def test_aws_from_cloud_reads_the_log_group_on_moto(
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


def test_the_gcp_and_azure_log_queries_read_the_deployments_log_store() -> None:
    from providers.azure.pricing import log_lines as azure_lines
    from providers.gcp.pricing import log_lines as gcp_lines

    seen: list[list[str]] = []

    def answer(stdout: str) -> Callable[..., subprocess.CompletedProcess[str]]:
        def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            seen.append(argv)
            return subprocess.CompletedProcess(argv, 0, stdout=stdout, stderr="")

        return run

    entries = json.dumps([{"jsonPayload": json.loads(LOG[2]), "resource": {"type": "cloud_run_revision"}}])
    gcp = {"cost_inputs": {"project": "acme", "log_bucket": "polythumb-functions"}}
    lines = list(gcp_lines(gcp, hours=6, run=answer(entries)))
    assert [json.loads(line)["jsonPayload"]["duration_ms"] for line in lines] == [100.0]
    assert seen[-1][:3] == ["gcloud", "logging", "read"] and "--bucket=polythumb-functions" in seen[-1]
    assert "--project=acme" in seen[-1] and "--freshness=6h" in seen[-1]
    rows = json.dumps([{"Message": LOG[2]}])
    assert list(azure_lines({"cost_inputs": {"workspace": "w-1"}}, hours=24, run=answer(rows))) == [LOG[2]]
    assert seen[-1][:4] == ["az", "monitor", "log-analytics", "query"] and "w-1" in seen[-1]
    assert "ago(24h)" in seen[-1][seen[-1].index("--analytics-query") + 1]


def test_every_stack_outputs_what_the_cost_reads() -> None:
    from tests.terraform import ROOT, load_module

    expected = {"aws": {"instance", "log_group"}, "gcp": {"instance", "project", "log_bucket"},
                "azure": {"instance", "workspace"}}  # fmt: skip
    for cloud, keys in expected.items():
        module = load_module(ROOT / "providers" / cloud / "deploy")
        [output] = [block["cost_inputs"] for block in module["output"] if "cost_inputs" in block]
        assert set(output["value"]) == keys, cloud
