"""The runaway alarm (deploy/runaway.tf): its Contributor Insights rules evaluated as CloudWatch does over the
event lines the function writes, and its metric math evaluated over what the rules count. (moto stores rules
and alarms but evaluates neither; tests/providers/aws/test_deploy_apply.py checks the applied ones.)
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests import runaway_support as support
from tests.terraform import ROOT, block, load_module, variable_default

MODULE = load_module(ROOT / "providers" / "aws" / "deploy")


def rules() -> dict[str, dict[str, Any]]:
    [found] = [found["runaway_rules"] for found in MODULE["locals"] if "runaway_rules" in found]
    return dict(found)


def path_value(record: dict[str, Any], path: str) -> Any:
    assert path.startswith("$.") and "." not in path[2:], path  # the rules read top-level fields only
    return record.get(path[2:])


def contributions(rule: dict[str, Any], records: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """Count per contributor, as Contributor Insights computes it for a JSON log rule with AggregateOn Count."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for record in records:
        matched = True
        for condition in rule["filters"]:
            value = path_value(record, condition["Match"])
            if "IsPresent" in condition:
                matched &= (value is not None) is condition["IsPresent"]
            if "In" in condition:
                matched &= value in condition["In"]
        keys = tuple(path_value(record, key) for key in rule["keys"])
        if matched and None not in keys:  # a line lacking a key contributes nothing
            counts[keys] += 1
    return counts


class Number(float):
    """A metric value: division by zero gives no value (NaN), as in CloudWatch metric math."""

    def __truediv__(self, other: float) -> Number:
        return Number(float("nan") if other == 0 else float(self) / other)


def alarm_value(records: list[dict[str, Any]], *, min_deliveries: int) -> float:
    """The alarm's returned expression over one 5-minute window."""
    alarm = block(MODULE, "resource", "aws_cloudwatch_metric_alarm", "runaway")
    [query] = [q for q in alarm["metric_query"] if q.get("return_data")]
    expression = query["expression"].replace("${var.runaway_min_deliveries}", str(min_deliveries))
    assert "${" not in expression, expression
    counted = {name: contributions(rule, records) for name, rule in rules().items()}
    values = {
        "deliveries": Number(sum(counted["deliveries"].values())), "objects": Number(len(counted["deliveries"])),
        "renders": Number(sum(counted["renders"].values())), "revisions": Number(len(counted["renders"])),
    }  # fmt: skip
    assert set(re.findall(r"[a-z]+", expression)) <= set(values), expression  # only the four queried series
    result: float = eval(expression, {"IF": lambda c, a, b: a if c else b, "MAX": max}, values)
    return result


def test_the_rules_count_the_fields_the_function_writes() -> None:
    lines = support.normal()
    for name, rule in rules().items():
        assert {key[2:] for key in rule["keys"]} <= support.FIELDS, name
        assert contributions(rule, lines), f"rule {name} matches no line the function writes"


@pytest.mark.parametrize("scenario", sorted(support.SCENARIOS))
def test_the_alarm_fires_on_a_runaway_only(scenario: str) -> None:
    support.check_scenarios()
    make, expected = support.SCENARIOS[scenario]
    threshold = variable_default(MODULE, "runaway_threshold")
    value = alarm_value(make(), min_deliveries=variable_default(MODULE, "runaway_min_deliveries"))
    assert (value > threshold) is expected, (scenario, value)


def test_the_alarm_reads_both_rules_over_5_minutes_and_is_the_one_the_brake_listens_to() -> None:
    alarm = block(MODULE, "resource", "aws_cloudwatch_metric_alarm", "runaway")
    assert alarm["alarm_name"] == "${local.runaway_alarm_name}"
    assert alarm["comparison_operator"] == "GreaterThanThreshold" and alarm["threshold"] == "${var.runaway_threshold}"
    assert alarm["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    [dynamic] = alarm["dynamic"]
    [content] = dynamic["metric_query"]["content"]
    assert content["period"] == 300 and "INSIGHT_RULE_METRIC(" in content["expression"]
    assert variable_default(MODULE, "runaway_threshold") == support.THRESHOLD
    assert variable_default(MODULE, "runaway_min_deliveries") == support.MIN_DELIVERIES
