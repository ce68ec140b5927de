"""What a deployment's own logs say one upload costs it, per profile: events, durations, outputs, memory.

Every delivery writes one JSON line per event (docs/logs.md): ``kind``, ``status``, ``duration_ms``,
``outputs`` (each with its ``action`` and ``bytes``), ``key``, ``revision``, and ``profile`` when the line has
it. :func:`read_lines` keeps the object events of such lines from any text -- a file of JSON lines, a
CloudWatch export (a timestamp before the JSON), ``polythumb run --json`` -- and, on AWS, Lambda's own
``REPORT`` lines, whose ``Max Memory Used`` is the only per-invocation memory a platform logs.
:func:`measure` groups the created events by profile: an upload is a distinct (bucket, key, revision), so
redeliveries and retries show as more events per upload, which cost what they cost.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Lambda's end-of-invocation line: ``REPORT RequestId: <id> ... Max Memory Used: 150 MB``.
_REPORT = re.compile(r"REPORT RequestId:\s*(?P<id>\S+).*?Max Memory Used:\s*(?P<mb>\d+)\s*MB")
#: The profile of events whose line names none and whose settings are not known.
UNNAMED = "(default)"


@dataclass
class Logs:
    """The object events and memory readings found in some log text."""

    events: list[dict[str, Any]] = field(default_factory=list)
    memory_mb: dict[str, float] = field(default_factory=dict)  # Lambda request id -> Max Memory Used
    skipped_lines: int = 0


def read_lines(lines: Iterable[str]) -> Logs:
    """The outcome records (``kind``, ``status`` and ``duration_ms``) and REPORT lines among ``lines``."""
    logs = Logs()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        report = _REPORT.search(line)
        if report:
            logs.memory_mb[report.group("id")] = float(report.group("mb"))
            continue
        start = line.find("{")
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("jsonPayload"), dict):
            record = record["jsonPayload"]  # a Cloud Logging entry
        if isinstance(record, dict) and {"kind", "status", "duration_ms"} <= record.keys():
            logs.events.append(record)
        else:
            logs.skipped_lines += 1
    return logs


@dataclass(frozen=True)
class ProfileMeasure:
    """The measured cost drivers of one profile's uploads.

    Attributes:
        profile: The profile's name.
        uploads: Distinct uploads seen (bucket, key, revision).
        events: Created events seen (an upload's redeliveries and retries each count).
        durations_ms: Every event's ``duration_ms``.
        written: Thumbnails written over all events.
        written_bytes: Their bytes.
        statuses: Events by status.
        peak_memory_mb: The highest ``Max Memory Used`` of the invocations of these events (AWS), or None.
    """

    profile: str
    uploads: int
    events: int
    durations_ms: tuple[float, ...]
    written: int
    written_bytes: int
    statuses: Mapping[str, int]
    peak_memory_mb: float | None = None

    @property
    def events_per_upload(self) -> float:
        return self.events / self.uploads if self.uploads else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the durations, nearest rank."""
        ordered = sorted(self.durations_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.durations_ms) if self.durations_ms else 0.0


@dataclass(frozen=True)
class Measurements:
    """Every profile's measure, and what was left out."""

    profiles: Mapping[str, ProfileMeasure]
    deleted_events: int = 0
    skipped_lines: int = 0

    @property
    def uploads(self) -> int:
        return sum(measure.uploads for measure in self.profiles.values())

    def share(self, profile: str) -> float:
        """The fraction of uploads that went to ``profile``."""
        total = self.uploads
        return self.profiles[profile].uploads / total if total else 0.0


def measure(logs: Logs, *, profile_of: Callable[[str], str | None] | None = None) -> Measurements:
    """Group the created events by profile: the line's ``profile``, else ``profile_of(key)``, else UNNAMED."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    deleted = 0
    for event in logs.events:
        if event.get("kind") != "created":
            deleted += 1
            continue
        name = event.get("profile") or (profile_of(str(event.get("key", ""))) if profile_of else None) or UNNAMED
        groups[str(name)].append(event)
    profiles = {name: _measure_profile(name, events, logs.memory_mb) for name, events in sorted(groups.items())}
    return Measurements(profiles, deleted_events=deleted, skipped_lines=logs.skipped_lines)


def _measure_profile(name: str, events: list[dict[str, Any]], memory: Mapping[str, float]) -> ProfileMeasure:
    uploads = {(e.get("bucket"), e.get("key"), e.get("revision")) for e in events}
    written = [o for e in events for o in e.get("outputs") or [] if o.get("action") == "written"]
    statuses: dict[str, int] = defaultdict(int)
    for event in events:
        statuses[str(event.get("status"))] += 1
    peaks = [memory[e["aws_request_id"]] for e in events if e.get("aws_request_id") in memory]
    return ProfileMeasure(
        profile=name,
        uploads=len(uploads),
        events=len(events),
        durations_ms=tuple(float(e.get("duration_ms") or 0.0) for e in events),
        written=len(written),
        written_bytes=sum(int(o.get("bytes") or 0) for o in written),
        statuses=dict(statuses),
        peak_memory_mb=max(peaks) if peaks else None,
    )
