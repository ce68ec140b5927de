"""GCP's log-based metrics, dashboard and alerts, generated from the metric table into ``deploy/observability.tf``.

Cloud Run parses each JSON line the functions write into a log entry's ``jsonPayload``; a log-based metric per
entry of :data:`core.metrics.METRICS` (a counter, or a distribution with its value extractor, and a label
extractor per attribute) turns them into Cloud Monitoring metrics, with nothing in the function. This module
writes those metrics, one Cloud Monitoring dashboard showing each of them (and the latest failures' log
lines), alert policies on the failure rate and the upload-to-ready p95, and the runaway detector: SQL
conditions over the functions' log bucket (Log Analytics), counting lines per source. Every alert notifies
the stack's channel.

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
from core.metrics import ATTRIBUTES, BY_NAME, METRICS, Absent, Condition, Metric, OneOf, Present
from core.ops.hcl import Block, Raw, json_heredoc, render, template

FILE = "observability.tf"
#: The functions' log entries (the log sink's own filter: their Cloud Run services).
OBSERVED_LOGS = "${google_logging_project_sink.functions.filter}"
#: The same, inside a JSON string (its quotes escaped): what the dashboard's log panel filters on.
OBSERVED_LOGS_IN_JSON = "${local.observed_logs_in_json}"
PREFIX = "${var.name_prefix}"
PERIOD = f"{WINDOW_MINUTES * 60}s"
#: Exponential buckets of each distribution: the smallest bucket's upper bound (scale) in the metric's unit.
SCALES = {"ms": 1, "By": 64, "{megapixel}": 0.01}
GROWTH = 1.5
BUCKETS = 48
#: The log view the runaway detector's SQL reads (the functions' bucket, upgraded to Log Analytics).
LOG_VIEW = "${var.project_id}.global.${google_logging_project_bucket_config.functions.bucket_id}._AllLogs"
CHANNELS = Raw("local.notification_channels")
#: The runaway detector's policies also notify the automatic brake's channel (deploy/brake.tf: none unless
#: brake_on_runaway, so the value is then the same list as CHANNELS).
RUNAWAY_CHANNELS = Raw("concat(local.notification_channels, local.brake_channels)")
#: The sink's filter as the inside of a JSON string (its quotes escaped), for the dashboard's JSON.
JSON_ESCAPED_FILTER = 'trimsuffix(trimprefix(jsonencode(google_logging_project_sink.functions.filter), "\\""), "\\"")'


def metric_id(metric: Metric) -> str:
    """The log-based metric's name (``<prefix>/polythumb.renders``), unique per deployment."""
    return f"{PREFIX}/{metric.name}"


def metric_type(metric: Metric) -> str:
    """The Cloud Monitoring metric type of a log-based metric."""
    return f"logging.googleapis.com/user/{metric_id(metric)}"


def log_condition(condition: Condition) -> str:
    """One condition of the table in the Logging query language."""
    path = f"jsonPayload.{condition.field}"
    if isinstance(condition, Present):
        return f"{path}:*"
    if isinstance(condition, Absent):
        return f"NOT {path}:*"
    if isinstance(condition, OneOf):
        values = " OR ".join(json.dumps(value) for value in condition.values)
        return f"{path}=({values})" if len(condition.values) > 1 else f"{path}={values}"
    raise TypeError(condition)


def log_filter(conditions: tuple[Condition, ...], *, logs: str = OBSERVED_LOGS) -> str:
    """The entries of the functions' logs (``logs``: the filter selecting them) that pass every condition."""
    return " AND ".join([f"({logs})", *(log_condition(c) for c in conditions)])


