"""The lock-in report's builders: the cost model on a given price table, the source and Terraform readers,
the cold-start probe, the migration commands, and the report end to end on a fixed conformance result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.reports import charts, coldstart, costs, lockin, migration
from core.reports.concepts import event_names, setting_keys, terraform_default
from core.reports.document import Block, Bullets, Code, Heading, Image, Table, Text, document_html, document_markdown
from core.reports.source_metrics import count, measure_layers, portable_share
from core.reports.workload import RenderSample, Workload

ROOT = Path(__file__).resolve().parents[1]


def price(value: float, per: float = 1, unit: str = "unit") -> dict[str, Any]:
    return {"price": value, "per": per, "unit": unit, "sources": ["https://example.invalid/pricing"]}


@pytest.fixture
def prices(tmp_path: Path) -> costs.PriceTable:
    table = {
        "as_of": "2026-01-01",
        "aws": {
            "region": "r1",
            "items": {
                "lambda_gb_second": price(0.00001),
                "lambda_requests": price(0.2, 1_000_000),
                "s3_put_requests": price(0.005, 1000),
                "s3_get_requests": price(0.0004, 1000),
                "s3_storage_gb_month": price(0.023),
                "sqs_requests": price(0.4, 1_000_000),
            },
        },
        "gcp": {
            "region": "r2",
            "items": {
                "run_vcpu_second": price(0.000024),
                "run_gib_second": price(0.0000025),
                "run_requests": price(0.4, 1_000_000),
                "gcs_class_a": price(0.005, 1000),
                "gcs_class_b": price(0.0004, 1000),
                "gcs_storage_gb_month": price(0.02),
                "eventarc_events": price(0.0, 1_000_000),
                "pubsub_tib": price(40.0),
            },
        },
        "azure": {
            "region": "r3",
            "items": {
                "flex_gb_second": price(0.000026),
                "flex_executions": price(0.4, 1_000_000),
                "blob_write_operations": price(0.055, 10_000),
                "blob_read_operations": price(0.0044, 10_000),
                "blob_storage_gb_month": price(0.018),
                "event_grid_operations": price(0.6, 1_000_000),
            },
        },
    }
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    return costs.load_prices(path)


WORKLOAD = Workload(images_per_month=1000, mean_mb=1.0, sizes="128x128,512x512")
RENDER = RenderSample(seconds=[0.1, 0.2, 0.3], thumbnail_bytes=[1000, 3000])
ASSUMPTIONS = costs.Assumptions(request_ms=10.0, download_mb_per_s=100.0)


def test_invocation_is_render_plus_round_trips_plus_download() -> None:
    # 0.2 s median render + (2 + 2 x 2 boxes) requests x 10 ms + 1 MB at 100 MB/s
    assert costs.invocation_seconds(WORKLOAD, RENDER, ASSUMPTIONS) == pytest.approx(0.27)


@pytest.mark.parametrize(
    ("deployment", "seconds", "billed"),
    [
        (costs.Deployment(2.0, granularity_ms=1), 0.2701, 0.271),
        (costs.Deployment(1.0, granularity_ms=100), 0.27, 0.3),
        (costs.Deployment(1.0, granularity_ms=100), 0.3, 0.3),
        (costs.Deployment(2.0, granularity_ms=100, minimum_ms=1000), 0.27, 1.0),
        (costs.Deployment(2.0, granularity_ms=100, minimum_ms=1000), 1.23, 1.3),
    ],
)
def test_billed_time_is_rounded_up_and_floored(deployment: costs.Deployment, seconds: float, billed: float) -> None:
    assert deployment.billed_seconds(seconds) == pytest.approx(billed)


def test_aws_estimate(prices: costs.PriceTable) -> None:
    estimate = costs.estimate(
        "aws",
        WORKLOAD,
        render=RENDER,
        deployment=costs.deployment_for("aws", {"memory_mb": "2048"}),
        prices=prices,
        assumptions=ASSUMPTIONS,
    )
    lines = {line.item.split(" (")[0]: line.cost for line in estimate.lines}
    assert lines["Lambda duration"] == pytest.approx(1000 * 0.27 * 2 * 0.00001)
    assert lines["Lambda requests"] == pytest.approx(1000 * 0.2 / 1e6)
    assert lines["S3 GET/HEAD"] == pytest.approx(4000 * 0.0004 / 1000)
    assert lines["S3 PUT"] == pytest.approx(2000 * 0.005 / 1000)
    assert lines["S3 storage of the month's thumbnails"] == pytest.approx(1000 * 4000 / 2**30 * 0.023)
    assert lines["SQS requests"] == pytest.approx(3000 * 0.4 / 1e6)
    assert estimate.total == pytest.approx(sum(lines.values()))


def test_gcp_estimate_rounds_to_100_ms_and_bills_pubsub_bytes(prices: costs.PriceTable) -> None:
    deployment = costs.deployment_for("gcp", {"memory": "512Mi", "cpu": "2"})
    assert (deployment.memory_gb, deployment.cpu) == (0.5, 2.0)
    lines = {
        line.item: line
        for line in costs.estimate(
            "gcp", WORKLOAD, render=RENDER, deployment=deployment, prices=prices, assumptions=ASSUMPTIONS
        ).lines
    }
    assert lines["Cloud Run functions CPU"].cost == pytest.approx(1000 * 0.3 * 2 * 0.000024)
    assert lines["Cloud Run functions memory"].cost == pytest.approx(1000 * 0.3 * 0.5 * 0.0000025)
    assert lines["Pub/Sub transport (publish + push)"].cost == pytest.approx(1000 * 2 * 1500 / 2**40 * 40)
    assert lines["Eventarc events (Google source)"].cost == 0


def test_azure_estimate_bills_at_least_one_second(prices: costs.PriceTable) -> None:
    lines = costs.estimate(
        "azure",
        WORKLOAD,
        render=RENDER,
        deployment=costs.deployment_for("azure", {"memory_mb": "4096"}),
        prices=prices,
        assumptions=ASSUMPTIONS,
    ).lines
    by_item = {line.item.split(" (")[0]: line.cost for line in lines}
    assert by_item["Flex Consumption execution time"] == pytest.approx(1000 * 1.0 * 4 * 0.000026)
    assert by_item["Blob write"] == pytest.approx(2000 * 0.055 / 10_000)
    assert by_item["Event Grid operations"] == pytest.approx(2000 * 0.6 / 1e6)


def test_every_assumption_is_printed(prices: costs.PriceTable) -> None:
    deployments = {cloud: costs.deployment_for(cloud, {}) for cloud in ("aws", "gcp", "azure")}
    text = " ".join(costs.assumptions_text(WORKLOAD, RENDER, ASSUMPTIONS, prices, deployments))
    for expected in (
        "1,000 images a month",
        "3.4 MP JPEG",
        "6 storage requests x 10 ms",
        "as of 2026-01-01",
        "aws 2 GB",
        "1000 ms minimum",
        "no free tier",
        "r1",
    ):
        assert expected in text


def test_the_price_table_in_the_repo_is_dated_and_sourced() -> None:
    table = costs.load_prices()
    assert table.as_of
    for cloud in ("aws", "gcp", "azure"):
        assert all(p.sources and all(s.startswith("https://") for s in p.sources) for p in table[cloud].values())
    # Every item the estimators use is in it.
    for cloud in ("aws", "gcp", "azure"):
        costs.estimate(
            cloud,
            WORKLOAD,
            render=RENDER,
            deployment=costs.deployment_for(cloud, {}),
            prices=table,
            assumptions=costs.Assumptions(),
        )


def test_a_price_without_a_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"as_of": "x", "aws": {"items": {"lambda_requests": {"price": 1, "unit": "r"}}}}))
    with pytest.raises(ValueError, match="source"):
        costs.load_prices(path)


def test_lines_are_counted_per_layer(tmp_path: Path) -> None:
    (tmp_path / "core" / "reports").mkdir(parents=True)
    (tmp_path / "core" / "a.py").write_text("x = 1\n\n\ny = 2\n")
    (tmp_path / "core" / "reports" / "r.py").write_text("z = 3\n")
    (tmp_path / "providers" / "aws" / "deploy").mkdir(parents=True)
    (tmp_path / "providers" / "aws" / "handler.py").write_text("a\nb\nc\n")
    (tmp_path / "providers" / "aws" / "packaging.py").write_text("p\n")
    (tmp_path / "providers" / "aws" / "deploy" / "main.tf").write_text('resource "x" "y" {}\n')
    (tmp_path / "tests" / "providers" / "aws").mkdir(parents=True)
    (tmp_path / "tests" / "providers" / "aws" / "test_x.py").write_text("t\n")
    layers = {layer.name: layer for layer in measure_layers(tmp_path)}
    assert (layers["core"].code.files, layers["core"].code.lines) == (1, 2)
    assert layers["core/reports (tooling)"].code.lines == 1
    aws = layers["providers/aws"]
    assert (aws.code.lines, aws.deploy.files, aws.deploy.lines, aws.tests.lines) == (3, 2, 2, 1)
    assert portable_share(list(layers.values()), "aws") == pytest.approx(2 / 5)
    assert count([tmp_path / "missing.py"]).files == 0


def test_event_names_come_from_comparisons_constants_and_tables() -> None:
    source = '''
"""Docstring mentioning aws:ignored."""
FINALIZED = "google.cloud.storage.object.v1.finalized"
_KINDS = {"Object Created": 1, "ObjectRemoved": 2}
def parse(doc):
    if doc.get("eventSource") == "aws:sqs":
        return call("detail.object.key")
'''
    assert event_names(source) == [
        "aws:sqs",
        "google.cloud.storage.object.v1.finalized",
        "Object Created",
        "ObjectRemoved",
    ]


def test_terraform_settings_and_defaults_are_read() -> None:
    terraform = """
