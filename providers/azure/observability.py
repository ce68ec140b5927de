"""Azure's workbook and alerts, generated from the metric table into ``deploy/observability.tf``.

The function app's JSON lines reach the Log Analytics workspace as ``AppTraces`` rows (their ``Message``).
Each metric of :data:`core.metrics.METRICS` is a KQL projection of those rows (:func:`measurement_query`: one
row per measurement, the value and the attributes as columns, exactly what the table derives from a line),
and everything here is built on them: an Application Insights workbook with a view of every metric and the
latest failures, scheduled query alerts on the failure rate and the upload-to-ready p95, and the runaway
detector (lines per source, grouped in the query). Counts sum ``ItemCount``, so sampling does not skew them.

The workspace may have no ``AppTraces`` table until the first line arrives: every query reads it through a
fuzzy union with an empty stand-in, as the poison-queue alert does (alerts.tf).

Run ``python -m core.ops.observability`` after changing the table or this module; a test fails while the
committed file differs.
"""

from __future__ import annotations

import json
from typing import Any

from core.alerts import (
    FAILURE_RATE,
    RUNAWAY,
    RUNAWAY_MIN_LINES,
    UPLOAD_TO_READY_P95,
    WINDOW_MINUTES,
    Runaway,
    Threshold,
)
from core.metrics import ATTRIBUTES, BY_NAME, Absent, Condition, Metric, OneOf, Present
from core.ops.hcl import Block, Raw, json_heredoc, render, template

FILE = "observability.tf"
#: Every query starts here: the function's lines, each parsed into ``line``.
SOURCE = (
    "union isfuzzy=true\n"
    "  (datatable(TimeGenerated: datetime, Message: string, ItemCount: long)[]),\n"
    "  (AppTraces)\n"
    '| where Message startswith "{"\n'
    "| extend line = parse_json(Message)"
)
BIN = f"bin(TimeGenerated, {WINDOW_MINUTES}m)"
WORKSPACE = "${azurerm_log_analytics_workspace.this.id}"
ACTION_GROUPS = Raw("[azurerm_monitor_action_group.alerts.id]")
#: The runaway detector's rules notify these instead: the alerts' group, and the automatic brake's when
#: brake_on_runaway is true (deploy/brake.tf defines the local).
RUNAWAY_ACTION_GROUPS = Raw("local.runaway_action_groups")
#: Where the runaway rules' names are defined, once: the rules and the automatic brake read them.
RUNAWAY_ALERT_NAMES = "runaway_alert_names"


def kql_string(value: str) -> str:
    """A KQL string literal."""
    return json.dumps(value)


def kql_condition(condition: Condition) -> str:
    """One condition of the table in KQL, on the parsed ``line``."""
    path = f"line.{condition.field}"
    if isinstance(condition, Present):
        return f"isnotnull({path})"
    if isinstance(condition, Absent):
        return f"isnull({path})"
    if isinstance(condition, OneOf):
        return f"tostring({path}) in ({', '.join(kql_string(v) for v in condition.values)})"
    raise TypeError(condition)


def selected(conditions: tuple[Condition, ...]) -> str:
    """The source's rows that pass every condition."""
    return f"{SOURCE}\n| where " + " and ".join(kql_condition(condition) for condition in conditions)


def measurement_query(metric: Metric) -> str:
    """One row per measurement of ``metric``: ``metric``, ``value``, ``weight`` (sampling's ``ItemCount``), and a
    column per attribute (empty where the line lacks it), as :func:`core.metrics.measure` derives them."""
    value = "1.0" if metric.value is None else f"todouble(line.{metric.value})"
    columns = [f"metric = {kql_string(metric.name)}", f"value = {value}", "weight = ItemCount"]
    columns += [f"{name} = tostring(line.{ATTRIBUTES[name].field})" for name in metric.attributes]
    where = selected(metric.where)
    if metric.value is not None:
        where += f" and isnotnull(todouble(line.{metric.value}))"
    return f"{where}\n| project TimeGenerated, {', '.join(columns)}"