def log_metric(metric: Metric) -> Block:
    """The ``google_logging_metric`` of one metric."""
    distribution = metric.kind == "histogram"
    labels = [
        Block(
            "labels",
            (),
            (
                ("key", name),
                ("value_type", "STRING"),
                ("description", ATTRIBUTES[name].meaning),
            ),
        )
        for name in metric.attributes
    ]
    body: list[tuple[str, Any] | Block] = [
        ("name", template(metric_id(metric))),
        ("description", metric.description),
        ("filter", template(log_filter(metric.where))),
    ]
    if metric.value is not None:
        body.append(("value_extractor", f"EXTRACT(jsonPayload.{metric.value})"))
    body.append(("label_extractors", {
        name: f"EXTRACT(jsonPayload.{ATTRIBUTES[name].field})" for name in metric.attributes
    }))  # fmt: skip
    body.append(Block("metric_descriptor", (), (
        ("metric_kind", "DELTA"),
        ("value_type", "DISTRIBUTION" if distribution else "INT64"),
        ("unit", metric.unit),
        ("display_name", metric.name),
        *labels,
    )))  # fmt: skip
    if distribution:
        body.append(Block("bucket_options", (), (
            Block("exponential_buckets", (), (
                ("num_finite_buckets", BUCKETS), ("growth_factor", GROWTH), ("scale", SCALES[metric.unit]),
            )),
        )))  # fmt: skip
    body.append(("depends_on", Raw("[google_project_service.apis]")))
    return Block("resource", ("google_logging_metric", resource_name(metric)), tuple(body))


def resource_name(metric: Metric) -> str:
    """The Terraform name of a metric's ``google_logging_metric`` (``renders``, ``upload_to_ready``)."""
    return metric.name.removeprefix("polythumb.").replace(".", "_")


def series(metric: Metric, *, reducer: str, group_by: tuple[str, ...] = (), **labels: str) -> dict[str, Any]:
    """A dashboard data set: ``metric`` aligned per period, reduced across series (grouped by ``group_by``)."""
    terms = [f'metric.type="{metric_type(metric)}"', 'resource.type="cloud_run_revision"']
    terms += [f'metric.label."{name}"="{value}"' for name, value in labels.items()]
    aggregation: dict[str, Any] = {
        "alignmentPeriod": PERIOD, "perSeriesAligner": "ALIGN_DELTA", "crossSeriesReducer": reducer,
    }  # fmt: skip
    if group_by:
        aggregation["groupByFields"] = [f'metric.label."{name}"' for name in group_by]
    return {
        "timeSeriesQuery": {"timeSeriesFilter": {"filter": " ".join(terms), "aggregation": aggregation}},
        "plotType": "STACKED_BAR" if metric.kind == "counter" else "LINE",
    }


def _chart(title: str, *data_sets: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "xyChart": {"dataSets": list(data_sets), "timeshiftDuration": "0s"}}


