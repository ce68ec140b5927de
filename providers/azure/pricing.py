"""Azure in the lock-in report's cost estimate (:mod:`core.reports.costs`): billed size and the month's lines.

Repository tooling: read through the registry (``facts["pricing"]``), never packaged. Prices are in
``core/reports/prices.json`` under ``azure``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.errors import ConfigError
from core.reports.costs import Deployment, Line, Month, Price


def deployment(instance: Mapping[str, str]) -> Deployment:
    """Flex Consumption, from the Terraform's ``instance_memory_mb``: billed per 100 ms, one second at least."""
    return Deployment(memory_gb=float(instance.get("memory_mb", 2048)) / 1024, granularity_ms=100, minimum_ms=1000)


def estimate(month: Month, prices: Mapping[str, Price]) -> list[Line]:
    """Functions Flex Consumption (Event Grid trigger) + Blob Storage + Event Grid."""
    n, k, billed = month.images, month.thumbnails, month.billed_s
    return [
        Line("Flex Consumption execution time", n * billed * month.deployment.memory_gb, prices["flex_gb_second"]),
        Line("Flex Consumption executions", n, prices["flex_executions"]),
        Line(
            "Blob read/other (Get Blob Properties x outputs+1, Get Blob)", n * (k + 2), prices["blob_read_operations"]
        ),
        Line("Blob write (one Put Blob per thumbnail)", n * k, prices["blob_write_operations"]),
        Line("Blob storage of the month's thumbnails", month.thumbnail_gb, prices["blob_storage_gb_month"]),
        Line(
            "Event Grid operations",
            n * month.assumptions.event_grid_operations_per_event,
            prices["event_grid_operations"],
        ),
    ]


def log_query(hours: float) -> str:
    """The Kusto query of the event lines the app wrote in the last ``hours`` (Application Insights traces)."""
    since = f"ago({max(1, round(hours))}h)"
    return f"AppTraces | where TimeGenerated > {since} | where Message has 'duration_ms' | project Message"


def log_lines(outputs: Mapping[str, Any], *, hours: float, run: Callable[..., Any] = subprocess.run) -> Iterator[str]:
    """The app's event lines of the last ``hours``, through ``az monitor log-analytics query``.

    Raises:
        ConfigError: the outputs name no workspace, or az fails (its message is shown).
    """
    workspace = (outputs.get("cost_inputs") or {}).get("workspace")
    if not workspace:
        raise ConfigError("the Terraform outputs lack cost_inputs (workspace): apply the current deploy files")
    argv = ["az", "monitor", "log-analytics", "query", "--workspace", workspace, "--analytics-query",
            log_query(hours), "--output", "json"]  # fmt: skip
    try:
        done = run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ConfigError("az is not installed or not on PATH") from exc
    if done.returncode != 0:
        raise ConfigError(f"az monitor log-analytics query failed: {(done.stderr or '').strip()[:300]}")
    for row in json.loads(done.stdout or "[]"):
        yield str(row.get("Message", ""))
