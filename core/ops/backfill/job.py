"""One backfill job: its identity, its default files, and planning it into counts and a spool."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.config import Config
from core.ops.backfill.concurrency import DEFAULT_IO_WORKERS
from core.ops.backfill.planner import Planner, PlanStats
from core.ops.backfill.report import DEFAULT_SAMPLE, PlanSummary
from core.ops.backfill.spool import Spool
from core.profiles import profile_for
from core.storage.port import Storage


@dataclass(frozen=True)
class Job:
    """What to reconcile: a source, a destination, the settings and a prefix."""

    target: str
    source: Storage
    dest: Storage
    config: Config
    prefix: str = ""

    def identity(self) -> dict[str, str]:
        """What a checkpoint must match to be resumed by this job."""
        return {"target": self.target, "source": self.source.bucket, "dest": self.dest.bucket, "prefix": self.prefix}

    def profile_of(self, key: str) -> str:
        """The name of the profile that renders ``key`` (``default`` without THUMBS_PROFILES)."""
        profile = profile_for(self.config, key)
        return profile.name if profile is not None else "(none)"

    def default_checkpoint(self, directory: Path) -> Path:
        """``.polythumb-backfill-<digest>.json`` in ``directory``: one file per job, so jobs never share one."""
        digest = hashlib.sha256("\0".join(self.identity().values()).encode()).hexdigest()[:12]
        return directory / f".polythumb-backfill-{digest}.json"

    def plan(
        self,
        *,
        after: str | None = None,
        sample: int = DEFAULT_SAMPLE,
        io_workers: int = DEFAULT_IO_WORKERS,
        spool: Spool | None = None,
        include_orphans: bool = False,
    ) -> tuple[PlanSummary, PlanStats]:
        """Classify everything; write the entries with work to ``spool`` (if given).

        Args:
            after: Resume point (source keys up to it are skipped).
            sample: Keys kept per class for the report.
            io_workers: Threads for ``head`` requests.
            spool: Receives entries that need a render, and those with orphans when ``include_orphans``.
            include_orphans: Spool entries whose only work is deleting orphans.
        """
        planner = Planner(self.source, self.dest, self.config, prefix=self.prefix, after=after, io_workers=io_workers,
                          collision_sample=sample)  # fmt: skip
        summary = PlanSummary(sample_size=sample, profile_of=self.profile_of)
        for entry in planner.entries():
            summary.add(entry)
            if spool is not None and (entry.needs_render or (include_orphans and entry.orphans)):
                spool.write(entry)
        summary.collisions = planner.collisions
        return summary, planner.stats


def dead_letter_path(checkpoint: Path) -> Path:
    """The dead-letter file next to a checkpoint: ``<checkpoint stem>.dead-letter.jsonl``."""
    return checkpoint.with_name(f"{checkpoint.stem}.dead-letter.jsonl")
