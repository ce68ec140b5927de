"""What a backfill reports: the dry run's counts per class and first keys of each (text or one JSON object),
and the counts of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.ops.backfill.collisions import Collision
from core.ops.backfill.planner import PlanEntry, PlanStats, SourceStatus

CLASSES = ("missing", "stale", "current", "orphaned")
DEFAULT_SAMPLE = 10


@dataclass
class RunCounts:
    """Counts of one run (local or dispatch), reported as JSON."""

    def to_dict(self) -> dict[str, Any]:
        """Every count, and every duration rounded to the millisecond."""
        return {name: round(value, 3) if isinstance(value, float) else value for name, value in vars(self).items()}


@dataclass
class PlanSummary:
    """Counts and samples of a plan, filled entry by entry (memory: the samples only)."""

    sample_size: int = DEFAULT_SAMPLE
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    samples: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in CLASSES})
    orphan_reasons: dict[str, int] = field(default_factory=dict)
    #: Output keys several listed sources map to (a sample; ``PlanStats.collisions`` counts them all).
    collisions: list[Collision] = field(default_factory=list)

    def add(self, entry: PlanEntry) -> None:
        """Count one entry: its source's status (if any) and each of its orphans."""
        if entry.status is not None:
            self._count(entry.status.value, entry.key)
        for orphan in entry.orphans:
            self._count("orphaned", orphan.key)
            self.orphan_reasons[orphan.reason.value] = self.orphan_reasons.get(orphan.reason.value, 0) + 1

    def _count(self, name: str, key: str) -> None:
        self.counts[name] += 1
        if len(self.samples[name]) < self.sample_size:
            self.samples[name].append(key)

    @property
    def to_render(self) -> int:
        """Sources to (re)render."""
        return self.counts[SourceStatus.MISSING.value] + self.counts[SourceStatus.STALE.value]

    def to_dict(self, stats: PlanStats) -> dict[str, Any]:
        """The dry run's JSON object (without the job's identity, which the caller adds)."""
        return {
            **self.counts,
            "orphan_reasons": dict(sorted(self.orphan_reasons.items())),
            "collisions": stats.collisions,
            "collision_samples": [collision.to_json() for collision in self.collisions],
            "sources": {
                "listed": stats.source_listed,
                "selected": stats.selected,
                "filtered": stats.filtered,
                "polythumb_outputs": stats.polythumb_outputs,
                "invalid_keys": stats.invalid_keys,
                "before_checkpoint": stats.before_checkpoint,
            },
            "requests": {
                "dest_prefix": stats.dest_prefix,
                "dest_listed": stats.dest_listed,
                "dest_heads": stats.dest_heads,
                "source_heads": stats.source_heads,
                "index_runs": stats.index_runs,
            },
            "samples": {name: list(keys) for name, keys in self.samples.items()},
        }

    def describe(self, stats: PlanStats) -> str:
        """A few human lines."""
        lines = [
            f"{stats.source_listed} objects listed: {stats.selected} sources compared, {stats.filtered} filtered out"
            + (f", {stats.polythumb_outputs} thumbnails in the source" if stats.polythumb_outputs else "")
            + (f", {stats.invalid_keys} refused ('.' or '..' in their output keys)" if stats.invalid_keys else "")
            + (f", {stats.before_checkpoint} before the checkpoint" if stats.before_checkpoint else ""),
        ]
        for name in CLASSES:
            keys = self.samples[name]
            more = ", ..." if self.counts[name] > len(keys) else ""
            example = f"  e.g. {', '.join(keys)}{more}" if keys else ""
            lines.append(f"  {name:<9}{self.counts[name]:>9}{example}")
        if stats.collisions:
            shown = "; ".join(f"{c.key} <- {', '.join(c.sources)}" for c in self.collisions)
            more = "; ..." if stats.collisions > len(self.collisions) else ""
            lines.append(
                f"  {'collisions':<9}{stats.collisions:>9}  output keys that several sources map to, e.g. {shown}{more}"
                " (the first rendered owns a key, the others fail with output_conflict; see polythumb config)"
            )
        lines.append(
            f"{stats.dest_listed} destination objects listed under {stats.dest_prefix or '(all)'!s}, "
            f"{stats.dest_heads + stats.source_heads} metadata requests"
        )
        return "\n".join(lines)
