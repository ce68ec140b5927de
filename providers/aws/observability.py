"""AWS's dashboard, alarms and runaway detector, generated from the metric table into ``deploy/observability.tf``.

The metrics themselves come from the handler's log lines (CloudWatch Embedded Metric Format,
:mod:`providers.aws.metrics`); this module writes what reads them: one CloudWatch dashboard (every metric of
:data:`core.metrics.METRICS`, and the latest failures from the log group), alarms on the failure rate and the
upload-to-ready p95, and the runaway detector (two Contributor Insights rules over the log group, grouped by
source, and an alarm on each one's largest contributor). Every alarm notifies the stack's alarm topic.

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
from core.metrics import BY_NAME, Absent, Condition, OneOf, Present
from core.ops.hcl import Block, Raw, json_heredoc, render, template
from providers.aws.metrics import DIMENSION_SETS, FUNCTION_DIMENSION, NAMESPACE

FILE = "observability.tf"
FUNCTION = "${local.observed_function}"
REGION = "${var.region}"
LOG_GROUP = "${aws_cloudwatch_log_group.function.name}"
PERIOD = WINDOW_MINUTES * 60
RENDERS = BY_NAME["polythumb.renders"].name
UPLOAD_TO_READY = BY_NAME["polythumb.upload_to_ready"].name
ACTIONS = Raw("[aws_sns_topic.alarms.arn]")


def search(metric: str, dimensions: tuple[str, ...], statistic: str, **values: str) -> str:
    """A SEARCH expression over one published dimension set of ``metric`` (``values``: fixed ones)."""
    if dimensions not in DIMENSION_SETS[metric]:
        raise ValueError(f"{metric} is not published with the dimensions {dimensions}")
    schema = ",".join((NAMESPACE, FUNCTION_DIMENSION, *dimensions))
    terms = [f'MetricName="{metric}"', f'{FUNCTION_DIMENSION}="{FUNCTION}"']
    terms += [f'{name}="{value}"' for name, value in values.items()]
    return f"SEARCH('{{{schema}}} {' '.join(terms)}', '{statistic}', {PERIOD})"


def _metric_widget(title: str, metrics: list[Any], *, stacked: bool = False, **extra: Any) -> dict[str, Any]:
    properties = {"title": title, "region": REGION, "view": "timeSeries", "stacked": stacked, "period": PERIOD}
    return {"type": "metric", "properties": {**properties, "metrics": metrics, **extra}}


def _expression(expression: str, ident: str, label: str = "") -> list[dict[str, Any]]:
    return [{"expression": expression, "id": ident, "label": label}]


def _percentiles(metric: str, *stats: str, **dimensions: str) -> list[Any]:
    """One line per statistic of ``metric`` in the function's own dimension set (plus ``dimensions``)."""
    keys = tuple(dimensions)
    if keys not in DIMENSION_SETS[metric]:
        raise ValueError(f"{metric} is not published with the dimensions {keys}")
    pairs = [item for name, value in dimensions.items() for item in (name, value)]
    return [[NAMESPACE, metric, FUNCTION_DIMENSION, FUNCTION, *pairs, {"stat": stat, "label": stat}] for stat in stats]


