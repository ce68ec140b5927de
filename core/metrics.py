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

Import cost matters: every function imports this at cold start; it holds data and two small functions only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


#: A completion event that was not published has a line of its own (``notify=failed``); it is no render.
NOTIFY_FIELD = "notify"
_NOT_NOTIFY = Absent(NOTIFY_FIELD)

METRICS: tuple[Metric, ...] = (
    Metric(
        "polythumb.renders", "counter", "{event}",
        "Object events and notifications handled, one per log line, by how each ended: how many images failed, "
        "and why (`error_kind`).",
        where=(Present("status"), _NOT_NOTIFY),
        attributes=("status", "error_kind", "profile", "format", "route"),
    ),
    Metric(
        "polythumb.render.duration", "histogram", "ms",
        "Time the function spent on one object event (the line's `duration_ms`).",
        where=(Present("duration_ms"), _NOT_NOTIFY), value="duration_ms",
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
        where=(Present("output_bytes"), _NOT_NOTIFY), value="output_bytes",
        attributes=("profile", "format"),
    ),
    Metric(
        "polythumb.source.megapixels", "histogram", "{megapixel}",
        "Pixels of each source rendered, in millions (one frame): what a render costs in CPU and memory.",
        where=(Present("source_megapixels"), _NOT_NOTIFY), value="source_megapixels",
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


# -- alerts and the runaway detector ------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """An alert's threshold, a Terraform variable of every cloud's stack.

    Attributes:
        variable: The variable's name.
        default: Its default.
        description: The variable's description.
    """

    variable: str
    default: float
    description: str


#: Failures over this share of the renders that ended (ok or failed) in 5 minutes: an alert.
FAILURE_RATE = Threshold(
    "alert_failure_rate_percent", 10,
    "Alert when more than this percentage of the images handled in 5 minutes failed (status failed among ok and "
    "failed).",
)  # fmt: skip
#: An upload-to-ready p95 over this many milliseconds in 5 minutes: an alert.
UPLOAD_TO_READY_P95 = Threshold(
    "alert_upload_to_ready_p95_ms", 30000,
    "Alert when the 95th percentile of upload-to-thumbnail time over 5 minutes exceeds this many milliseconds.",
)  # fmt: skip
#: The window the alerts and the runaway detector look at.
WINDOW_MINUTES = 5


#: The field of a delivery's line naming the revision its event announces (``event_revision``): the write
#: (upload) the notification is about, as sent (S3 version id else etag, GCS generation, Azure etag), not the
#: revision the pipeline found and rendered (``revision``: a late event of an overwritten key reads the newer one).
EVENT_REVISION_FIELD = "event_revision"

#: The least lines a runaway figure must count across the whole deployment in the window before its alert may
#: fire: one odd source on a quiet deployment costs nothing worth stopping the stack for (0: no minimum).
RUNAWAY_MIN_LINES = Threshold(
    "alert_runaway_min_lines", 20,
    "Runaway detector: its alerts fire only when the figure's lines across the whole deployment in 5 minutes "
    "(renders, or deliveries of uploads) are at least this many (0: no minimum). A runaway makes hundreds a "
    "minute; a few odd lines on a quiet deployment are no cost incident, and must not stop the stack (the brake).",
)  # fmt: skip


@dataclass(frozen=True)
class Runaway:
    """One figure of the runaway detector: the most lines any one source has in a window.

    Attributes:
        name: The figure's name.
        where: The lines it counts.
        per: The fields naming one source (high cardinality: grouped by in a query, never a metric dimension).
        threshold: The alert threshold.
        shows: How a loop or a fan-out shows in it, for the documentation.
    """

    name: str
    where: tuple[Condition, ...]
    per: tuple[str, ...]
    threshold: Threshold
    shows: str

    def counts(self, records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], int]:
        """The selected lines of each source among ``records`` (one window's lines)."""
        counts: dict[tuple[str, ...], int] = {}
        for record in records:
            if selects(self.where, record):
                group = tuple(str(record.get(field, "")) for field in self.per)
                counts[group] = counts.get(group, 0) + 1
        return counts

    def worst(self, records: Sequence[Mapping[str, Any]]) -> int:
        """The highest count of selected lines of one source among ``records`` (one window's lines)."""
        return max(self.counts(records).values(), default=0)

    def fires(
        self, records: Sequence[Mapping[str, Any]], *, threshold: float | None = None, min_lines: float | None = None
    ) -> bool:
        """Whether the alert fires on one window's ``records``: the worst source is over the threshold, and the
        whole deployment counted at least :data:`RUNAWAY_MIN_LINES` (the defaults unless given)."""
        counts = self.counts(records)
        limit = self.threshold.default if threshold is None else threshold
        least = RUNAWAY_MIN_LINES.default if min_lines is None else min_lines
        return max(counts.values(), default=0) > limit and sum(counts.values()) >= least


RUNAWAY: tuple[Runaway, ...] = (
    Runaway(
        "renders_per_revision",
        where=(Present("output_bytes"), _NOT_NOTIFY, Present("revision")),
        per=("bucket", "key", "revision"),
        threshold=Threshold(
            "alert_renders_per_revision", 3,
            "Runaway detector: alert when one source revision is rendered more than this many times in 5 minutes.",
        ),
        shows="One revision of one source rendered again and again: a loop (the Firebase backfill loop: the same "
        "objects re-rendered), two deployments (or two profiles' settings) overwriting each other's thumbnails, "
        "or something deleting the thumbnails as they are written. A normal source revision is rendered once (a "
        "retry after a partial write may write the rest: twice); a key rewritten often (a hot key) renders each "
        "new revision once, and does not count here.",
    ),
    Runaway(
        "invocations_per_upload",
        where=(OneOf("kind", ("created",)), _NOT_NOTIFY, Present(EVENT_REVISION_FIELD)),
        per=("bucket", "key", EVENT_REVISION_FIELD),
        threshold=Threshold(
            "alert_invocations_per_upload", 10,
            "Runaway detector: alert when one upload (one revision of one source key, as its event announces it) is "
            "handled more than this many times in 5 minutes.",
        ),
        shows="One upload delivered again and again: a fan-out (the same notification reaching the function through "
        "several subscriptions or rules), a redelivery storm, or a loop re-sending the same revision (a backfill "
        "run over and over). A normal upload is handled once (a duplicate delivery, or a retry, adds one or two); "
        "a key rewritten often (a hot key: an avatar re-uploaded, a CI job overwriting a file) is a new upload "
        "each time, each handled once, and does not count here.",
    ),
)  # fmt: skip


# -- upload to ready ----------------------------------------------------------------------------------------


def parse_time(text: str | None) -> datetime | None:
    """An event's ISO 8601 / RFC 3339 time (``Z`` or an offset, any fraction of a second); None if unreadable.

    S3 sends milliseconds, Cloud Storage microseconds or nanoseconds, Event Grid 100 ns ticks: digits beyond
    microseconds are dropped (``datetime`` holds no more).
    """
    if not text or not isinstance(text, str) or len(text) > 64:
        return None
    value = text.strip().replace("z", "Z")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:  # keep at most 6 fraction digits, then whatever offset follows them
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}" if digits else head + rest
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def milliseconds_since(event_time: str | None, now: datetime | None = None) -> float | None:
    """Milliseconds from ``event_time`` to ``now`` (at least 0: clocks differ by a little); None if unknown."""
    moment = parse_time(event_time)
    if moment is None:
        return None
    elapsed = ((now or datetime.now(UTC)) - moment).total_seconds() * 1000
    return round(max(elapsed, 0.0), 1)
