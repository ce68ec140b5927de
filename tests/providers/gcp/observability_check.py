"""GCP's reading of the functions' log lines, checked against the metric table.

Each JSON line becomes the log entry Cloud Run makes of it; each ``google_logging_metric`` of
``deploy/observability.tf`` is applied to the entries as Cloud Logging applies it (its filter, its value
extractor, its label extractors), and must give exactly the table's measurements, every one of them reading at
least one entry. The dashboard's log panel must select the failures, and the runaway detector's SQL, run on
the entries in SQLite (its JSON_VALUE reads written as json_extract), must find the table's figure.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core.alerts import RUNAWAY
from core.metrics import BY_NAME
from tests.logging_query import entry, extract, matches
from tests.observability_support import (
    deploy_module,
    every_metric_read,
    expected,
    hcl_text,
    interpolate,
    resources,
    variables,
)

SERVICES = ("pt-finalized", "pt-deleted")
SINK_FILTER = 'resource.type="cloud_run_revision" AND resource.labels.service_name=({})'.format(
    " OR ".join(json.dumps(s) for s in SERVICES)
)
VALUES = {
    "google_logging_project_sink.functions.filter": SINK_FILTER,
    "var.name_prefix": "pt",
    "var.project_id": "demo-project",
    "google_logging_project_bucket_config.functions.bucket_id": "pt-functions",
    "local.observed_services": ", ".join(f"'{s}'" for s in SERVICES),
    "local.observed_logs_in_json": json.dumps(SINK_FILTER)[1:-1],
}


def entries(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [entry(line, service=SERVICES[0]) for line in lines]


def log_metrics() -> dict[str, dict[str, Any]]:
    """The log-based metrics, by the table's metric name, with their filters and extractors as Logging reads them."""
    found = {}
    for body in resources(deploy_module("gcp"), "google_logging_metric").values():
        name = interpolate(hcl_text(body["name"]), VALUES)
        found[name.removeprefix("pt/")] = {
            "filter": interpolate(hcl_text(body["filter"]), VALUES),
            "value": hcl_text(body["value_extractor"]) if "value_extractor" in body else None,
            "labels": {label: hcl_text(text) for label, text in body["label_extractors"].items()},
            "descriptor": body["metric_descriptor"][0],
        }
    return found


def check_log_metrics(lines: Sequence[Mapping[str, Any]]) -> None:
    definitions = log_metrics()
    assert set(definitions) == set(BY_NAME), "one log-based metric per metric of the table, and no other"
    got: Counter[tuple[str, float, tuple[tuple[str, str], ...]]] = Counter()
    for name, definition in definitions.items():
        selected = [e for e in entries(lines) if matches(definition["filter"], e)]
        assert selected, f"the filter of {name} matches no entry: {definition['filter']}"
        declared = {label["key"] for label in definition["descriptor"].get("labels", [])}
        assert declared == set(definition["labels"]), f"{name}: every extracted label is declared"
        for item in selected:
            value = 1.0 if definition["value"] is None else extract(definition["value"], item)
            if value is None:  # an entry without the value is dropped by Logging
                continue
            labels = {label: extract(text, item) for label, text in definition["labels"].items()}
            attributes = tuple(sorted((k, v) for k, v in labels.items() if v not in (None, "")))
            got[(name, round(float(value), 6), attributes)] += 1
    table = expected(lines)
    every_metric_read(table)
    assert got == table


def runaway_rows(sql: str, lines: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows of a generated Log Analytics query over the entries, run in SQLite."""
    translated = re.sub(r"FROM `[^`]+`", "FROM logs", sql)
    translated = re.sub(r"JSON_VALUE\(json_payload\.(\w+)\)", r"json_extract(json_payload, '$.\1')", translated)
    translated = re.sub(r"JSON_VALUE\(resource\.labels\.(\w+)\)", r"json_extract(resource_labels, '$.\1')", translated)
    translated = translated.replace("resource.type", "resource_type")
    assert "JSON_VALUE" not in translated and "`" not in translated, translated
    with sqlite3.connect(":memory:") as database:
        database.execute("CREATE TABLE logs (json_payload TEXT, resource_type TEXT, resource_labels TEXT)")
        database.executemany(
            "INSERT INTO logs VALUES (?, ?, ?)",
            [(json.dumps(e["jsonPayload"]), e["resource"]["type"], json.dumps(e["resource"]["labels"]))
             for e in entries(lines)],
        )  # fmt: skip
        return list(database.execute(translated))


def check_runaway(lines: Sequence[Mapping[str, Any]]) -> None:
    policies = resources(deploy_module("gcp"), "google_monitoring_alert_policy")
    for detector in RUNAWAY:
        condition = policies[detector.name]["conditions"][0]["condition_sql"][0]
        # Every source, whatever the volume: the top one is the figure.
        values = {**VALUES, f"var.{detector.threshold.variable}": "0", "var.alert_runaway_min_lines": "0"}
        rows = runaway_rows(interpolate(hcl_text(condition["query"]), values), lines)
        assert rows, f"the {detector.name} query finds no source"
        assert max(row[-1] for row in rows) == detector.worst(lines), detector.name
        above = {**values, f"var.{detector.threshold.variable}": str(detector.worst(lines))}
        assert runaway_rows(interpolate(hcl_text(condition["query"]), above), lines) == []  # the threshold holds


def runaway_fires(lines: Sequence[Mapping[str, Any]], **overrides: float) -> set[str]:
    """The runaway policies of ``deploy/observability.tf`` whose SQL condition (a row count over 0) holds over
    one window's ``lines``, with the variables' defaults (``overrides``: tfvars)."""
    policies = resources(deploy_module("gcp"), "google_monitoring_alert_policy")
    values = {**VALUES, **variables("gcp", **overrides)}
    firing = set()
    for detector in RUNAWAY:
        condition = policies[detector.name]["conditions"][0]["condition_sql"][0]
        assert condition["row_count_test"][0] == {"comparison": "COMPARISON_GT", "threshold": 0}
        if runaway_rows(interpolate(hcl_text(condition["query"]), values), lines):
            firing.add(detector.name)
    return firing


def dashboard() -> dict[str, Any]:
    """The Cloud Monitoring dashboard of ``deploy/observability.tf``, as Terraform sends it."""
    body = resources(deploy_module("gcp"), "google_monitoring_dashboard")["thumbnails"]["dashboard_json"]
    return dict(json.loads(interpolate(hcl_text(body), VALUES)))


def check_failures_panel(lines: Sequence[Mapping[str, Any]]) -> None:
    document = dashboard()
    [panel] = [
        tile["widget"]["logsPanel"] for tile in document["mosaicLayout"]["tiles"] if "logsPanel" in tile["widget"]
    ]
    shown = [e for e in entries(lines) if matches(panel["filter"], e)]
    assert shown and all(e["jsonPayload"]["status"] in ("failed", "error") for e in shown)


def check_metric_lines(lines: Sequence[Mapping[str, Any]]) -> None:
    """The GCP functions' lines, read as Cloud Logging reads them, give the table's figures."""
    check_log_metrics(lines)
    check_runaway(lines)
    check_failures_panel(lines)