def dashboard() -> dict[str, Any]:
    """The Cloud Monitoring dashboard: every metric of the table, and the latest failures' lines."""
    renders, duration, ready = (
        BY_NAME["polythumb.renders"],
        BY_NAME["polythumb.render.duration"],
        BY_NAME["polythumb.upload_to_ready"],
    )
    output, megapixels = BY_NAME["polythumb.output.bytes"], BY_NAME["polythumb.source.megapixels"]
    notify = BY_NAME["polythumb.notify.failures"]
    percentiles = ("REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99")
    widgets = [
        {
            "title": "About",
            "text": {
                "format": "MARKDOWN",
                "content": (
                    f"**polythumb: {PREFIX}**. How many images failed and why, and how long an upload takes to get its "
                    "thumbnails: log-based metrics read from the functions' JSON lines (see the documentation's "
                    "*Observability* page for the table)."
                ),
            },
        },
        _chart(
            "Images handled, by status (polythumb.renders)", series(renders, reducer="REDUCE_SUM", group_by=("status",))
        ),
        _chart(
            "Failed images, by error kind (polythumb.renders, status=failed)",
            series(renders, reducer="REDUCE_SUM", group_by=("error_kind",), status="failed"),
        ),
        _chart(
            "Upload to thumbnail, ms (polythumb.upload_to_ready): p50, p95, p99",
            *(series(ready, reducer=reducer) for reducer in percentiles),
        ),
        _chart(
            "Time per image, ms (polythumb.render.duration, status=ok): p50, p95",
            *(series(duration, reducer=reducer, status="ok") for reducer in percentiles[:2]),
        ),
        _chart(
            "Bytes written per image, by format (polythumb.output.bytes): mean",
            series(output, reducer="REDUCE_MEAN", group_by=("format",)),
        ),
        _chart(
            "Source size, megapixels (polythumb.source.megapixels): p50, p95",
            *(series(megapixels, reducer=reducer) for reducer in percentiles[:2]),
        ),
        _chart(
            "Completion events not published, by error kind (polythumb.notify.failures)",
            series(notify, reducer="REDUCE_SUM", group_by=("error_kind",)),
        ),
        {
            "title": "Latest failures: which image, and why",
            "logsPanel": {
                "filter": log_filter((OneOf("status", ("failed", "error")),), logs=OBSERVED_LOGS_IN_JSON),
                "resourceNames": [],
            },
        },
    ]
    tiles: list[dict[str, Any]] = []
    y = 0
    for index, widget in enumerate(widgets):
        wide = "text" in widget or "logsPanel" in widget
        width, height = (48, 4 if "text" in widget else 16) if wide else (24, 16)
        x = 0 if wide or index % 2 == 1 else 24
        if wide and tiles and tiles[-1]["xPos"] == 0 and tiles[-1]["width"] == 24:
            y += 16
        tiles.append({"xPos": x, "yPos": y, "width": width, "height": height, "widget": widget})
        if wide or x == 24:
            y += height
    return {"displayName": f"polythumb: {PREFIX}", "mosaicLayout": {"columns": 48, "tiles": tiles}}


def sql_condition(condition: Condition) -> str:
    """One condition of the table in Log Analytics SQL (the JSON payload's fields through ``JSON_VALUE``)."""
    value = f"JSON_VALUE(json_payload.{condition.field})"
    if isinstance(condition, Present):
        return f"{value} IS NOT NULL"
    if isinstance(condition, Absent):
        return f"{value} IS NULL"
    if isinstance(condition, OneOf):
        return f"{value} IN ({', '.join(repr(v) for v in condition.values)})"
    raise TypeError(condition)


def runaway_sql(detector: Runaway) -> str:
    """The query of one runaway figure: the sources with more lines than its threshold since the last run, once
    the whole deployment has at least the minimum volume of such lines (else no row: nothing to alert on)."""
    columns = ",\n    ".join(f"JSON_VALUE(json_payload.{field}) AS source_{field}" for field in detector.per)
    where = "\n    AND ".join(sql_condition(condition) for condition in detector.where)
    groups = ", ".join(f"source_{field}" for field in detector.per)
    # Built from the metric table's own names and Terraform variables: no outside input (S608).
    return (
        "WITH selected AS (\n"  # noqa: S608
        f"  SELECT\n    {columns}\n"
        f"  FROM `{LOG_VIEW}`\n"
        "  WHERE resource.type = 'cloud_run_revision'\n"
        "    AND JSON_VALUE(resource.labels.service_name) IN (${local.observed_services})\n"
        f"    AND {where}\n"
        ")\n"
        f"SELECT {groups}, COUNT(*) AS line_count\n"
        "FROM selected\n"
        f"GROUP BY {groups}\n"
        f"HAVING COUNT(*) > ${{var.{detector.threshold.variable}}}\n"
        f"  AND (SELECT COUNT(*) FROM selected) >= ${{var.{RUNAWAY_MIN_LINES.variable}}}\n"
    )


def _variable(threshold: Threshold) -> Block:
    default = int(threshold.default) if float(threshold.default).is_integer() else threshold.default
    return Block("variable", (threshold.variable,), (
        ("description", threshold.description), ("type", Raw("number")), ("default", default),
    ))  # fmt: skip


