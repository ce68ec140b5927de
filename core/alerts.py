"""The alerts and the runaway detector, read from the delivery log lines like the metric table (:mod:`core.metrics`).

Every cloud's generator (``python -m core.ops.observability``) turns these into its alerts and queries, and
``polythumb stats`` computes the runaway figures locally. A function never loads this module: nothing on the
event path reads a threshold (its classes would cost every cold start for nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.metric_fields import EVENT_REVISION_FIELD
from core.metrics import NOT_NOTIFY, Condition, OneOf, Present, selects


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
        where=(Present("output_bytes"), NOT_NOTIFY, Present("revision")),
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
        where=(OneOf("kind", ("created",)), NOT_NOTIFY, Present(EVENT_REVISION_FIELD)),
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