def counted(metric: Metric, by: tuple[str, ...] = (), condition: str = "") -> str:
    """A counter's measurements summed per window (and per ``by``): a time chart."""
    query = measurement_query(metric) + (f"\n| where {condition}" if condition else "")
    groups = ", ".join((BIN, *by))
    return f"{query}\n| summarize total = sum(weight) by {groups}\n| render timechart"


def percentiles(metric: Metric, *points: int, condition: str = "") -> str:
    """A histogram's percentiles per window: a time chart."""
    query = measurement_query(metric) + (f"\n| where {condition}" if condition else "")
    columns = ", ".join(f"p{point} = percentile(value, {point})" for point in points)
    return f"{query}\n| summarize {columns} by {BIN}\n| render timechart"


def _item(name: str, title: str, query: str, visualization: str = "timechart") -> dict[str, Any]:
    return {
        "type": 3,
        "name": name,
        "content": {
            "version": "KqlItem/1.0",
            "title": title,
            "query": query,
            "size": 0,
            "queryType": 0,
            "resourceType": "microsoft.operationalinsights/workspaces",
            "crossComponentResources": [WORKSPACE],
            "visualization": visualization,
            "timeContext": {"durationMs": 86_400_000},
        },
    }


def latest_failures() -> str:
    """The latest failed and errored lines: which image, and why."""
    return (
        f"{selected((OneOf('status', ('failed', 'error')),))}\n"
        "| project TimeGenerated, key = tostring(line.key), status = tostring(line.status), "
        "error_kind = tostring(line.error_kind), error_message = tostring(line.error_message)\n"
        "| order by TimeGenerated desc\n"
        "| take 50"
    )


def workbook() -> dict[str, Any]:
    """The workbook: every metric of the table (each item named after the metric it shows), the failures."""
    renders, duration, ready = (BY_NAME[name] for name in (
        "polythumb.renders", "polythumb.render.duration", "polythumb.upload_to_ready"))  # fmt: skip
    output, megapixels = BY_NAME["polythumb.output.bytes"], BY_NAME["polythumb.source.megapixels"]
    notify = BY_NAME["polythumb.notify.failures"]
    items = [
        {
            "type": 1,
            "name": "about",
            "content": {
                "json": (
                    "# polythumb: ${local.function_name}\n"
                    "How many images failed and why, and how long an upload takes to get its thumbnails: read from the "
                    "function's JSON lines (`AppTraces`). The metric table is in the documentation's "
                    "*Observability* page."
                )
            },
        },
        _item(
            f"{renders.name} by status", "Images handled, by status (polythumb.renders)", counted(renders, ("status",))
        ),
        _item(
            f"{renders.name} failed by error_kind",
            "Failed images, by error kind (polythumb.renders)",
            counted(renders, ("error_kind",), 'status == "failed"'),
        ),
        _item(
            f"{ready.name} percentiles",
            "Upload to thumbnail, ms (polythumb.upload_to_ready)",
            percentiles(ready, 50, 95, 99),
        ),
        _item(
            f"{duration.name} percentiles",
            "Time per image, ms (polythumb.render.duration, status=ok)",
            percentiles(duration, 50, 95, condition='status == "ok"'),
        ),
        _item(
            f"{output.name} by format",
            "Bytes written per image, by format (polythumb.output.bytes): mean",
            f"{measurement_query(output)}\n| summarize mean = sum(value * weight) / sum(weight) by {BIN}, format"
            "\n| render timechart",
        ),
        _item(
            f"{megapixels.name} percentiles",
            "Source size, megapixels (polythumb.source.megapixels)",
            percentiles(megapixels, 50, 95),
        ),
        _item(
            f"{notify.name} by error_kind",
            "Completion events not published (polythumb.notify.failures)",
            counted(notify, ("error_kind",)),
        ),
        _item("latest failures", "Latest failures: which image, and why", latest_failures(), "table"),
    ]
    return {
        "version": "Notebook/1.0",
        "items": items,
        "fallbackResourceIds": [WORKSPACE],
        "$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json",
    }


