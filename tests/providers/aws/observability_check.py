"""AWS's reading of the handler's log lines, checked against the metric table.

* The Embedded Metric Format in each line, read as CloudWatch reads it (the specification's rules: a
  ``Timestamp``, directives whose dimension sets name root string members, at most 30 dimensions per set and
  30 sets, metrics naming root numbers, CloudWatch units), gives exactly the table's measurements, with
  dimensions drawn from the table's attributes only (never a key, bucket or revision).
* The runaway detector's Contributor Insights rules (``deploy/observability.tf``), applied to the lines as
  Contributor Insights applies a ``CloudWatchLogRule``, find each source's count, and their top contributor is
  the table's figure; each rule counts at least one line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core.alerts import RUNAWAY
from core.metrics import ATTRIBUTES, Measurement
from providers.aws.metrics import FUNCTION_DIMENSION, NAMESPACE, function_name
from tests.observability_support import (
    deploy_module,
    every_metric_read,
    expected,
    hcl_text,
    interpolate,
    key,
    resource,
    resources,
    variables,
)

#: CloudWatch's units (PutMetricData's StandardUnit).
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip
MAX_DIMENSIONS = 30
MAX_DIMENSION_SETS = 30
MAX_METRICS = 100
NEVER_DIMENSIONS = {"bucket", "key", "revision", "event_id", "message_id", "aws_request_id", "trace_id"}


def emf_measurements(line: Mapping[str, Any]) -> list[tuple[Measurement, list[dict[str, str]]]]:
    """What CloudWatch extracts from one log line: each metric's value, and its dimensions per dimension set."""
    meta = line.get("_aws")
    if meta is None:
        return []
    assert isinstance(meta, dict) and isinstance(meta.get("Timestamp"), int), "_aws.Timestamp: milliseconds"
    directives = meta.get("CloudWatchMetrics")
    assert isinstance(directives, list) and directives
    found = []
    for directive in directives:
        assert isinstance(directive.get("Namespace"), str) and directive["Namespace"] == NAMESPACE
        sets = directive["Dimensions"]
        assert isinstance(sets, list) and len(sets) <= MAX_DIMENSION_SETS
        dimensions = []
        for names in sets:
            assert isinstance(names, list) and 0 < len(names) <= MAX_DIMENSIONS
            assert len(set(names)) == len(names)
            for name in names:
                assert isinstance(line.get(name), str), f"dimension {name} must be a root string member"
                assert name not in NEVER_DIMENSIONS, f"{name} is no dimension: its cardinality is unbounded"
                assert name == FUNCTION_DIMENSION or name in ATTRIBUTES, f"{name} is not an attribute of the table"
            dimensions.append({name: line[name] for name in names})
        metrics = directive["Metrics"]
        assert isinstance(metrics, list) and 0 < len(metrics) <= MAX_METRICS
        for metric in metrics:
            name, unit = metric["Name"], metric.get("Unit", "None")
            assert unit in UNITS, unit
            value = line.get(name)
            assert isinstance(value, int | float) and not isinstance(value, bool), f"{name} must be a root number"
            attributes = {k: v for d in dimensions for k, v in d.items() if k != FUNCTION_DIMENSION}
            found.append((Measurement(name, float(value), attributes), dimensions))
    return found


def check_emf(lines: Sequence[Mapping[str, Any]]) -> None:
    """Every line's EMF gives the table's measurements (values exact; dimensions are the attributes)."""
    table = expected(lines)
    every_metric_read(table)
    by_line = Counter()
    for line in lines:
        wanted = {key(m)[:2]: m for m in _table(line)}
        got = emf_measurements(line)
        assert {(m.metric, round(m.value, 6)) for m, _ in got} == set(wanted), line
        for measurement, dimensions in got:
            table_measurement = wanted[(measurement.metric, round(measurement.value, 6))]
            assert dimensions, f"{measurement.metric} has no dimension set"
            for values in dimensions:
                assert values[FUNCTION_DIMENSION] == function_name()
                for name, value in values.items():
                    if name != FUNCTION_DIMENSION:
                        assert table_measurement.attributes.get(name) == value, (name, line)
            by_line[measurement.metric] += 1
    assert set(by_line) == {metric for metric, _, _ in table}


def _table(line: Mapping[str, Any]) -> list[Measurement]:
    from core.metrics import measure

    return measure(line)