locals {
  environment = merge(var.thumbs_settings, {
    THUMBS_DEST_BUCKET = aws_s3_bucket.thumbnails.bucket
    THUMBS_SIZES       = var.thumbs_sizes
  })
}
variable "memory_size" {
  type    = number
  default = 2048
}
resource "x" "y" {
  app_settings = merge(local.app_settings, var.thumbs_settings)
}
"""
    assert setting_keys(terraform) == {
        "THUMBS_DEST_BUCKET": "aws_s3_bucket.thumbnails.bucket",
        "THUMBS_SIZES": "var.thumbs_sizes",
    }
    assert terraform_default(terraform, "memory_size") == "2048"
    assert terraform_default(terraform, "absent") is None


def test_migration_commands_use_each_clouds_tool() -> None:
    assert migration.copy_command("local", "aws") == "aws s3 sync ./photos s3://NEW-ORIGINALS"
    assert migration.copy_command("aws", "gcp").startswith("gcloud storage rsync --recursive s3://OLD-ORIGINALS gs://")
    assert migration.copy_command("gcp", "azure").startswith("azcopy copy 'https://storage.cloud.google.com/")
    assert migration.copy_command("azure", "local").startswith("azcopy sync 'https://OLDACCOUNT")
    assert migration.backfill_command("gcp") == "polythumb backfill NEW-ORIGINALS --out NEW-THUMBNAILS --target gcp"
    rows = migration.data_rows()
    assert len(rows) == 12 and all(row[0] != row[1] for row in rows)


def test_documents_render_to_markdown_and_self_contained_html() -> None:
    blocks: list[Block] = [
        Heading("Part"),
        Text("with `code`"),
        Bullets(["one"]),
        Table(["a", "n"], [["x|y", 3]], numeric=(1,)),
        Code("echo <hi>"),
        Image("c.png", "chart", b"\x89PNG-bytes"),
        Image("d.png", "none", None, "no matplotlib"),
    ]
    markdown = document_markdown("Title", blocks)
    assert "## Part" in markdown and "| x\\|y | 3 |" in markdown and "| --- | ---: |" in markdown
    assert "![chart](c.png)" in markdown and "_(chart not drawn: no matplotlib)_" in markdown
    page = document_html("Title", blocks)
    assert "<code>code</code>" in page and "echo &lt;hi&gt;" in page and '<td class="num">3</td>' in page
    assert 'src="data:image/png;base64,iVBORy1ieXRlcw=="' in page and "Chart not drawn: no matplotlib" in page


def test_chart_is_a_png_when_matplotlib_is_installed() -> None:
    png = charts.bars("t", {"aws": 1.0, "gcp": 2.0}, unit="ms")
    if charts.available():
        assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert png is None


def test_cold_start_of_the_local_entrypoint_loads_no_cloud_sdk() -> None:
    probe = coldstart.measure(ROOT, "local", repeat=1)
    assert probe.error is None, probe.error
    assert probe.median_ms is not None and probe.median_ms > 0 and probe.imaging_ms is not None
    assert "core.ops.runner" in probe.modules
    assert probe.foreign == [] and not {"aws", "gcp", "azure"} & set(probe.families)


def test_foreign_sdks_are_flagged() -> None:
    probe = coldstart.ColdStart("aws", "m", [0.1], [0.1], ["boto3", "botocore.client", "azure.core", "PIL.Image"])
    assert probe.families == {"aws": 2, "azure": 1, "Pillow": 1}
    assert probe.foreign == ["azure"]


def test_lockin_report_end_to_end(tmp_path: Path) -> None:
    results = tmp_path / "conformance.json"
    results.write_text(
        json.dumps(
            {
                "format": "polythumb-conformance/1",
                "results": [
                    {
                        "nodeid": "tests/e2e/t.py::test_up[local]",
                        "suite": "e2e",
                        "behaviour": "Upload makes thumbnails.",
                        "rig": "local",
                        "outcome": "passed",
                        "duration_s": 0.2,
                        "properties": {"handler_ms": 30.0, "deliveries": 1},
                    },
                    {
                        "nodeid": "tests/contract/test_observed_storage.py::test_rev[s3]",
                        "suite": "observed",
                        "behaviour": "What the revision is (x)",
                        "rig": "s3",
                        "outcome": "passed",
                        "duration_s": 0.1,
                        "properties": {"observed": "ETag `<32 hex>`"},
                    },
                ],
            }
        )
    )
    out = tmp_path / "lockin"
    status = lockin.main(
        [
            "--out",
            str(out),
            "--matrix",
            str(results),
            "--repeat",
            "1",
            "--render-repeat",
            "1",
            "--images-per-month",
            "1000",
            "--mean-mb",
            "0.2",
        ]
    )
    assert status == 0
    markdown = (out / "lockin.md").read_text()
    for section in (
        "## Portable versus provider-specific code",
        "## Provider-specific concepts",
        "## Conformance matrix",
        "## Cold start per entrypoint",
        "## End-to-end latency on the emulators",
        "## Monthly cost estimate",
        "### Assumptions",
        "## Moving from one cloud to another",
    ):
        assert section in markdown
    assert "| local | 1/1 | 0.20 |" in markdown
    assert "aws ETag `<32 hex>`" in markdown  # the observed revision, quoted in the data-migration advice
    page = (out / "lockin.html").read_text()
    if charts.available():
        assert page.count("data:image/png;base64,") == 3 and (out / "cost.png").exists()
    else:
        assert "Chart not drawn: matplotlib is not installed" in page


def test_the_serve_note_says_what_is_portable_and_what_is_the_cdns() -> None:
    """Each provider's row comes from its ``serve`` reporting facts; a provider that declares none says so."""
    from core.reports.facts import clouds, reporting

    rows = lockin.serve_rows()
    assert [row[0] for row in rows] == list(clouds())
    for row in rows:
        facts = reporting(row[0]).get("serve", {})
        names = ("entrypoint", "cdn", "cdn_specific")
        assert row[1:] == [facts.get(name, "not declared by the provider") for name in names]
    blocks = lockin.serve_section(None)  # type: ignore[arg-type]  # the note needs no measurement
    text = document_markdown("t", blocks)
    assert "## Serving on first request: what is portable, what is the CDN's" in text
    assert "origin group" in text and "`core/serve.py`" in text
    assert "| provider | serve entrypoint | in front of it | CDN-specific |" in text
