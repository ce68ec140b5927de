"""Local mode (the embedded default): execute a plan in a process pool on this machine.

Every source goes through the normal :class:`core.pipeline.Thumbnailer`, so
idempotency, the loop guard and the conditional writes apply exactly as on a
cloud; a source that changed since the plan is simply rendered from its new
revision (or skipped as unchanged). Orphans are deleted (with
``delete_orphans``) after :func:`core.ops.backfill.orphans.delete_orphan` checks
them again.

Memory stays flat: at most ``2 x workers`` entries are in flight, and the
entries come from the on-disk :class:`core.ops.backfill.spool.Spool`. Progress is
checkpointed as a low-water mark (see :mod:`core.ops.backfill.checkpoint`); an
item that fails is reported and counted, and the mark moves past it (a run
without ``--resume`` plans it again, since it is still missing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from core.config import Config
from core.errors import PolythumbError
from core.ops.backfill.checkpoint import CheckpointWriter, Watermark
from core.ops.backfill.orphans import OrphanAction, delete_orphan
from core.ops.backfill.planner import PlanEntry
from core.ops.backfill.report import RunCounts
from core.ops.pool import imap_unordered
from core.ops.runner import QUIET, handle_safely, open_local_bucket
from core.outcome import Status
from core.pipeline import BucketOpener
from core.runtime import FunctionRuntime


@dataclass(frozen=True)
class EntryResult:
    """What executing one plan entry did."""

    key: str
    render: str | None = None  # "rendered", "unchanged" or "failed"; None when nothing was to render
    error_kind: str | None = None
    error_message: str | None = None
    orphans_deleted: int = 0
    orphans_kept: int = 0
    orphan_error: str | None = None


@dataclass
class LocalSummary(RunCounts):
    """Counts of one local run."""

    entries: int = 0
    rendered: int = 0
    unchanged: int = 0
    failed: int = 0
    orphans_deleted: int = 0
    orphans_kept: int = 0
    orphan_failures: int = 0
    seconds: float = 0.0

    def add(self, result: EntryResult) -> None:
        """Count one entry's result."""
        self.entries += 1
        if result.render == "rendered":
            self.rendered += 1
        elif result.render == "unchanged":
            self.unchanged += 1
        elif result.render == "failed":
            self.failed += 1
        self.orphans_deleted += result.orphans_deleted
        self.orphans_kept += result.orphans_kept
        self.orphan_failures += result.orphan_error is not None

    def describe(self) -> str:
        """One human line."""
        return (
            f"{self.rendered} rendered, {self.unchanged} unchanged, {self.failed} failed, "
            f"{self.orphans_deleted} orphans deleted"
            + (f" ({self.orphans_kept} kept: no longer orphans)" if self.orphans_kept else "")
            + (f", {self.orphan_failures} orphan deletes failed" if self.orphan_failures else "")
            + f" in {self.seconds:.2f} s"
        )


class EntryWorker:
    """Executes plan entries: one per worker process, reused for every entry it gets."""

    def __init__(
        self,
        config: Config,
        *,
        source_bucket: str,
        dest_bucket: str,
        delete_orphans: bool,
        open_bucket: BucketOpener = open_local_bucket,
    ) -> None:
        self._runtime = FunctionRuntime(open_bucket, config=config, logger=QUIET)
        self._thumbnailer = self._runtime.thumbnailer
        self._config = config
        self._source_bucket = source_bucket
        self._dest_bucket = dest_bucket
        self._delete_orphans = delete_orphans

    def __call__(self, entry: PlanEntry) -> EntryResult:
        """:meth:`process`, as the pool calls it."""
        return self.process(entry)

    def process(self, entry: PlanEntry) -> EntryResult:
        """Delete the entry's orphans (if asked) and render its source (if needed); never raises."""
        deleted = kept = 0
        orphan_error: str | None = None
        if self._delete_orphans and entry.orphans:
            source = self._thumbnailer.store(self._source_bucket)
            dest = self._thumbnailer.store(self._dest_bucket)
            for orphan in entry.orphans:
                try:
                    action = delete_orphan(orphan, source=source, dest=dest, config=self._config)
                except PolythumbError as exc:
                    orphan_error = f"{orphan.key}: [{exc.kind}] {exc}"
                    continue
                deleted += action is OrphanAction.DELETED
                kept += action is OrphanAction.KEPT
        if not entry.needs_render:
            return EntryResult(entry.key, orphans_deleted=deleted, orphans_kept=kept, orphan_error=orphan_error)
        outcome = handle_safely(self._runtime, entry.to_event(self._source_bucket))
        render = {Status.OK: "rendered", Status.SKIPPED: "unchanged"}.get(outcome.status, "failed")
        return EntryResult(
            entry.key,
            render=render,
            error_kind=outcome.error_kind,
            error_message=outcome.error_message,
            orphans_deleted=deleted,
            orphans_kept=kept,
            orphan_error=orphan_error,
        )


def run_local(
    entries: Iterable[PlanEntry],
    *,
    config: Config,
    source_bucket: str,
    dest_bucket: str,
    workers: int = 1,
    delete_orphans: bool = False,
    open_bucket: BucketOpener = open_local_bucket,
    checkpoint: CheckpointWriter | None = None,
    on_result: Callable[[EntryResult, LocalSummary], None] | None = None,
) -> LocalSummary:
    """Execute plan entries (in increasing key order) and return the counts.

    Args:
        entries: The work, usually a :class:`core.ops.backfill.spool.Spool`.
        config: Settings; ``config.dest_bucket`` must name ``dest_bucket``.
        source_bucket: The source's bucket name (a directory path locally).
        dest_bucket: The destination's bucket name.
        workers: Processes (1 works in this process).
        delete_orphans: Delete the entries' orphans after checking them again.
        open_bucket: Opens a bucket by name; must pickle (a module-level function) for ``workers > 1``.
        checkpoint: Where to save the low-water mark; None keeps no checkpoint.
        on_result: Called after each entry with its result and the running counts.
    """
    # A partial of a module-level class pickles, so spawn-started workers can build their own.
    make_worker = partial(
        EntryWorker,
        config,
        source_bucket=source_bucket,
        dest_bucket=dest_bucket,
        delete_orphans=delete_orphans,
        open_bucket=open_bucket,
    )
    watermark = Watermark()
    summary = LocalSummary()
    started = time.perf_counter()

    def record(token: int, result: EntryResult) -> None:
        summary.add(result)
        watermark.complete(token)
        if checkpoint is not None:
            checkpoint.update(watermark)
        if on_result is not None:
            on_result(result, summary)

    tokens: dict[str, int] = {}

    def registered() -> Iterator[PlanEntry]:
        for entry in entries:  # registered as submitted, so the low-water mark never passes work in flight
            tokens[entry.key] = watermark.register(entry.key)
            yield entry

    try:
        for entry, result in imap_unordered(registered(), make_worker, workers=workers):
            record(tokens.pop(entry.key), result)
    finally:
        if checkpoint is not None:
            checkpoint.update(watermark, force=True)  # interrupted or not, keep every completed item
    if checkpoint is not None:
        checkpoint.finish(watermark)
    summary.seconds = time.perf_counter() - started
    return summary
