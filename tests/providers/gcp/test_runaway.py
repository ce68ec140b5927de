"""The runaway alert (deploy/runaway.tf): its Log Analytics SQL, as Terraform renders it, run over the event lines
the functions write. No BigQuery here: SQLite runs it after two spelled-out rewrites of BigQuery-only syntax
(``JSON_VALUE(json_payload.f)`` and the 5-minute ``TIMESTAMP_SUB``), the functions SQLite lacks are defined,
and integer division is made BigQuery's float division; a query that no longer has those shapes fails here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest

from tests import runaway_support as support
from tests.terraform import ROOT, block, evaluate, load_module, variable_default

MODULE = load_module(ROOT / "providers" / "gcp" / "deploy")
LOG_VIEW = "acme.global.polythumb-functions._AllLogs"


def query(*, threshold: int, min_deliveries: int) -> str:
    """The query Terraform renders for these settings and a stand-in log view."""
    [source] = [found["runaway_query"] for found in MODULE["locals"] if "runaway_query" in found]
    rendered: str = evaluate(
        "local.runaway_query", locals_={"runaway_query": source, "runaway_log_view": json.dumps(LOG_VIEW)},
        variables={"runaway_threshold": str(threshold), "runaway_min_deliveries": str(min_deliveries)},
    )  # fmt: skip
    return rendered


class _CountIf:
    def __init__(self) -> None:
        self.count = 0

    def step(self, condition: Any) -> None:
        self.count += 1 if condition else 0

    def finalize(self) -> int:
        return self.count


def run(sql: str, windows: list[tuple[str, list[dict[str, Any]]]]) -> list[tuple[Any, ...]]:
    """``sql`` over event lines, each window's lines logged at that SQLite time modifier ('-1 minutes')."""
    fields = sorted(set(re.findall(r"JSON_VALUE\(json_payload\.(\w+)\)", sql)))
    assert fields and set(fields) <= support.FIELDS, fields
    sqlite_sql = re.sub(r"JSON_VALUE\(json_payload\.(\w+)\)", r"json_extract(json_payload, '$.\1')", sql)
    window = "TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 5 MINUTE)"
    assert window in sqlite_sql
    sqlite_sql = sqlite_sql.replace(window, "datetime('now', '-5 minutes')")
    for ratio in ("deliveries / objects",):
        assert ratio in sqlite_sql
        sqlite_sql = sqlite_sql.replace(ratio, "CAST(deliveries AS REAL) / objects")
    db = sqlite3.connect(":memory:")
    db.create_function("CONCAT", -1, lambda *parts: None if None in parts else "".join(map(str, parts)))
    db.create_function("IF", 3, lambda condition, yes, no: yes if condition else no)
    db.create_function("SAFE_DIVIDE", 2, lambda a, b: None if not b else a / b)
    db.create_aggregate("COUNTIF", 1, _CountIf)  # type: ignore[arg-type]
    db.execute(f'CREATE TABLE "{LOG_VIEW}" (timestamp TEXT, json_payload TEXT)')
    for modifier, records in windows:
        db.executemany(f'INSERT INTO "{LOG_VIEW}" VALUES (datetime(\'now\', ?), ?)',
                       [(modifier, json.dumps(record)) for record in records])  # fmt: skip
    return db.execute(sqlite_sql).fetchall()


@pytest.mark.parametrize("scenario", sorted(support.SCENARIOS))
def test_the_query_returns_a_row_on_a_runaway_only(scenario: str) -> None:
    support.check_scenarios()
    make, expected = support.SCENARIOS[scenario]
    sql = query(threshold=support.THRESHOLD, min_deliveries=support.MIN_DELIVERIES)
    rows = run(sql, [("-1 minutes", make())])
    assert bool(rows) is expected, (scenario, rows)


def test_only_the_last_5_minutes_count() -> None:
    sql = query(threshold=support.THRESHOLD, min_deliveries=support.MIN_DELIVERIES)
    assert run(sql, [("-10 minutes", support.fan_out()), ("-1 minutes", support.normal())]) == []
    assert run(sql, [("-10 minutes", support.normal()), ("-1 minutes", support.fan_out())]) != []


def test_the_settings_reach_the_query() -> None:
    sql = query(threshold=6, min_deliveries=support.MIN_DELIVERIES)
    assert run(sql, [("-1 minutes", support.fan_out(times=5))]) == []  # 5 per upload is no runaway at 6
    sql = query(threshold=support.THRESHOLD, min_deliveries=200)
    assert run(sql, [("-1 minutes", support.fan_out(times=5))]) == []  # 100 lines: too few to judge at 200


def test_the_alert_runs_the_query_every_5_minutes_on_the_log_bucket_with_analytics() -> None:
    policy = block(MODULE, "resource", "google_monitoring_alert_policy", "runaway")
    [condition] = policy["conditions"]
    [sql] = condition["condition_sql"]
    assert sql["query"] == "${local.runaway_query}"
    assert sql["minutes"] == [{"periodicity": 5}]
    assert sql["row_count_test"] == [{"comparison": "COMPARISON_GT", "threshold": 0}]
    assert policy["notification_channels"] == "${local.notification_channels}"
    bucket = block(MODULE, "resource", "google_logging_project_bucket_config", "functions")
    assert bucket["enable_analytics"] is True
    assert variable_default(MODULE, "runaway_threshold") == support.THRESHOLD
    assert variable_default(MODULE, "runaway_min_deliveries") == support.MIN_DELIVERIES
