"""AWS in the lock-in report's cost estimate (:mod:`core.reports.costs`): billed size and the month's lines.

Repository tooling: read through the registry (``facts["pricing"]``), never packaged. Prices are in
``core/reports/prices.json`` under ``aws``.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.reports.costs import Deployment, Line, Month, Price


def deployment(instance: Mapping[str, str]) -> Deployment:
    """Lambda, from the Terraform's ``memory_size``: billed per millisecond."""
    return Deployment(memory_gb=float(instance.get("memory_mb", 2048)) / 1024, granularity_ms=1)


def estimate(month: Month, prices: Mapping[str, Price]) -> list[Line]:
    """Lambda (SQS route) + S3 + SQS."""
    n, k, billed = month.images, month.thumbnails, month.billed_s
    return [
        Line("Lambda duration", n * billed * month.deployment.memory_gb, prices["lambda_gb_second"]),
        Line("Lambda requests", n, prices["lambda_requests"]),
        Line("S3 GET/HEAD (original HEAD + GET, one HEAD per output)", n * (k + 2), prices["s3_get_requests"]),
        Line("S3 PUT (one per thumbnail)", n * k, prices["s3_put_requests"]),
        Line("S3 storage of the month's thumbnails", month.thumbnail_gb, prices["s3_storage_gb_month"]),
        Line("SQS requests", n * month.assumptions.sqs_requests_per_image, prices["sqs_requests"]),
    ]