def _policy(name: str, title: str, documentation: str, condition: Block, *, channels: Raw = CHANNELS) -> Block:
    return Block("resource", ("google_monitoring_alert_policy", name), (
        ("display_name", template(f"{PREFIX}: {title}")),
        ("combiner", "OR"),
        ("notification_channels", channels),
        condition,
        Block("documentation", (), (("mime_type", "text/markdown"), ("content", template(documentation)))),
        ("depends_on", Raw("[google_project_service.apis]")),
    ))  # fmt: skip


def _aggregation(reducer: str, kind: str = "aggregations") -> Block:
    return Block(kind, (), (
        ("alignment_period", PERIOD), ("per_series_aligner", "ALIGN_DELTA"), ("cross_series_reducer", reducer),
    ))  # fmt: skip


def _monitoring_filter(metric: Metric, condition: str = "") -> Raw:
    text = f'metric.type = "{metric_type(metric)}" AND resource.type = "cloud_run_revision"'
    return template(text + (f" AND {condition}" if condition else ""))


def blocks() -> list[Block]:
    """Every block of ``deploy/observability.tf``."""
    renders, ready = BY_NAME["polythumb.renders"], BY_NAME["polythumb.upload_to_ready"]
    found = [_variable(threshold) for threshold in (FAILURE_RATE, UPLOAD_TO_READY_P95)]
    found += [_variable(detector.threshold) for detector in RUNAWAY]
    found.append(_variable(RUNAWAY_MIN_LINES))
    found.append(Block("locals", (), (
        ("observed_services", Raw("""join(", ", [for name in local.function_services : "'${name}'"])""")),
        ("observed_logs_in_json", Raw(JSON_ESCAPED_FILTER)),
        # What the automatic brake acts on (brake.tf): the incidents' policy_name is the policy's display name.
        ("runaway_policy_names", Raw(
            "[" + ", ".join(f"google_monitoring_alert_policy.{d.name}.display_name" for d in RUNAWAY) + "]"
        )),
    )))  # fmt: skip
    found += [log_metric(metric) for metric in METRICS]
    metrics = ", ".join(f"google_logging_metric.{resource_name(metric)}" for metric in METRICS)
    found.append(Block("resource", ("google_monitoring_dashboard", "thumbnails"), (
        ("project", Raw("var.project_id")),
        ("dashboard_json", json_heredoc(dashboard())),
        ("depends_on", Raw(f"[{metrics}]")),
    )))  # fmt: skip
    found.append(_policy(
        "failure_rate", "images failing",
        f"More than ${{var.{FAILURE_RATE.variable}}} percent of the images handled in {WINDOW_MINUTES} minutes "
        "failed (a permanent error: not an image, too large...). The dashboard's failures panel says which and why.",
        Block("conditions", (), (
            ("display_name", "failed among ok and failed (polythumb.renders)"),
            Block("condition_threshold", (), (
                ("filter", _monitoring_filter(renders, 'metric.label.status = "failed"')),
                ("denominator_filter", _monitoring_filter(renders, 'metric.label.status = one_of("ok", "failed")')),
                ("comparison", "COMPARISON_GT"),
                ("threshold_value", Raw(f"var.{FAILURE_RATE.variable} / 100")),
                ("duration", "0s"),
                _aggregation("REDUCE_SUM"),
                _aggregation("REDUCE_SUM", "denominator_aggregations"),
            )),
        )),
    ))  # fmt: skip
    found.append(_policy(
        "upload_to_ready_p95", "thumbnails slow to appear",
        f"The 95th percentile of upload-to-thumbnail time over {WINDOW_MINUTES} minutes is over "
        f"${{var.{UPLOAD_TO_READY_P95.variable}}} ms: users wait for their thumbnails (a backlog, cold starts, "
        "slow renders).",
        Block("conditions", (), (
            ("display_name", "upload to ready, p95 (polythumb.upload_to_ready)"),
            Block("condition_threshold", (), (
                ("filter", _monitoring_filter(ready)),
                ("comparison", "COMPARISON_GT"),
                ("threshold_value", Raw(f"var.{UPLOAD_TO_READY_P95.variable}")),
                ("duration", "0s"),
                _aggregation("REDUCE_PERCENTILE_95"),
            )),
        )),
    ))  # fmt: skip
    for detector in RUNAWAY:
        found.append(_policy(
            detector.name, f"runaway: {detector.name.replace('_', ' ')}",
            f"Runaway detector: {detector.shows} Fires only when the deployment has at least "
            f"${{var.{RUNAWAY_MIN_LINES.variable}}} such lines in the window.",
            Block("conditions", (), (
                ("display_name", f"sources over var.{detector.threshold.variable} lines in {WINDOW_MINUTES} minutes"),
                Block("condition_sql", (), (
                    ("query", template(runaway_sql(detector))),
                    Block("minutes", (), (("periodicity", WINDOW_MINUTES),)),
                    Block("row_count_test", (), (("comparison", "COMPARISON_GT"), ("threshold", 0))),
                )),
            )),
            channels=RUNAWAY_CHANNELS,
        ))  # fmt: skip
    return found


