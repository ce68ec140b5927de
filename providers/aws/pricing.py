"""AWS in the lock-in report's cost estimate (:mod:`core.reports.costs`): billed size and the month's lines.

Repository tooling: read through the registry (``facts["pricing"]``), never packaged. Prices are in
``core/reports/prices.json`` under ``aws``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from core.errors import ConfigError
from core.reports.costs import Deployment, Line, Month, Price

#: CloudWatch Logs filter patterns of the lines ``polythumb cost aws --from-cloud`` reads: polythumb's event
#: lines, and Lambda's end-of-invocation lines (their ``Max Memory Used``).
LOG_PATTERNS = ('"duration_ms"', '"REPORT RequestId"')


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


def log_lines(outputs: Mapping[str, Any], *, hours: float) -> Iterator[str]:
    """The function's log lines of the last ``hours`` that the cost reads (CloudWatch Logs, through boto3).

    Raises:
        ConfigError: the outputs name no log group (apply the current deploy files).
    """
    from providers.aws import import_boto3

    group = (outputs.get("cost_inputs") or {}).get("log_group") or outputs.get("log_group")
    if not group:
        raise ConfigError("the Terraform outputs name no log group (cost_inputs): apply the current deploy files")
    client = import_boto3().session.Session().client("logs", region_name=outputs.get("region"))
    start = int((time.time() - hours * 3600) * 1000)
    for pattern in LOG_PATTERNS:
        pages = client.get_paginator("filter_log_events").paginate(
            logGroupName=group, startTime=start, filterPattern=pattern
        )
        for page in pages:
            yield from (str(event.get("message", "")) for event in page.get("events", []))
