"""AWS in the lock-in report's cost estimate (:mod:`core.reports.costs`): billed size and the month's lines.

Repository tooling: read through the registry (``facts["pricing"]``), never packaged. Prices are in
``core/reports/prices.json`` under ``aws``.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.reports.costs import Assumptions, Deployment, Line, Price, invocation_seconds, thumbnail_gb
from core.reports.workload import RenderSample, Workload


def deployment(instance: Mapping[str, str]) -> Deployment:
    """Lambda, from the Terraform's ``memory_size``: billed per millisecond."""
    return Deployment(memory_gb=float(instance.get("memory_mb", 2048)) / 1024, granularity_ms=1)


def estimate(
    workload: Workload,
    render: RenderSample,
    deployment: Deployment,
    prices: Mapping[str, Price],
    assumptions: Assumptions,
) -> list[Line]:
    """Lambda (SQS route) + S3 + SQS."""
    n, k = workload.images_per_month, workload.boxes
    billed = deployment.billed_seconds(invocation_seconds(workload, render, assumptions))
    return [
        Line("Lambda duration", n * billed * deployment.memory_gb, prices["lambda_gb_second"]),
        Line("Lambda requests", n, prices["lambda_requests"]),
        Line("S3 GET/HEAD (original HEAD + GET, one HEAD per output)", n * (k + 2), prices["s3_get_requests"]),
        Line("S3 PUT (one per thumbnail)", n * k, prices["s3_put_requests"]),
        Line("S3 storage of the month's thumbnails", thumbnail_gb(workload, render), prices["s3_storage_gb_month"]),
        Line("SQS requests", n * assumptions.sqs_requests_per_image, prices["sqs_requests"]),
    ]