HEADER = """\
# Generated by `python -m core.ops.observability` from the metric table (core/metrics.py) and
# providers/gcp/observability.py: do not edit by hand (a test fails while this file differs from the output).
#
# Log-based metrics read from the functions' JSON lines, a Cloud Monitoring dashboard of every one of them,
# alert policies on the failure rate and on the upload-to-ready p95, and the runaway detector: SQL conditions
# over the functions' log bucket (upgraded to Log Analytics in logging.tf), counting lines per source revision
# once the deployment has a minimum volume of them. Every policy notifies the alert channel (alerts.tf);
# local.runaway_policy_names names the runaway policies, which also notify the automatic brake (brake.tf,
# brake_on_runaway).
"""


def generate() -> dict[str, str]:
    """File name (in the deploy folder) -> content."""
    return {FILE: render(blocks(), header=HEADER)}


def dashboards() -> dict[str, Any]:
    """The dashboard documents, by name, with their interpolations left in (for the pictures and tests)."""
    return {"thumbnails": dashboard()}


def panels() -> list[dict[str, Any]]:
    """The dashboard's tiles as cloud-neutral panels (what :mod:`core.reports.dashboards` draws)."""
    found = []
    for tile in dashboard()["mosaicLayout"]["tiles"]:
        widget = tile["widget"]
        panel: dict[str, Any] = {"title": widget["title"], "x": tile["xPos"], "y": tile["yPos"], "w": tile["width"],
                                 "h": tile["height"], "grid": 48}  # fmt: skip
        if "text" in widget:
            panel.update(kind="text", title=widget["text"]["content"].split("**")[1].rstrip("."))
        elif "logsPanel" in widget:
            panel.update(kind="table")
        else:
            sets = widget["xyChart"]["dataSets"]
            query = sets[0]["timeSeriesQuery"]["timeSeriesFilter"]
            metric = query["filter"].split('"')[1].rsplit("/", 1)[-1]
            fixed = {part.split('"')[0]: part.split('"')[2] for part in query["filter"].split('metric.label."')[1:]}
            reducers = [s["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"]["crossSeriesReducer"] for s in sets]
            groups = query["aggregation"].get("groupByFields", [])
            group = groups[0].split('"')[1] if groups else None
            if reducers[0].startswith("REDUCE_PERCENTILE"):
                panel.update(kind="percentiles", metric=metric, where=fixed,
                             stats=[int(r.rsplit("_", 1)[1]) for r in reducers])  # fmt: skip
            else:
                kind = "counter" if reducers[0] == "REDUCE_SUM" else "mean"
                panel.update(kind=kind, metric=metric, where=fixed, group_by=group)
        found.append(panel)
    return found
