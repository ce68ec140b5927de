"""The fields a delivery's log line carries for the metrics, and the upload-to-ready time it measures.

The metric table (:mod:`core.metrics`) and the runaway detector (:mod:`core.alerts`) read these fields; the
delivery (:mod:`core.delivery`) writes them. They live apart from the table so that a function's delivery path
never builds it (its classes cost a cold start milliseconds; only a provider encoding metrics into the line loads
it).
"""

from __future__ import annotations

from datetime import UTC, datetime

#: A completion event that was not published has a line of its own (``notify=failed``); it is no render.
NOTIFY_FIELD = "notify"

#: The field of a delivery's line naming the revision its event announces (``event_revision``): the write
#: (upload) the notification is about, as sent (S3 version id else etag, GCS generation, Azure etag), not the
#: revision the pipeline found and rendered (``revision``: a late event of an overwritten key reads the newer one).
EVENT_REVISION_FIELD = "event_revision"


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
        value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}" if digits else head + rest
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
