"""The metric table: every figure polythumb reports, named once, and how each is read from the log line.

Every delivery already writes one JSON log line per event (docs/logs.md). The metrics are *derived* from
that line, the same way on every cloud, so there is nothing to send and no SDK to load:

* AWS adds CloudWatch Embedded Metric Format to the same line (its provider's ``metrics_encoder``);
* GCP's Terraform declares a log-based metric per entry here (its filter, value and label extractors);
* Azure's Terraform queries the lines in Log Analytics (KQL), in a workbook and in scheduled alerts;
* locally, ``polythumb run --json`` and ``watch --json`` print the same fields and ``polythumb stats``
  summarises a log of them.

Each cloud's definitions are generated from this table (``python -m core.ops.observability``), and the tests
check each against the lines the real entrypoints write. Names follow OpenTelemetry's conventions (dotted,
lower case, UCUM units); :data:`FAAS_ATTRIBUTES` maps OpenTelemetry's FaaS attributes onto log fields.

Import cost matters: a function whose provider encodes metrics (AWS's EMF) imports this at cold start; it holds
the table and small functions only. The fields a delivery writes for it are in :mod:`core.metric_fields` (every
function's delivery path, which never builds this table), and the alerts and the runaway detector, read by the
generators and ``polythumb stats`` only, in :mod:`core.alerts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.metric_fields import NOTIFY_FIELD

# -- conditions: which log lines a metric reads -------------------------------------------------------------


@dataclass(frozen=True)
class Present:
    """The line has ``field`` (a key whose value is unknown is left out of a line)."""

    field: str

    def holds(self, record: Mapping[str, Any]) -> bool:
        return record.get(self.field) is not None


@dataclass(frozen=True)
class Absent:
    """The line lacks ``field``."""

    field: str

    def holds(self, record: Mapping[str, Any]) -> bool:
        return record.get(self.field) is None


@dataclass(frozen=True)
class OneOf:
    """``field`` is one of ``values``."""

    field: str
    values: tuple[str, ...]

    def holds(self, record: Mapping[str, Any]) -> bool:
        value = record.get(self.field)
        return value is not None and str(value) in self.values


#: A metric's selection: every condition holds. Each cloud's generator translates these three forms.
Condition = Present | Absent | OneOf


def selects(conditions: Sequence[Condition], record: Mapping[str, Any]) -> bool:
    """Whether ``record`` passes every one of ``conditions``."""
    return all(condition.holds(record) for condition in conditions)


# -- the table ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """A dimension a metric is broken down by: low cardinality only (never a key, bucket or revision).

    Attributes:
        name: The attribute's name (OpenTelemetry style), also the dimension or label name on each cloud.
        field: The log line's field it is read from.
        meaning: What it says, for the documentation.
    """

    name: str
    field: str
    meaning: str


ATTRIBUTES: dict[str, Attribute] = {
    attribute.name: attribute
    for attribute in (
        Attribute("status", "status", "`ok`, `skipped`, `failed` (permanent, acknowledged), `error` (retried)"),
        Attribute("error_kind", "error_kind", "the class of a `failed` or `error` line (`not_an_image`, ...)"),
        Attribute("profile", "profile", "the profile whose outputs the source gets (`default` without profiles)"),
        Attribute("format", "output_format", "the outputs' formats, `+`-joined (`jpeg`, `avif+webp`)"),
        Attribute("route", "route", "the entrypoint that received the delivery (`sqs`, `cloudevent`, ...)"),
    )
}


@dataclass(frozen=True)
class Metric:
    """One metric: what it is, and how it is read from a delivery's log line.

    Attributes:
        name: Its name on every cloud (``polythumb.renders``).
        kind: ``counter`` (each selected line counts one) or ``histogram`` (each selected line gives one value).
        unit: UCUM, as OpenTelemetry writes it (``ms``, ``By``, ``{event}``).
        description: What it measures.
        where: The lines it reads (every condition holds).
        value: The field holding a histogram's value (None for a counter).
        attributes: The names of its :data:`ATTRIBUTES`.
    """

    name: str
    kind: str
    unit: str
    description: str
    where: tuple[Condition, ...]
    value: str | None = None
    attributes: tuple[str, ...] = ()

    def measure(self, record: Mapping[str, Any]) -> Measurement | None:
        """What ``record`` contributes to this metric, if it is selected."""
        if not selects(self.where, record):
            return None
        if self.value is None:
            amount = 1.0
        else:
            raw = record.get(self.value)
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                return None
            amount = float(raw)
        labels = {}
        for name in self.attributes:
            value = record.get(ATTRIBUTES[name].field)
            if value is not None and value != "":
                labels[name] = str(value)
        return Measurement(self.name, amount, labels)


@dataclass(frozen=True)
class Measurement:
    """One value of one metric, with its attributes (an attribute whose field the line lacks is left out)."""

    metric: str
    value: float
    attributes: Mapping[str, str]


#: The lines of a delivery, not of a completion event left unpublished (``notify=failed``: no render).
NOT_NOTIFY = Absent(NOTIFY_FIELD)

METRICS: tuple[Metric, ...] = (
    Metric(
        "polythumb.renders", "counter", "{event}",
        "Object events and notifications handled, one per log line, by how each ended: how many images failed, "
        "and why (`error_kind`).",
        where=(Present("status"), NOT_NOTIFY),
        attributes=("status", "error_kind", "profile", "format", "route"),
    ),
    Metric(
        "polythumb.render.duration", "histogram", "ms",
        "Time the function spent on one object event (the line's `duration_ms`).",
        where=(Present("duration_ms"), NOT_NOTIFY), value="duration_ms",
        attributes=("status", "profile", "format", "route"),
    ),
    Metric(
        "polythumb.upload_to_ready", "histogram", "ms",
        "From the storage event's time (the upload) to the last thumbnail written: what a user waits. Renders "
        "of an upload only (not a backfill's, nor a batch `polythumb run`).",
        where=(Present("upload_to_ready_ms"),), value="upload_to_ready_ms",
        attributes=("profile", "format", "route"),
    ),
    Metric(
        "polythumb.output.bytes", "histogram", "By",
        "Bytes of thumbnails written for one source.",
        where=(Present("output_bytes"), NOT_NOTIFY), value="output_bytes",
        attributes=("profile", "format"),
    ),
    Metric(
        "polythumb.source.megapixels", "histogram", "{megapixel}",
        "Pixels of each source rendered, in millions (one frame): what a render costs in CPU and memory.",
        where=(Present("source_megapixels"), NOT_NOTIFY), value="source_megapixels",
        attributes=("profile",),
    ),
    Metric(
        "polythumb.notify.failures", "counter", "{event}",
        "Completion events not published (the thumbnails are written; a transient failure is retried).",
        where=(OneOf(NOTIFY_FIELD, ("failed",)),),
        attributes=("error_kind", "route"),
    ),
)  # fmt: skip

BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}


def measure(record: Mapping[str, Any]) -> list[Measurement]:
    """Every measurement one log line gives, in table order."""
    found = []
    for metric in METRICS:
        measurement = metric.measure(record)
        if measurement is not None:
            found.append(measurement)
    return found


#: OpenTelemetry's FaaS attributes (semantic conventions, "FaaS spans" for a ``datasource`` trigger), as read
#: from the log line: a field name, or a constant, or (field, value map).
FAAS_ATTRIBUTES: dict[str, str | tuple[str, Mapping[str, str]]] = {
    "faas.trigger": "=datasource",
    "faas.document.collection": "bucket",
    "faas.document.name": "key",
    "faas.document.operation": ("kind", {"created": "insert", "deleted": "delete", "prefix_deleted": "delete"}),
    "faas.coldstart": "coldstart",
}


def faas_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """The FaaS attributes of one log line (those it has the fields for)."""
    found: dict[str, Any] = {}
    for name, source in FAAS_ATTRIBUTES.items():
        if isinstance(source, tuple):
            field, values = source
            value = values.get(str(record.get(field)))
        elif source.startswith("="):
            value = source[1:]
        else:
            value = record.get(source)
        if value is not None:
            found[name] = value
    if "faas.coldstart" not in found and "status" in record:
        found["faas.coldstart"] = False
    return found