def dashboard() -> dict[str, Any]:
    """The CloudWatch dashboard's body: every metric of the table, the failures' reasons, the runaway rules."""
    renders, duration, ready = RENDERS, "polythumb.render.duration", UPLOAD_TO_READY
    output, megapixels, notify = "polythumb.output.bytes", "polythumb.source.megapixels", "polythumb.notify.failures"
    widgets = [
        {
            "type": "text",
            "properties": {
                "markdown": (
                    f"# polythumb: {FUNCTION}\n"
                    "How many images failed and why, and how long an upload takes to get its thumbnails. Metrics from "
                    "the function's log lines (Embedded Metric Format, namespace `polythumb`); the table is in the "
                    "documentation's *Observability* page."
                )
            },
        },
        _metric_widget(
            "Images handled, by status (polythumb.renders)",
            [_expression(search(renders, ("status",), "Sum"), "status")],
            stacked=True,
        ),
        _metric_widget(
            "Failed images, by error kind (polythumb.renders, status=failed)",
            [_expression(search(renders, ("status", "error_kind"), "Sum", status="failed"), "why")],
            stacked=True,
        ),
        _metric_widget("Upload to thumbnail, ms (polythumb.upload_to_ready)", _percentiles(ready, "p50", "p95", "p99")),
        _metric_widget(
            "Time per image, ms (polythumb.render.duration, status=ok)",
            _percentiles(duration, "p50", "p95", "Maximum", status="ok"),
        ),
        _metric_widget(
            "Bytes written per image, by profile and format (polythumb.output.bytes)",
            [_expression(search(output, ("profile", "format"), "Average"), "bytes")],
        ),
        _metric_widget(
            "Source size, megapixels (polythumb.source.megapixels)", _percentiles(megapixels, "p50", "p95", "Maximum")
        ),
        _metric_widget(
            "Completion events not published, by error kind (polythumb.notify.failures)",
            [_expression(search(notify, ("error_kind",), "Sum"), "notify")],
            stacked=True,
        ),
        *(
            {
                "type": "metric",
                "properties": {
                    "title": f"Runaway detector: {detector.name.replace('_', ' ')} (top sources)",
                    "region": REGION,
                    "period": PERIOD,
                    "insightRule": {"maxContributorCount": 10, "orderBy": "Maximum", "ruleName": rule_name(detector)},
                },
            }
            for detector in RUNAWAY
        ),
        {
            "type": "log",
            "properties": {
                "title": "Latest failures: which image, and why",
                "region": REGION,
                "view": "table",
                "query": f"SOURCE '{LOG_GROUP}' | fields @timestamp, key, error_kind, error_message, status"
                ' | filter status = "failed" or status = "error" | sort @timestamp desc | limit 50',
            },
        },
    ]
    return {"widgets": _laid_out(widgets)}