def rule_counts(rule: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> Counter[tuple[str, ...]]:
    """What a ``CloudWatchLogRule`` counts per contributor over JSON log lines (``Count`` aggregation)."""
    assert rule["Schema"] == {"Name": "CloudWatchLogRule", "Version": 1} and rule["LogFormat"] == "JSON"
    assert rule["AggregateOn"] == "Count"
    contribution = rule["Contribution"]
    keys = contribution["Keys"]
    assert 0 < len(keys) <= 4, "Contributor Insights takes at most four keys"
    counts: Counter[tuple[str, ...]] = Counter()
    for line in lines:
        if all(_passes(entry, line) for entry in contribution.get("Filters", [])):
            values = [_path(line, path) for path in keys]
            if all(value is not None for value in values):  # a line without a key contributes nothing
                counts[tuple(str(value) for value in values)] += 1
    return counts


def _path(line: Mapping[str, Any], path: str) -> Any:
    assert path.startswith("$.")
    value: Any = line
    for part in path[2:].split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _passes(entry: Mapping[str, Any], line: Mapping[str, Any]) -> bool:
    value = _path(line, entry["Match"])
    operators = set(entry) - {"Match"}
    assert len(operators) == 1 and operators <= {"In", "NotIn", "IsPresent", "EqualTo", "NotEqualTo"}, entry
    if "IsPresent" in entry:
        return (value is not None) is entry["IsPresent"]
    if "In" in entry:
        return value is not None and value in entry["In"]
    if "NotIn" in entry:
        return value is None or value not in entry["NotIn"]
    return (value == entry["EqualTo"]) if "EqualTo" in entry else (value != entry["NotEqualTo"])


def contributor_rules() -> dict[str, dict[str, Any]]:
    """The runaway rules of ``deploy/observability.tf``, by detector name, as CloudWatch receives them."""
    module = deploy_module("aws")
    values = {"aws_cloudwatch_log_group.function.name": "/aws/lambda/pt-thumbnailer"}
    return {
        detector.name: json.loads(interpolate(hcl_text(
            resource(module, "aws_cloudwatch_contributor_insight_rule", detector.name)["rule_definition"]
        ), values))
        for detector in RUNAWAY
    }


def check_runaway(lines: Sequence[Mapping[str, Any]]) -> None:
    rules = contributor_rules()
    for detector in RUNAWAY:
        counts = rule_counts(rules[detector.name], lines)
        assert counts, f"the {detector.name} rule counts no line"
        assert max(counts.values()) == detector.worst(lines), detector.name


#: What ``INSIGHT_RULE_METRIC`` gives for a rule's contributions (``Count`` aggregation): the top contributor's
#: lines, and every line the rule matched.
_INSIGHT_STATISTICS = {"MaxContributorValue": lambda counts: max(counts.values(), default=0),
                       "SampleCount": lambda counts: sum(counts.values())}  # fmt: skip
_INSIGHT = re.compile(r"INSIGHT_RULE_METRIC\('([^']+)', '(\w+)'\)")


def _metric_math(expression: str, values: Mapping[str, float]) -> float:
    """A CloudWatch metric math expression over scalar values: names, numbers, comparisons and ``IF``."""
    assert re.fullmatch(r"[\w\s.,()<>=!+*/-]+", expression), expression
    return float(eval(expression, {"__builtins__": {}, "IF": lambda c, a, b: a if c else b}, dict(values)))


def runaway_fires(lines: Sequence[Mapping[str, Any]], **overrides: float) -> set[str]:
    """The runaway alarms of ``deploy/observability.tf`` in ALARM over one window's ``lines``: each alarm's metric
    queries evaluated as CloudWatch does (its rule's statistics, then the returned expression) against its
    threshold, with the variables' defaults (``overrides``: tfvars)."""
    rules = contributor_rules()
    names = {f"aws_cloudwatch_contributor_insight_rule.{d.name}.rule_name": d.name for d in RUNAWAY}
    values = variables("aws", **overrides)
    alarms = resources(deploy_module("aws"), "aws_cloudwatch_metric_alarm")
    firing = set()
    for detector in RUNAWAY:
        alarm = alarms[detector.name]
        assert alarm["comparison_operator"] == "GreaterThanThreshold"
        computed: dict[str, float] = {}
        returned = []
        for query in alarm["metric_query"]:
            expression = query["expression"]
            insight = _INSIGHT.fullmatch(expression)
            if insight:
                rule = names[insight.group(1).removeprefix("${").removesuffix("}")]
                computed[query["id"]] = _INSIGHT_STATISTICS[insight.group(2)](rule_counts(rules[rule], lines))
            else:
                computed[query["id"]] = _metric_math(interpolate(expression, values), computed)
            if query.get("return_data"):
                returned.append(computed[query["id"]])
        [value] = returned
        if value > float(interpolate(alarm["threshold"], values)):
            firing.add(detector.name)
    return firing


def check_metric_lines(lines: Sequence[Mapping[str, Any]]) -> None:
    """The AWS function's lines, read as CloudWatch reads them, give the table's figures."""
    check_emf(lines)
    check_runaway(lines)