def failure_rate_query() -> str:
    """The failure rate alert's query: percent of failed among ok and failed, in the window."""
    return (
        f"{measurement_query(BY_NAME['polythumb.renders'])}\n"
        '| summarize failed = sumif(weight, status == "failed"), ended = sumif(weight, status in ("ok", "failed"))\n'
        "| extend failure_rate = iff(ended == 0, 0.0, 100.0 * failed / ended)"
    )


def upload_to_ready_query() -> str:
    """The upload-to-ready alert's query: the window's 95th percentile."""
    return f"{measurement_query(BY_NAME['polythumb.upload_to_ready'])}\n| summarize p95 = percentile(value, 95)"


def runaway_query(detector: Runaway) -> str:
    """One runaway figure's query: the most lines of any one source in the window, read as 0 while the whole
    deployment has fewer such lines than the minimum volume (nothing worth alerting on)."""
    groups = ", ".join(f"source_{field} = tostring(line.{field})" for field in detector.per)
    return (
        f"{selected(detector.where)}\n"
        f"| summarize line_count = sum(ItemCount) by {groups}\n"
        "| summarize most = max(line_count), volume = sum(line_count)\n"
        f"| extend worst = iff(volume >= ${{var.{RUNAWAY_MIN_LINES.variable}}}, most, 0)"
    )


#: Each alert: (resource name, description, query, measured column, threshold).
def alerts() -> list[tuple[str, str, str, str, Threshold]]:
    """The scheduled query alerts: name, description, query, the column measured, the threshold."""
    found = [
        ("failure_rate",
         f"More than the alert_failure_rate_percent of the images handled in {WINDOW_MINUTES} minutes failed (a "
         "permanent error: not an image, too large...). The workbook's failures table says which and why.",
         failure_rate_query(), "failure_rate", FAILURE_RATE),
        ("upload_to_ready_p95",
         f"The 95th percentile of upload-to-thumbnail time over {WINDOW_MINUTES} minutes is over "
         "alert_upload_to_ready_p95_ms: users wait for their thumbnails.",
         upload_to_ready_query(), "p95", UPLOAD_TO_READY_P95),
    ]  # fmt: skip
    found += [
        (
            detector.name,
            f"Runaway detector: {detector.shows} Fires only when the deployment has at least "
            f"{RUNAWAY_MIN_LINES.variable} such lines in the window.",
            runaway_query(detector),
            "worst",
            detector.threshold,
        )
        for detector in RUNAWAY
    ]
    return found


def _variable(threshold: Threshold) -> Block:
    default = int(threshold.default) if float(threshold.default).is_integer() else threshold.default
    return Block("variable", (threshold.variable,), (
        ("description", threshold.description), ("type", Raw("number")), ("default", default),
    ))  # fmt: skip


def alert_name(name: str) -> Raw:
    """The name of alert ``name`` as Azure knows it (the runaway rules': from ``local.runaway_alert_names``)."""
    return template("${local.function_name}-" + name.replace("_", "-"))


def _alert(name: str, description: str, query: str, column: str, threshold: Threshold) -> Block:
    runaway = name in {detector.name for detector in RUNAWAY}
    return Block("resource", ("azurerm_monitor_scheduled_query_rules_alert_v2", name), (
        ("name", Raw(f'local.{RUNAWAY_ALERT_NAMES}["{name}"]') if runaway else alert_name(name)),
        ("resource_group_name", Raw("azurerm_resource_group.this.name")),
        ("location", Raw("azurerm_resource_group.this.location")),
        ("scopes", Raw("[azurerm_log_analytics_workspace.this.id]")),
        ("description", description),
        ("severity", 2),
        ("evaluation_frequency", f"PT{WINDOW_MINUTES}M"),
        ("window_duration", f"PT{WINDOW_MINUTES}M"),
        # AppTraces exists only once the first line has arrived (see the poison-queue alert in alerts.tf).
        ("skip_query_validation", True),
        Block("criteria", (), (
            ("query", template(query)),
            ("time_aggregation_method", "Maximum"),
            ("metric_measure_column", column),
            ("operator", "GreaterThan"),
            ("threshold", Raw(f"var.{threshold.variable}")),
        )),
        Block("action", (), (("action_groups", RUNAWAY_ACTION_GROUPS if runaway else ACTION_GROUPS),)),
        ("tags", Raw("var.tags")),
    ))  # fmt: skip


