"""Azure: the generated dashboard shows every metric of the table and nothing else, and the alerts (failure
rate, upload-to-ready p95, the runaway detector) notify the action group."""

from __future__ import annotations

import json
from typing import Any

from core.alerts import RUNAWAY
from core.metrics import BY_NAME, METRICS
from tests.observability_support import deploy_module, metric_names, resources

TABLE = {metric.name for metric in METRICS}
ALERTS = {"failure_rate", "upload_to_ready_p95", *(detector.name for detector in RUNAWAY)}


def _variables() -> set[str]:
    return {name for block in deploy_module("azure").get("variable", []) for name in block}


def test_the_thresholds_are_variables() -> None:
    assert {d.threshold.variable for d in RUNAWAY} | {"alert_failure_rate_percent", "alert_upload_to_ready_p95_ms"} <= (
        _variables()
    )


def dashboard_metrics(document: dict[str, Any]) -> set[str]:
    found = set()
    for item in document["items"]:
        if item["type"] == 3 and item["name"].split()[0].startswith("polythumb."):
            metric = item["name"].split()[0]
            assert metric in BY_NAME and f'metric = "{metric}"' in item["content"]["query"], item["name"]
            found.add(metric)
    return found


def test_the_workbook_shows_every_metric_and_nothing_else() -> None:
    from tests.providers.azure.observability_check import workbook

    document = workbook()
    assert dashboard_metrics(document) == TABLE
    assert metric_names(json.dumps(document)) == TABLE


def test_the_alerts_notify_the_action_group() -> None:
    """The runaway rules notify it through local.runaway_action_groups (brake.tf), which adds the automatic
    brake's group when brake_on_runaway is true (tests/providers/azure/test_brake_on_runaway.py evaluates it)."""
    from core.alerts import RUNAWAY

    module = deploy_module("azure")
    alerts = resources(module, "azurerm_monitor_scheduled_query_rules_alert_v2")
    runaway = {detector.name for detector in RUNAWAY}
    for name in ALERTS:
        alerts_only = ["${azurerm_monitor_action_group.alerts.id}"]
        expected = "${local.runaway_action_groups}" if name in runaway else alerts_only
        assert alerts[name]["action"][0]["action_groups"] == expected, name
    [groups] = [entry["runaway_action_groups"] for entry in module["locals"] if "runaway_action_groups" in entry]
    assert groups.startswith("${concat([azurerm_monitor_action_group.alerts.id], ")
