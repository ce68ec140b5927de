"""AWS: the generated dashboard shows every metric of the table and nothing else, and the alerts (failure
rate, upload-to-ready p95, the runaway detector) notify the alarm topic."""

from __future__ import annotations

import json
import re
from typing import Any

from core.alerts import RUNAWAY
from core.metrics import METRICS
from tests.observability_support import deploy_module, hcl_text, interpolate, metric_names, resources

TABLE = {metric.name for metric in METRICS}
ALERTS = {"failure_rate", "upload_to_ready_p95", *(detector.name for detector in RUNAWAY)}


def _variables() -> set[str]:
    return {name for block in deploy_module("aws").get("variable", []) for name in block}


def test_the_thresholds_are_variables() -> None:
    assert {d.threshold.variable for d in RUNAWAY} | {"alert_failure_rate_percent", "alert_upload_to_ready_p95_ms"} <= (
        _variables()
    )


def dashboard() -> dict[str, Any]:
    body = resources(deploy_module("aws"), "aws_cloudwatch_dashboard")["thumbnails"]["dashboard_body"]
    values = {"local.observed_function": "pt-thumbnailer", "var.region": "eu-west-1", "var.name": "pt",
              "aws_cloudwatch_log_group.function.name": "/aws/lambda/pt-thumbnailer"}  # fmt: skip
    return dict(json.loads(interpolate(hcl_text(body), values)))


def dashboard_metrics(document: dict[str, Any]) -> set[str]:
    """The metrics a CloudWatch dashboard's widgets read, each in a dimension set the log lines publish."""
    from providers.aws.metrics import DIMENSION_SETS, FUNCTION_DIMENSION, NAMESPACE

    found = set()
    for widget in document["widgets"]:
        for row in widget["properties"].get("metrics", []):
            for item in row:
                if isinstance(item, dict) and "expression" in item:
                    match = re.search(r"\{([^}]*)\} MetricName=\"([^\"]+)\"", item["expression"])
                    assert match, item["expression"]
                    namespace, dimension, *names = match.group(1).split(",")
                    assert (namespace, dimension) == (NAMESPACE, FUNCTION_DIMENSION)
                    assert tuple(names) in DIMENSION_SETS[match.group(2)], item["expression"]
                    found.add(match.group(2))
            if row and row[0] == NAMESPACE:
                dimensions = tuple(row[2:-1][0::2])
                assert dimensions[0] == FUNCTION_DIMENSION and dimensions[1:] in DIMENSION_SETS[row[1]], row
                found.add(row[1])
    return found


def test_the_dashboard_shows_every_metric_and_nothing_else() -> None:
    document = dashboard()
    assert dashboard_metrics(document) == TABLE
    assert metric_names(json.dumps(document)) == TABLE


def test_a_dashboard_missing_a_metric_is_noticed() -> None:
    document = dashboard()
    document["widgets"] = [w for w in document["widgets"] if "upload_to_ready" not in json.dumps(w)]
    assert dashboard_metrics(document) != TABLE


def test_the_alarms_notify_the_alarm_topic() -> None:
    alarms = resources(deploy_module("aws"), "aws_cloudwatch_metric_alarm")
    for name in ALERTS:
        assert alarms[name]["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"], name
        assert alarms[name]["ok_actions"] == ["${aws_sns_topic.alarms.arn}"], name
