"""CloudWatch Embedded Metric Format: the metric table (:mod:`core.metrics`) in the handler's own log lines.

CloudWatch Logs turns a JSON log line with an ``_aws`` member into metrics as it ingests it: no
``PutMetricData`` call, no client, nothing on the cold start but this module. Each line the handler writes
gets, for every metric of the table that reads it, a root member named as the metric holding its value, and
one directive naming the namespace, the metric's unit and its dimension sets
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

Dimensions are the table's attributes, few and of low cardinality (never a key, a bucket or a revision: those
are grouped in Contributor Insights, see ``deploy/observability.tf``), each set led by ``function`` (the Lambda
function's name) so that two deployments in one account do not mix. A set is written only when the line has
every attribute it names (a ``failed`` line has an ``error_kind``, an ``ok`` line has none).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from core.metrics import ATTRIBUTES, BY_NAME, measure

NAMESPACE = "polythumb"
#: The dimension naming the deployment: the Lambda function's name.
FUNCTION_DIMENSION = "function"
#: Where it is read from (Lambda sets it); what a line written outside Lambda uses instead.
FUNCTION_VARIABLE = "AWS_LAMBDA_FUNCTION_NAME"
UNNAMED_FUNCTION = "polythumb"
#: Each metric's dimension sets, besides ``function``: what the dashboard and the alarms query, nothing more
#: (each set is a metric of its own to CloudWatch, billed as one).
DIMENSION_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "polythumb.renders": ((), ("status",), ("status", "error_kind"), ("profile", "format"), ("route", "status")),
    "polythumb.render.duration": ((), ("status",), ("profile",)),
    "polythumb.upload_to_ready": ((), ("profile",)),
    "polythumb.output.bytes": ((), ("profile", "format")),
    "polythumb.source.megapixels": ((), ("profile",)),
    "polythumb.notify.failures": ((), ("error_kind",)),
}
#: The table's UCUM units as CloudWatch names them.
UNITS = {"ms": "Milliseconds", "By": "Bytes", "{event}": "Count", "{megapixel}": "None"}


def function_name() -> str:
    """The deployment's ``function`` dimension."""
    return os.environ.get(FUNCTION_VARIABLE) or UNNAMED_FUNCTION


def emf_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """What to add to the log line ``record`` so that CloudWatch reads its metrics (empty: it has none)."""
    measurements = measure(record)
    if not measurements:
        return {}
    added: dict[str, Any] = {FUNCTION_DIMENSION: function_name()}
    directives = []
    for measurement in measurements:
        metric = BY_NAME[measurement.metric]
        value = measurement.value
        added[metric.name] = int(value) if metric.kind == "counter" else value
        for name, text in measurement.attributes.items():
            if ATTRIBUTES[name].field != name:  # a dimension must be a root member of its own name
                added[name] = text
        sets = [
            [FUNCTION_DIMENSION, *names]
            for names in DIMENSION_SETS[metric.name]
            if all(name in measurement.attributes for name in names)
        ]
        directives.append(
            {"Namespace": NAMESPACE, "Dimensions": sets, "Metrics": [{"Name": metric.name, "Unit": UNITS[metric.unit]}]}
        )
    added["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}
    return added
