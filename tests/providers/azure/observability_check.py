"""Azure's reading of the function's log lines, checked against the metric table.

Each JSON line becomes an ``AppTraces`` row (its ``Message``); every query of ``deploy/observability.tf`` (the
workbook's items and the scheduled alerts') is run on those rows by a KQL evaluator (tests/kql.py):

* each workbook item named after a metric projects exactly the table's measurements of that metric (the
  query up to its ``summarize``), and the whole item returns rows;
* the failure-rate, upload-to-ready and runaway alerts compute the table's figures;
* every query returns at least one row: a query that reads nothing fails.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.alerts import RUNAWAY
from core.metrics import BY_NAME, measure
from core.ops.stats import percentile
from tests.kql import run
from tests.observability_support import (
    deploy_module,
    every_metric_read,
    expected,
    hcl_text,
    interpolate,
    resources,
    variables,
)

VALUES = {"local.function_name": "pt-thumbs", "azurerm_log_analytics_workspace.this.id": "/subscriptions/x/workspace"}


def app_traces(lines: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The lines as the workspace's ``AppTraces`` rows (and one line of the host's own, not JSON)."""
    now = datetime.now(UTC)
    rows = [{"TimeGenerated": now, "Message": json.dumps(line), "ItemCount": 1} for line in lines]
    rows.append({"TimeGenerated": now, "Message": "Executing 'Functions.on_event_grid'", "ItemCount": 1})
    return {"AppTraces": rows}


def workbook() -> dict[str, Any]:
    body = resources(deploy_module("azure"), "azurerm_application_insights_workbook")["thumbnails"]["data_json"]
    return dict(json.loads(interpolate(hcl_text(body), VALUES)))


def alert_queries(**overrides: float) -> dict[str, tuple[str, str]]:
    """Each scheduled alert's query and measured column, by resource name (the variables' defaults in the query,
    ``overrides``: tfvars)."""
    values = {**VALUES, **variables("azure", **overrides)}
    found = {}
    for name, body in resources(deploy_module("azure"), "azurerm_monitor_scheduled_query_rules_alert_v2").items():
        criteria = body["criteria"][0]
        found[name] = (interpolate(hcl_text(criteria["query"]), values), criteria.get("metric_measure_column", ""))
    return found


def runaway_fires(lines: Sequence[Mapping[str, Any]], **overrides: float) -> set[str]:
    """The runaway alerts of ``deploy/observability.tf`` that fire over one window's ``lines``: each query's
    measured column against the alert's threshold (``GreaterThan``), with the variables' defaults (``overrides``:
    tfvars)."""
    values = variables("azure", **overrides)
    bodies = resources(deploy_module("azure"), "azurerm_monitor_scheduled_query_rules_alert_v2")
    queries = alert_queries(**overrides)
    firing = set()
    for detector in RUNAWAY:
        criteria = bodies[detector.name]["criteria"][0]
        assert criteria["operator"] == "GreaterThan" and criteria["time_aggregation_method"] == "Maximum"
        query, column = queries[detector.name]
        rows = run(query, app_traces(lines))
        threshold = float(interpolate(criteria["threshold"], values))
        if any(row[column] > threshold for row in rows):
            firing.add(detector.name)
    return firing


def _projection(query: str) -> str:
    """A workbook item's query up to its ``project``: the per-measurement rows."""
    lines = query.split("\n")
    [end] = [index for index, line in enumerate(lines) if line.startswith("| project ")]
    return "\n".join(lines[: end + 1])


def check_workbook(lines: Sequence[Mapping[str, Any]]) -> None:
    tables = app_traces(lines)
    table = expected(lines)
    every_metric_read(table)
    shown: set[str] = set()
    for item in workbook()["items"]:
        if item["type"] != 3:
            continue
        query = item["content"]["query"]
        assert run(query, tables), f"the workbook's {item['name']!r} returns nothing"
        metric = item["name"].split()[0]
        if metric not in BY_NAME:
            continue
        shown.add(metric)
        rows = run(_projection(query), tables)
        assert rows and {row["metric"] for row in rows} == {metric}
        got = Counter(
            (metric, round(row["value"], 6), tuple(sorted(
                (name, row[name]) for name in BY_NAME[metric].attributes if row[name] not in (None, "")
            )))
            for row in rows
            for _ in range(int(row["weight"]))
        )
        assert got == Counter({k: n for k, n in table.items() if k[0] == metric}), metric
    assert shown == set(BY_NAME), "the workbook shows every metric of the table"


def check_alerts(lines: Sequence[Mapping[str, Any]]) -> None:
    tables = app_traces(lines)
    queries = alert_queries(alert_runaway_min_lines=0)  # the runaway figures whatever the volume
    measurements = [m for line in lines for m in measure(line)]
    statuses = Counter(m.attributes.get("status") for m in measurements if m.metric == "polythumb.renders")
    [rate] = run(queries["failure_rate"][0], tables)
    assert queries["failure_rate"][1] == "failure_rate"
    assert rate["failure_rate"] == 100.0 * statuses["failed"] / (statuses["failed"] + statuses["ok"])
    [p95] = run(queries["upload_to_ready_p95"][0], tables)
    ready = [m.value for m in measurements if m.metric == "polythumb.upload_to_ready"]
    assert p95["p95"] == percentile(ready, 95)
    for detector in RUNAWAY:
        query, column = queries[detector.name]
        [worst] = run(query, tables)
        assert worst[column] == detector.worst(lines) > 0, detector.name


def check_metric_lines(lines: Sequence[Mapping[str, Any]]) -> None:
    """The Azure function's lines, read as Log Analytics reads them, give the table's figures."""
    check_workbook(lines)
    check_alerts(lines)
