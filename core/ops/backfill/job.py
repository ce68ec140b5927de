"""One backfill job: its identity, its default files, and planning it into counts and a spool."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.config import Config
from core.ops.backfill.concurrency import DEFAULT_IO_WORKERS
from core.ops.backfill.planner import Planner, PlanStats
from core.ops.backfill.report import DEFAULT_SAMPLE, PlanSummary
from core.ops.backfill.spool import Spool
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

    def default_checkpoint(self, directory: Path | None = None) -> Path:
        """``<target>-<digest>.json`` in ``directory`` (default: :func:`checkpoint_directory`), the digest of the
        job's identity: one file per source, destination, prefix and target, so two jobs never share one."""
        return (directory or checkpoint_directory()) / f"{self.target}-{self._digest()}.json"

    def legacy_checkpoint(self, directory: Path) -> Path:
        """Where versions before the cache directory kept this job's checkpoint: in the working directory."""
        return directory / f".polythumb-backfill-{self._digest()}.json"

    def _digest(self) -> str:
        return hashlib.sha256("\0".join(self.identity().values()).encode()).hexdigest()[:12]

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
        summary = PlanSummary(sample_size=sample)
        for entry in planner.entries():
            summary.add(entry)
            if spool is not None and (entry.needs_render or (include_orphans and entry.orphans)):
                spool.write(entry)
        summary.collisions = planner.collisions
        return summary, planner.stats


def dead_letter_path(checkpoint: Path) -> Path:
    """The dead-letter file next to a checkpoint: ``<checkpoint stem>.dead-letter.jsonl``."""
    return checkpoint.with_name(f"{checkpoint.stem}.dead-letter.jsonl")


def checkpoint_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where checkpoints go unless ``--checkpoint`` names one: ``$XDG_CACHE_HOME/polythumb/backfill``, else
    ``~/.cache/polythumb/backfill``. Per user, and never the working directory (often a checkout)."""
    cache = (os.environ if environ is None else environ).get("XDG_CACHE_HOME", "")
    root = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"  # XDG: a relative path is ignored
    return root / "polythumb" / "backfill"


def move_checkpoint(source: Path, target: Path) -> None:
    """Move checkpoint ``source`` and its dead-letter file, if any, to ``target`` (another file system too)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if dead_letter_path(source).exists() and not dead_letter_path(target).exists():
        shutil.move(dead_letter_path(source), dead_letter_path(target))
    shutil.move(source, target)
