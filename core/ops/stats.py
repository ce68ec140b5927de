"""``polythumb stats LOG``: the metric table's figures, from a JSON log (the functions' lines, or ``run --json``).

It reads the same fields every cloud's metrics read (:mod:`core.metrics`), so the local answer to "how many
images failed, and why, and how long does an upload take to get its thumbnails" is the dashboards' answer:
counts by status and by error kind, percentiles of the time per image and of upload-to-ready, bytes written,
and the runaway detector's figures over the whole log.

Lines may be polythumb's own JSON lines, a ``polythumb run --json`` or ``watch --json`` output, or a log export
where each line holds one of them after a prefix (a timestamp), or as Cloud Logging's ``jsonPayload``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.alerts import RUNAWAY
from core.metrics import measure

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], point: float) -> float:
    """The ``point``-th percentile of ``values`` (nearest rank, as the clouds' percentiles approximate it)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(point / 100 * len(ordered)))
    return ordered[rank - 1]


def records(lines: Iterable[str]) -> tuple[list[dict[str, Any]], int]:
    """The log records in ``lines``, and how many lines held none."""
    found, skipped = [], 0
    for line in lines:
        record = _record(line)
        if record is None:
            skipped += bool(line.strip())
        else:
            found.append(record)
    return found, skipped


def _record(line: str) -> dict[str, Any] | None:
    start = line.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(line[start:])
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("jsonPayload"), dict):  # a Cloud Logging export
        value = value["jsonPayload"]
    return value if isinstance(value, dict) else None


@dataclass
class Stats:
    """What a log says, in the metric table's terms."""

    lines: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # error kind -> failed or error lines
    values: dict[str, list[float]] = field(default_factory=dict)  # histogram -> its values
    notify_failures: int = 0
    runaway: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, found: Sequence[Mapping[str, Any]]) -> Stats:
        """The figures of ``found`` records."""
        stats = cls(lines=len(found))
        for record in found:
            for measurement in measure(record):
                if measurement.metric == "polythumb.renders":
                    status = measurement.attributes.get("status", "")
                    stats.statuses[status] += 1
                    if status in ("failed", "error"):
                        stats.failures[measurement.attributes.get("error_kind", "(none)")] += 1
                elif measurement.metric == "polythumb.notify.failures":
                    stats.notify_failures += 1
                else:
                    stats.values.setdefault(measurement.metric, []).append(measurement.value)
        stats.runaway = {detector.name: detector.worst(found) for detector in RUNAWAY}
        return stats

    def summary(self, name: str) -> dict[str, float] | None:
        """Count, percentiles and maximum of one histogram (None: no value)."""
        values = self.values.get(name)
        if not values:
            return None
        figures: dict[str, float] = {"count": len(values)}
        figures.update({f"p{point}": round(percentile(values, point), 3) for point in PERCENTILES})
        figures["max"] = round(max(values), 3)
        figures["sum"] = round(sum(values), 3)
        return figures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``--json``)."""
        return {
            "records": self.lines,
            "by_status": dict(self.statuses.most_common()),
            "failures_by_error_kind": dict(self.failures.most_common()),
            "notify_failures": self.notify_failures,
            **{name: self.summary(name) for name in sorted(self.values)},
            "runaway": self.runaway,
        }

    def describe(self) -> str:
        """The human report."""
        out = [f"{self.lines} records; " + (", ".join(f"{n} {s}" for s, n in self.statuses.most_common()) or "none")]
        if self.failures:
            out.append("failed or retried, by error kind: " + ", ".join(
                f"{kind} {count}" for kind, count in self.failures.most_common()))  # fmt: skip
        labels = {
            "polythumb.render.duration": ("time per event", "ms"),
            "polythumb.upload_to_ready": ("upload to ready", "ms"),
            "polythumb.output.bytes": ("bytes written per image", "B"),
            "polythumb.source.megapixels": ("source megapixels", "Mpx"),
        }
        for name, (label, unit) in labels.items():
            figures = self.summary(name)
            if figures:
                points = ", ".join(f"p{p} {figures[f'p{p}']:g}" for p in PERCENTILES)
                out.append(f"{label} ({unit}, {int(figures['count'])} values): {points}, max {figures['max']:g}")
        if self.notify_failures:
            out.append(f"completion events not published: {self.notify_failures}")
        out.append("runaway detector (most lines of one source): " + ", ".join(
            f"{name.replace('_', ' ')} {count}" for name, count in self.runaway.items()))  # fmt: skip
        return "\n".join(out)


def add_parser(commands: Any) -> None:
    """The ``stats`` command's arguments."""
    parser = commands.add_parser("stats", help="summarise a JSON log: counts by status and error kind, percentiles")
    parser.add_argument("log", type=Path, nargs="+", help="JSON-lines log files ('-': standard input)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the text report")


def run(args: argparse.Namespace, *, stdin: TextIO | None = None) -> int:
    """Print the figures of the logs ``args.log`` names; exit 1 when no record was found."""
    found: list[dict[str, Any]] = []
    skipped = 0
    for path in args.log:
        if str(path) == "-":
            more, bad = records(stdin or sys.stdin)
        else:
            with path.open(encoding="utf-8", errors="replace") as handle:
                more, bad = records(handle)
        found += more
        skipped += bad
    stats = Stats.of(found)
    print(json.dumps(stats.to_dict(), indent=2) if args.json else stats.describe())
    if skipped:
        print(f"polythumb: {skipped} lines held no JSON record and were left out", file=sys.stderr)
    return 0 if found else 1
