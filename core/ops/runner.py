"""The embedded default: thumbnails for a directory, in parallel, or as a watching service.

Directories play the part of buckets (:class:`core.storage.FilesystemStorage`),
so the local service runs exactly the pipeline the clouds run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from core.config import Config
from core.delivery import INTERNAL_ERROR, deliver
from core.errors import PolythumbError
from core.events import EventKind, ObjectEvent
from core.ops.pool import imap_unordered
from core.outcome import Outcome, Status
from core.runtime import FunctionRuntime
from core.storage.filesystem import FilesystemStorage

#: Deliveries of a local run are not logged: the CLI prints each outcome (``--json``: the same keys).
QUIET = logging.getLogger("polythumb.local")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def open_local_bucket(name: str) -> FilesystemStorage:
    """A local "bucket" is a directory path."""
    return FilesystemStorage(name)


def sweep_destination(config: Config) -> int:
    """Remove the temporaries a killed run left in the output directory (see FilesystemStorage)."""
    return FilesystemStorage(config.dest_bucket).sweep_temporaries() if config.dest_bucket else 0


def local_runtime(config: Config) -> FunctionRuntime:
    """The runtime of a local run (or of one of its worker processes): directories as buckets, not logged."""
    return FunctionRuntime(open_local_bucket, config=config, logger=QUIET)


def handle_safely(runtime: FunctionRuntime, event: ObjectEvent) -> Outcome:
    """Deliver ``event``; a transient error or a bug becomes a FAILED outcome instead of ending the run."""
    started = time.perf_counter()
    [result] = deliver(runtime, lambda: event, route="local").results
    if result.outcome is not None:
        return result.outcome
    error = result.error
    kind = error.kind if isinstance(error, PolythumbError) else INTERNAL_ERROR
    message = str(error) if isinstance(error, PolythumbError) else f"{type(error).__name__}: {error}"
    return Outcome.failed(event, kind=kind, message=message, duration_ms=(time.perf_counter() - started) * 1000)


@dataclass
class Summary:
    """Counts of one run."""

    ok: int = 0
    skipped: int = 0
    failed: int = 0
    written: int = 0
    seconds: float = 0.0
    failures: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        if outcome.status is Status.OK:
            self.ok += 1
            self.written += sum(1 for o in outcome.outputs if o.action == "written")
        elif outcome.status is Status.SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(outcome)

    @property
    def total(self) -> int:
        """Sources seen."""
        return self.ok + self.skipped + self.failed

    def describe(self) -> str:
        """One human line."""
        rate = self.total / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.total} sources: {self.ok} ok, {self.skipped} skipped, {self.failed} failed; "
            f"{self.written} thumbnails written in {self.seconds:.2f} s ({rate:.1f} images/s)"
        )


# -- run -------------------------------------------------------------------------


class _RenderWorker:
    """Renders events with one local runtime: one per worker process, reused for every image."""

    def __init__(self, config: Config) -> None:
        self._runtime = local_runtime(config)

    def __call__(self, event: ObjectEvent) -> Outcome:
        return handle_safely(self._runtime, event)


def run_directory(
    source: Path,
    config: Config,
    *,
    workers: int = 1,
    on_outcome: Callable[[Outcome, int, int], None] | None = None,
) -> Summary:
    """Render thumbnails for every selected image under ``source``.

    Every file gets an outcome: ``source`` is read by the same walk as :func:`watch_events`, so a name no
    key can hold (not UTF-8, a newline, a symlink out of ``source``) is reported failed (``invalid_key``),
    and polythumb's own outputs (``DEST`` equal to, inside or around ``source``) are skipped as such.

    Args:
        source: The directory to read.
        config: Settings; ``config.dest_bucket`` is the output directory.
        workers: Processes to render in (1 renders in this process).
        on_outcome: Called as ``(outcome, done, total)`` after each source.
    """
    store = FilesystemStorage(source, create=False)
    sweep_destination(config)
    bucket = store.bucket
    # Every file, as watch sees them: a name no key can hold is handed on and reported failed, not left out.
    files = sorted(store.files(), key=lambda entry: entry.key)
    events = [ObjectEvent.created(bucket, entry.key, size=entry.size) for entry in files]
    summary = Summary()
    started = time.perf_counter()

    def record(outcome: Outcome) -> None:
        summary.add(outcome)
        if on_outcome:
            on_outcome(outcome, summary.total, len(events))

    local = local_runtime(config)
    selected = []
    for event in events:
        if config.profiles.is_selected(event.key):
            selected.append(event)
        else:
            record(handle_safely(local, event))  # a cheap FILTERED outcome, no I/O
    if workers > 1 and len(selected) > 1:
        # Forked workers inherit the parent's imports: load Pillow and the engine once here rather than in
        # every worker (about 0.1 s each). libvips itself loads in the workers, on first use.
        import core.imaging.render  # noqa: F401
    for _, outcome in imap_unordered(selected, partial(_RenderWorker, config), workers=min(workers, len(selected))):
        record(outcome)
    summary.seconds = time.perf_counter() - started
    return summary


# -- watch -----------------------------------------------------------------------

Signature = tuple[int, int]  # (size, mtime_ns)


def _scan(store: FilesystemStorage) -> dict[str, Signature]:
    return {entry.key: (entry.size, entry.mtime_ns) for entry in store.files()}


def watch_events(
    source: Path, *, interval: float = 1.0, initial: bool = True, stop: threading.Event | None = None
) -> Iterator[ObjectEvent]:
    """Yield created/deleted events for ``source`` by polling it.

    Polling (not inotify) works on every OS and on network mounts. A file is
    reported once it has kept the same size and mtime for one full interval, so a
    half-copied upload is never rendered.
    """
    store = FilesystemStorage(source, create=False)
    bucket = store.bucket
    stop = stop or threading.Event()
    known: dict[str, Signature] = {} if initial else _scan(store)
    pending: dict[str, Signature] = {}
    while not stop.is_set():
        current = _scan(store)
        for key in sorted(known.keys() - current.keys()):
            pending.pop(key, None)
            del known[key]
            yield ObjectEvent.deleted(bucket, key)
        for key, signature in sorted(current.items()):
            if known.get(key) == signature:
                continue
            if pending.get(key) == signature:  # stable for one interval: complete
                del pending[key]
                known[key] = signature
                yield ObjectEvent.created(bucket, key, size=signature[0])
            else:
                pending[key] = signature
        if stop.wait(interval if not pending else min(interval, 0.25)):
            return


def watch_directory(
    source: Path,
    config: Config,
    *,
    interval: float = 1.0,
    initial: bool = True,
    stop: threading.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Keep ``config.dest_bucket`` in step with ``source`` until ``stop`` is set."""
    sweep_destination(config)
    runtime = local_runtime(config)
    summary = Summary()
    started = time.perf_counter()
    for event in watch_events(source, interval=interval, initial=initial, stop=stop):
        outcome = handle_safely(runtime, event)
        if event.kind is EventKind.CREATED or outcome.status is not Status.SKIPPED:
            summary.add(outcome)
        if on_outcome:
            on_outcome(outcome)
    summary.seconds = time.perf_counter() - started
    return summary