def _laid_out(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Widgets two per row (a text or log widget takes the whole row)."""
    laid, x, y = [], 0, 0
    for widget in widgets:
        wide = widget["type"] in ("text", "log")
        width, height = (24, 3 if widget["type"] == "text" else 8) if wide else (12, 6)
        if wide and x:
            x, y = 0, y + 6
        laid.append({**widget, "x": x, "y": y, "width": width, "height": height})
        if wide or x:
            x, y = 0, y + height
        else:
            x = 12
    return laid


def rule_name(detector: Runaway) -> str:
    """The Contributor Insights rule of one runaway figure (its name as the alarm's expression reads it)."""
    return "${var.name}-" + detector.name.replace("_", "-")


def contributor_filter(condition: Condition) -> dict[str, Any]:
    """One condition of the table as a Contributor Insights filter."""
    if isinstance(condition, Present):
        return {"Match": f"$.{condition.field}", "IsPresent": True}
    if isinstance(condition, Absent):
        return {"Match": f"$.{condition.field}", "IsPresent": False}
    if isinstance(condition, OneOf):
        return {"Match": f"$.{condition.field}", "In": list(condition.values)}
    raise TypeError(condition)


def contributor_rule(detector: Runaway) -> dict[str, Any]:
    """The Contributor Insights rule counting ``detector``'s lines per source in the function's log group."""
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": [LOG_GROUP],
        "LogFormat": "JSON",
        "Contribution": {
            "Keys": [f"$.{field}" for field in detector.per],
            "Filters": [contributor_filter(condition) for condition in detector.where],
        },
        "AggregateOn": "Count",
    }


def _variable(threshold: Threshold) -> Block:
    default = int(threshold.default) if float(threshold.default).is_integer() else threshold.default
    return Block("variable", (threshold.variable,), (
        ("description", threshold.description), ("type", Raw("number")), ("default", default),
    ))  # fmt: skip


def _alarm(name: str, description: str, threshold: Threshold, *body: tuple[str, Any] | Block) -> Block:
    return Block("resource", ("aws_cloudwatch_metric_alarm", name), (
        ("alarm_name", template("${var.name}-" + name.replace("_", "-"))),
        ("alarm_description", description),
        ("comparison_operator", "GreaterThanThreshold"),
        ("evaluation_periods", 1),
        ("threshold", Raw(f"var.{threshold.variable}")),
        ("treat_missing_data", "notBreaching"),
        ("alarm_actions", ACTIONS),
        ("ok_actions", ACTIONS),
        *body,
    ))  # fmt: skip


def _renders_query(ident: str, status: str) -> Block:
    return Block("metric_query", (), (
        ("id", ident),
        Block("metric", (), (
            ("namespace", NAMESPACE),
            ("metric_name", RENDERS),
            ("dimensions", {FUNCTION_DIMENSION: Raw("local.observed_function"), "status": status}),
            ("period", PERIOD),
            ("stat", "Sum"),
        )),
    ))  # fmt: skip


def _insight_query(detector: Runaway, ident: str, statistic: str) -> Block:
    """One statistic of ``detector``'s Contributor Insights rule (``MaxContributorValue``: the worst source's
    lines; ``SampleCount``: every line the rule matched, the deployment's volume)."""
    return Block("metric_query", (), (
        ("id", ident),
        ("expression", template(
            f"INSIGHT_RULE_METRIC('${{aws_cloudwatch_contributor_insight_rule.{detector.name}.rule_name}}', "
            f"'{statistic}')"
        )),
        ("period", PERIOD),
        ("return_data", False),
    ))  # fmt: skip


def blocks() -> list[Block]:
    """Every block of ``deploy/observability.tf``."""
    found = [_variable(threshold) for threshold in (FAILURE_RATE, UPLOAD_TO_READY_P95)]
    found += [_variable(detector.threshold) for detector in RUNAWAY]
    found.append(_variable(RUNAWAY_MIN_LINES))
    found.append(Block("locals", (), (
        ("observed_function", Raw("aws_lambda_function.thumbnailer.function_name")),
        ("runaway_alarm_names", Raw(
            "[" + ", ".join(f"aws_cloudwatch_metric_alarm.{detector.name}.alarm_name" for detector in RUNAWAY) + "]"
        )),
    )))  # fmt: skip
    found.append(Block("resource", ("aws_cloudwatch_dashboard", "thumbnails"), (
        ("dashboard_name", template("${var.name}-thumbnails")),
        ("dashboard_body", json_heredoc(dashboard())),
    )))  # fmt: skip
    found.append(_alarm(
        "failure_rate",
        f"More than var.{FAILURE_RATE.variable} percent of the images handled in {WINDOW_MINUTES} minutes failed "
        "(a permanent error: not an image, too large...). The dashboard's failures table says which and why.",
        FAILURE_RATE,
        _renders_query("failed", "failed"),
        _renders_query("rendered", "ok"),
        Block("metric_query", (), (
            ("id", "rate"),
            ("expression", "100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(rendered, 0))"),
            ("label", "failed, percent"),
            ("return_data", True),
        )),
    ))  # fmt: skip
    found.append(_alarm(
        "upload_to_ready_p95",
        f"The 95th percentile of upload-to-thumbnail time over {WINDOW_MINUTES} minutes is over "
        f"var.{UPLOAD_TO_READY_P95.variable} ms: users wait for their thumbnails (a backlog, throttling, slow "
        "renders).",
        UPLOAD_TO_READY_P95,
        ("namespace", NAMESPACE),
        ("metric_name", UPLOAD_TO_READY),
        ("dimensions", {FUNCTION_DIMENSION: Raw("local.observed_function")}),
        ("period", PERIOD),
        ("extended_statistic", "p95"),
    ))  # fmt: skip
    for detector in RUNAWAY:
        found.append(Block("resource", ("aws_cloudwatch_contributor_insight_rule", detector.name), (
            ("rule_name", template(rule_name(detector))),
            ("rule_state", "ENABLED"),
            ("rule_definition", json_heredoc(contributor_rule(detector))),
        )))  # fmt: skip
        found.append(_alarm(
            detector.name,
            f"Runaway detector: {detector.shows} Fires only when the rule counted at least "
            f"var.{RUNAWAY_MIN_LINES.variable} lines across the deployment in the window.",
            detector.threshold,
            _insight_query(detector, "worst", "MaxContributorValue"),
            _insight_query(detector, "volume", "SampleCount"),
            Block("metric_query", (), (
                ("id", "runaway"),
                # Below the minimum volume the figure reads 0: nothing worth stopping the stack for.
                ("expression", template(f"IF(volume >= ${{var.{RUNAWAY_MIN_LINES.variable}}}, worst, 0)")),
                ("label", f"most lines of one source in {WINDOW_MINUTES} minutes, at the minimum volume"),
                ("return_data", True),
            )),
        ))  # fmt: skip
    return found


HEADER = """\
# Generated by `python -m core.ops.observability` from the metric table (core/metrics.py) and
# providers/aws/observability.py: do not edit by hand (a test fails while this file differs from the output).
#
# A CloudWatch dashboard of every metric (the handler's log lines carry them in Embedded Metric Format),
# alarms on the failure rate and on the upload-to-ready p95, and the runaway detector: Contributor Insights
# rules counting lines per source revision over the function's log group, each with an alarm on its top
# contributor once the rule counted a minimum volume.
# Every alarm notifies the alarm topic (alarms.tf); local.runaway_alarm_names names the runaway alarms, which the
# automatic brake (brake.tf, brake_on_runaway) listens to.
"""


def generate() -> dict[str, str]:
    """File name (in the deploy folder) -> content."""
    return {FILE: render(blocks(), header=HEADER)}


def dashboards() -> dict[str, Any]:
    """The dashboard documents, by name, with their interpolations left in (for the pictures and tests)."""
    return {"thumbnails": json.loads(json.dumps(dashboard()))}


def panels() -> list[dict[str, Any]]:
    """The dashboard's widgets as cloud-neutral panels (what :mod:`core.reports.dashboards` draws)."""
    found = []
    for widget in dashboard()["widgets"]:
        properties = widget["properties"]
        panel: dict[str, Any] = {"title": properties.get("title", ""), "x": widget["x"], "y": widget["y"],
                                 "w": widget["width"], "h": widget["height"], "grid": 24}  # fmt: skip
        if widget["type"] == "text":
            panel.update(kind="text", title=properties["markdown"].splitlines()[0].lstrip("# "))
        elif widget["type"] == "log":
            panel.update(kind="table")
        elif "insightRule" in properties:
            name = next(d.name for d in RUNAWAY if properties["insightRule"]["ruleName"] == rule_name(d))
            panel.update(kind="runaway", detector=name)
        else:
            rows = properties["metrics"]
            first = rows[0][0]
            if isinstance(first, dict):  # a SEARCH expression: grouped by the dimension it does not fix
                text = first["expression"]
                schema = text[text.index("{") + 1 : text.index("}")].split(",")[2:]
                fixed = dict(_pair(term) for term in text.split("', ")[0].split()[1:] if "=" in term)
                metric = fixed.pop("MetricName")
                fixed.pop(FUNCTION_DIMENSION)
                statistic = text.split("', '")[1].split("'")[0]
                loose = [name for name in schema if name not in fixed]
                panel.update(kind="counter" if statistic == "Sum" else "mean", metric=metric, where=fixed,
                             group_by=loose[-1] if loose else None)  # fmt: skip
            else:
                fixed = dict(zip(rows[0][4:-1:2], rows[0][5:-1:2], strict=True))
                stats = [row[-1]["stat"] for row in rows]
                panel.update(kind="percentiles", metric=rows[0][1], where=fixed,
                             stats=[int(s[1:]) if s.startswith("p") else 100 for s in stats])  # fmt: skip
        found.append(panel)
    return found


def _pair(term: str) -> tuple[str, str]:
    name, _, value = term.partition("=")
    return name, value.strip('"')