def blocks() -> list[Block]:
    """Every block of ``deploy/observability.tf``."""
    found = [_variable(threshold) for threshold in (FAILURE_RATE, UPLOAD_TO_READY_P95)]
    found += [_variable(detector.threshold) for detector in RUNAWAY]
    found.append(_variable(RUNAWAY_MIN_LINES))
    found.append(Block("locals", (), (
        (RUNAWAY_ALERT_NAMES, {detector.name: alert_name(detector.name) for detector in RUNAWAY}),
    )))  # fmt: skip
    found.append(Block("resource", ("azurerm_application_insights_workbook", "thumbnails"), (
        ("name", Raw('uuidv5("url", "polythumb://${local.function_name}/thumbnails")')),
        ("resource_group_name", Raw("azurerm_resource_group.this.name")),
        ("location", Raw("azurerm_resource_group.this.location")),
        ("display_name", template("polythumb: ${local.function_name}")),
        ("source_id", Raw("lower(azurerm_log_analytics_workspace.this.id)")),
        ("data_json", json_heredoc(workbook())),
        ("tags", Raw("var.tags")),
    )))  # fmt: skip
    found += [_alert(*alert) for alert in alerts()]
    return found


HEADER = """\
# Generated by `python -m core.ops.observability` from the metric table (core/metrics.py) and
# providers/azure/observability.py: do not edit by hand (a test fails while this file differs from the output).
#
# An Application Insights workbook of every metric (KQL over the function's JSON lines in AppTraces),
# scheduled query alerts on the failure rate and on the upload-to-ready p95, and the runaway detector (lines
# per source revision in the window, at a minimum volume). Every alert notifies the action group (alerts.tf);
# local.runaway_alert_names names the runaway rules, which also notify the automatic brake (brake.tf,
# brake_on_runaway).
"""


def generate() -> dict[str, str]:
    """File name (in the deploy folder) -> content."""
    return {FILE: render(blocks(), header=HEADER)}


def dashboards() -> dict[str, Any]:
    """The workbook document, with its interpolations left in (for the pictures and tests)."""
    return {"thumbnails": workbook()}


def panels() -> list[dict[str, Any]]:
    """The workbook's items as cloud-neutral panels, two per row as the workbook lays them out."""
    found: list[dict[str, Any]] = []
    x, y = 0, 0
    for item in workbook()["items"]:
        wide = item["type"] == 1 or item["content"].get("visualization") == "table"
        if wide and x:
            x, y = 0, y + 6
        panel: dict[str, Any] = {"x": x, "y": y, "w": 12 if wide else 6, "h": 3 if item["type"] == 1 else 6, "grid": 12}
        if item["type"] == 1:
            panel.update(kind="text", title=item["content"]["json"].splitlines()[0].lstrip("# "))
        elif item["content"]["visualization"] == "table":
            panel.update(kind="table", title=item["content"]["title"])
        else:
            query, metric = item["content"]["query"], item["name"].split()[0]
            summarize = next(line for line in query.splitlines() if line.startswith("| summarize"))
            fixed = {}
            for line in query.splitlines():
                if line.startswith("| where ") and " == " in line and "line." not in line:
                    name, _, value = line.removeprefix("| where ").partition(" == ")
                    fixed[name] = value.strip('"')
            group = summarize.split(" by ")[1].split(", ")[-1] if ", " in summarize.split(" by ")[1] else None
            panel["title"] = item["content"]["title"]
            if "percentile(" in summarize:
                stats = [int(part.split(", ")[1].split(")")[0]) for part in summarize.split("percentile(")[1:]]
                panel.update(kind="percentiles", metric=metric, where=fixed, stats=stats)
            else:
                kind = "counter" if "total = sum(weight)" in summarize else "mean"
                panel.update(kind=kind, metric=metric, where=fixed,
                             group_by=group)  # fmt: skip
        found.append(panel)
        if wide or x:
            x, y = 0, y + panel["h"]
        else:
            x = 6
    return found
