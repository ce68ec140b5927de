"""GCP: the generated dashboard shows every metric of the table and nothing else, and the alerts (failure
rate, upload-to-ready p95, the runaway detector) notify the alert channel."""

from __future__ import annotations

import json
import re
from typing import Any

from core.alerts import RUNAWAY
from core.metrics import BY_NAME, METRICS
from tests.observability_support import deploy_module, metric_names, resources

TABLE = {metric.name for metric in METRICS}
ALERTS = {"failure_rate", "upload_to_ready_p95", *(detector.name for detector in RUNAWAY)}


def _variables() -> set[str]:
    return {name for block in deploy_module("gcp").get("variable", []) for name in block}


def test_the_thresholds_are_variables() -> None:
    assert {d.threshold.variable for d in RUNAWAY} | {"alert_failure_rate_percent", "alert_upload_to_ready_p95_ms"} <= (
        _variables()
    )


def dashboard_metrics(document: dict[str, Any]) -> set[str]:
    found = set()
    for tile in document["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"].get("xyChart", {}).get("dataSets", []):
            query = data_set["timeSeriesQuery"]["timeSeriesFilter"]
            match = re.search(r'metric.type="logging.googleapis.com/user/pt/([^"]+)"', query["filter"])
            assert match, query["filter"]
            metric = BY_NAME[match.group(1)]
            labels = re.findall(r'metric.label."(\w+)"', query["filter"] + json.dumps(query["aggregation"]))
            assert set(labels) <= set(metric.attributes), (metric.name, labels)
            found.add(metric.name)
    return found


def test_the_dashboard_shows_every_metric_and_nothing_else() -> None:
    from tests.providers.gcp.observability_check import dashboard

    document = dashboard()
    assert dashboard_metrics(document) == TABLE
    assert metric_names(json.dumps(document)) == TABLE


def test_the_policies_notify_the_alert_channel() -> None:
    """Changed for the automatic brake: the runaway policies also notify its channel (brake.tf's
    local.brake_channels, an empty list unless brake_on_runaway)."""
    policies = resources(deploy_module("gcp"), "google_monitoring_alert_policy")
    runaway = {detector.name for detector in RUNAWAY}
    for name in ALERTS:
        channels = "concat(local.notification_channels, local.brake_channels)" if name in runaway else None
        assert policies[name]["notification_channels"] == "${" + (channels or "local.notification_channels") + "}"
    assert runaway <= set(ALERTS)


def test_the_log_bucket_can_run_the_runaway_sql() -> None:
    bucket = resources(deploy_module("gcp"), "google_logging_project_bucket_config")["functions"]
    assert bucket["enable_analytics"] is True
