"""The runaway alert (deploy/runaway.tf): its Kusto query reads fields the function's trace lines have, in the
table they land in, and counts what the rule (tests/runaway_support.py) counts. No Kusto engine runs here:
the query's fields and literals are checked against the lines, its shape against the rule.
"""

from __future__ import annotations

import json
import re

from core.events import EventKind
from core.outcome import Status
from providers.azure.pricing import log_query
from tests import runaway_support as support
from tests.terraform import ROOT, block, load_module, variable_default

MODULE = load_module(ROOT / "providers" / "azure" / "deploy")


def kql() -> str:
    rule = block(MODULE, "resource", "azurerm_monitor_scheduled_query_rules_alert_v2", "runaway")
    [criteria] = rule["criteria"]
    query: str = criteria["query"]
    return query


def test_the_query_reads_fields_every_event_line_has_from_the_traces_table() -> None:
    query = kql()
    fields = set(re.findall(r"\bline\.(\w+)", query))
    assert fields == support.FIELDS  # bucket, key, revision, status, kind: no more, no fewer
    lines = support.normal()
    assert all(fields - {"revision"} <= set(line) for line in lines if line["status"] == Status.OK)
    assert "AppTraces" in query and "AppTraces" in log_query(hours=1)  # where `polythumb cost azure` reads too
    assert "Message" in query and all(json.dumps(line).startswith("{") for line in lines)


def test_the_query_counts_what_the_rule_counts() -> None:
    query = " ".join(kql().split())
    assert f'tostring(line.status) == "{Status.OK}" and tostring(line.kind) == "{EventKind.CREATED}"' in query
    assert "where isnotempty(tostring(line.status)) and isnotempty(tostring(line.key))" in query
    assert "deliveries = count(), objects = dcount(object, 4)" in query
    assert 'revisions = dcountif(strcat(object, "#", tostring(line.revision)), rendered, 4)' in query
    assert "where deliveries >= ${var.runaway_min_deliveries}" in query
    assert "todouble(deliveries) / objects > ${var.runaway_threshold}" in query
    assert "todouble(renders) / revisions > ${var.runaway_threshold}" in query


def test_the_alert_runs_every_5_minutes_over_5_minutes_to_the_action_group() -> None:
    rule = block(MODULE, "resource", "azurerm_monitor_scheduled_query_rules_alert_v2", "runaway")
    assert rule["evaluation_frequency"] == rule["window_duration"] == "PT5M"
    assert rule["scopes"] == ["${azurerm_log_analytics_workspace.this.id}"]
    [criteria] = rule["criteria"]
    test = (criteria["operator"], criteria["threshold"], criteria["time_aggregation_method"])
    assert test == ("GreaterThan", 0, "Count")
    assert rule["action"] == [{"action_groups": ["${azurerm_monitor_action_group.alerts.id}"]}]
    assert variable_default(MODULE, "runaway_threshold") == support.THRESHOLD
    assert variable_default(MODULE, "runaway_min_deliveries") == support.MIN_DELIVERIES
