"""The 10-million-image model: its deploy numbers are the deploy files', and its arithmetic behaves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import hcl2
import pytest

from core.reports.capacity import (
    MEASURED_RENDER_SECONDS,
    Assumptions,
    estimate,
    main,
    measure_render_seconds,
    scenarios,
    sources,
)
from providers.aws.capacity import lambda_ramp_seconds

ROOT = Path(__file__).parents[1]


def _strip(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def variable_defaults(cloud: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for path in sorted((ROOT / "providers" / cloud / "deploy").glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for block in hcl2.load(handle).get("variable", []):
                for name, body in block.items():
                    defaults[_strip(name)] = _strip(body.get("default"))
    return defaults


def by_label(cloud: str, words: str) -> Any:
    return next(s for s in scenarios() if s.cloud == cloud and words in s.label)


def test_deploy_rows_use_the_deploy_files_numbers() -> None:
    aws, gcp, azure = variable_defaults("aws"), variable_defaults("gcp"), variable_defaults("azure")
    row = by_label("aws", "deploy")
    # Changed by issue 13: the cost guard is max_concurrency (reserved_concurrency is null, unreserved, by default).
    assert row.instances == aws["max_concurrency"] and row.vcpus == aws["memory_size"] / 1769
    assert row.sizes == aws["thumbs_sizes"]
    row = by_label("gcp", "deploy")
    assert row.instances == gcp["max_instance_count"] and row.vcpus == float(gcp["available_cpu"])
    assert row.sizes == gcp["thumbs_sizes"] and row.per_instance == 1
    assert "max_instance_request_concurrency = 1 " in (ROOT / "providers/gcp/deploy/functions.tf").read_text()
    row = by_label("azure", "deploy")
    assert row.instances == azure["maximum_instance_count"] and azure["instance_memory_mb"] == 2048
    assert row.vcpus == 1.0 and row.sizes == azure["thumbs_sizes"]
    queues = json.loads((ROOT / "providers/azure/host.json").read_text())["extensions"]["queues"]
    assert row.per_instance == queues["batchSize"] + queues["newBatchThreshold"]
    assert set(MEASURED_RENDER_SECONDS) == {s.sizes for s in scenarios()}


def test_every_row_names_its_sources_and_each_source_is_a_url() -> None:
    for row in scenarios():
        assert row.sources and set(row.sources) <= set(sources())
    assert all(source.url.startswith("https://") for source in sources().values())


def test_total_is_plan_plus_drain_and_the_bottleneck_is_the_slowest_stage() -> None:
    first = Assumptions()
    for row in scenarios():
        e = estimate(row, first)
        assert e.total_seconds == pytest.approx(e.plan_seconds + e.drain_seconds)
        slowest = min(e.render_rate, e.hand_over_rate, e.storage_rate)
        assert e.drain_seconds >= first.images / slowest
        if e.bottleneck != "plan":
            assert {"render": e.render_rate, "hand-over": e.hand_over_rate, "storage": e.storage_rate}[
                e.bottleneck
            ] == slowest
    # A post returns when its render is done: on GCP, handing over is rendering.
    gcp = estimate(by_label("gcp", "deploy"), first)
    assert gcp.hand_over_rate == pytest.approx(gcp.render_rate)


def test_more_capacity_is_never_slower_and_existing_thumbnails_cost_heads_where_listings_lack_metadata() -> None:
    first, again = Assumptions(), Assumptions(existing=True)
    for row in scenarios():
        bigger = replace(row, instances=row.instances * 2, ramp_seconds=row.ramp_seconds)
        assert estimate(bigger, first).total_seconds <= estimate(row, first).total_seconds
        assert estimate(row, again).plan_seconds > estimate(row, first).plan_seconds
    s3, gcs = by_label("aws", "account"), by_label("gcp", "platform")
    s3_extra = estimate(s3, again).plan_seconds - estimate(s3, first).plan_seconds
    gcs_extra = estimate(gcs, again).plan_seconds - estimate(gcs, first).plan_seconds
    assert s3_extra > 5 * gcs_extra  # a HEAD per thumbnail on S3; GCS listings carry the metadata
    assert lambda_ramp_seconds(1000) == pytest.approx(199)  # 5 batches, then +300 a minute


def test_main_prints_both_tables_and_the_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    text = capsys.readouterr().out
    assert "first backfill" in text and "re-render (all thumbnails exist)" in text
    assert text.count("| aws |") == 4 and text.count("| gcp |") == 4 and text.count("| azure |") == 4
    assert all(source.url in text for source in sources().values())
    assert main(["--json", "--images", "1000"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["assumptions"]["images"] == 1000
    assert len(payload["estimates"]["first backfill"]) == len(scenarios())


def test_measuring_runs_the_real_pipeline() -> None:
    seconds = measure_render_seconds(sizes="64x64,32x32", runs=1, megapixels=0.5)
    assert 0 < seconds < 30
