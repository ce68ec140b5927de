"""Azure in the lock-in report's cost estimate (:mod:`core.reports.costs`): billed size and the month's lines.

Repository tooling: read through the registry (``facts["pricing"]``), never packaged. Prices are in
``core/reports/prices.json`` under ``azure``.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.reports.costs import Assumptions, Deployment, Line, Price, invocation_seconds, thumbnail_gb
from core.reports.workload import RenderSample, Workload


def deployment(instance: Mapping[str, str]) -> Deployment:
    """Flex Consumption, from the Terraform's ``instance_memory_mb``: billed per 100 ms, one second at least."""
    return Deployment(memory_gb=float(instance.get("memory_mb", 2048)) / 1024, granularity_ms=100, minimum_ms=1000)


def estimate(
    workload: Workload,
    render: RenderSample,
    deployment: Deployment,
    prices: Mapping[str, Price],
    assumptions: Assumptions,
) -> list[Line]:
    """Functions Flex Consumption (Event Grid trigger) + Blob Storage + Event Grid."""
    n, k = workload.images_per_month, workload.boxes
    billed = deployment.billed_seconds(invocation_seconds(workload, render, assumptions))
    return [
        Line("Flex Consumption execution time", n * billed * deployment.memory_gb, prices["flex_gb_second"]),
        Line("Flex Consumption executions", n, prices["flex_executions"]),
        Line(
            "Blob read/other (Get Blob Properties x outputs+1, Get Blob)", n * (k + 2), prices["blob_read_operations"]
        ),
        Line("Blob write (one Put Blob per thumbnail)", n * k, prices["blob_write_operations"]),
        Line(
            "Blob storage of the month's thumbnails", thumbnail_gb(workload, render), prices["blob_storage_gb_month"]
        ),
        Line("Event Grid operations", n * assumptions.event_grid_operations_per_event, prices["event_grid_operations"]),
    ]
