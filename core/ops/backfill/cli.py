"""``polythumb backfill``: its arguments and how the command runs (plan, then local pool or cloud fan-out).

Kept apart from :mod:`core.ops.cli` so the main CLI stays a thin dispatcher; everything heavy is imported
only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import registry
from core.config import load_config
from core.errors import ConfigError
from core.ops.console import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Progress, add_setting_flags, setting_overrides

if TYPE_CHECKING:  # the backfill loads only when its command runs
    from core.ops.backfill.checkpoint import Checkpoint, CheckpointWriter
    from core.ops.backfill.dispatch import SinkRequest, WorkSink
    from core.ops.backfill.job import Job
    from core.ops.backfill.report import RenderCounts
    from core.ops.backfill.spool import Spool
    from core.reports.measured import Measurements
    from core.storage.port import Storage


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="reconcile DEST with everything already in SRC: plan, then render locally or fan out to a cloud",
        description="List SRC and DEST and classify every source as missing, stale or current, and every "
        "polythumb thumbnail without a source as orphaned (no image is downloaded); then render what is missing "
        "or stale here (--target local) or send work items to the deployed function (--target <provider>).",
    )
    backfill.add_argument("src", help="source directory (--target local) or bucket/container name")
    backfill.add_argument(
        "--out", metavar="DEST", help="destination directory or bucket (default: THUMBS_DEST_BUCKET, else SRC)"
    )
    backfill.add_argument("--prefix", default="", metavar="P", help="only sources whose key starts with this")
    backfill.add_argument("--target", choices=("local", *registry.names()), default="local", help="where to render")
    backfill.add_argument("--dry-run", action="store_true", help="print the plan's counts and samples; change nothing")
    backfill.add_argument(
        "--lazy",
        action="store_true",
        help="plan, and render nothing: each missing or stale output is rendered on its first request to the serve "
        "function (polythumb serve locally), e.g. after a size is added to a profile",
    )
    backfill.add_argument("--json", action="store_true", help="print one JSON object (plan or summary) on stdout")
    backfill.add_argument(
        "--sample", type=_at_least(0), default=10, metavar="N", help="keys shown per class (default 10)"
    )
    backfill.add_argument(
        "--workers",
        type=_at_least(1),
        metavar="N",
        help="local: processes (default: CPU count); cloud: threads (default 16)",
    )
    backfill.add_argument("--delete-orphans", action="store_true", help="delete the orphaned thumbnails found")
    backfill.add_argument(
        "--max-renders",
        type=_at_least(1),
        metavar="N",
        help="render (or send) at most N sources, then stop cleanly at a checkpoint: --resume continues",
    )
    backfill.add_argument("--resume", action="store_true", help="continue after the checkpoint's last completed key")
    backfill.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="checkpoint file (default: one per job in polythumb/backfill under $XDG_CACHE_HOME, else ~/.cache)",
    )
    backfill.add_argument(
        "--checkpoint-every",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between checkpoint writes: at most this much work is repeated after a crash (default 1)",
    )
    backfill.add_argument(
        "--dead-letter", type=Path, metavar="FILE", help="cloud: where undeliverable items go (JSON lines)"
    )
    backfill.add_argument("--rate", type=_positive_float, metavar="N", help="cloud: work items per second at most")
    backfill.add_argument("--batch", type=_at_least(1), metavar="N", help="cloud: items per send (capped by the sink)")
    backfill.add_argument(
        "--max-attempts", type=_at_least(1), default=5, metavar="N", help="cloud: sends per item (default 5)"
    )
    backfill.add_argument(
        "--sink-option",
        dest="sink_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="cloud: an option of the provider's sink (see its README); repeatable",
    )
    backfill.add_argument(
        "--cost-from-logs",
        type=Path,
        action="append",
        metavar="FILE",
        help="dry run: price renders with the durations a deployment logged (JSON lines); repeatable",
    )
    backfill.add_argument(
        "--instance",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dry run on a cloud: the billed size (memory_mb=1024; GCP: memory=1Gi, cpu=1)",
    )
    backfill.add_argument(
        "--workdir",
        type=Path,
        help="cloud: where `polythumb deploy` ran, to check the brake (default: the provider's deploy folder)",
    )
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_setting_flags(backfill)


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        return _run_backfill(args)
    except registry.ProviderUnavailable as exc:
        print(f"polythumb: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run_backfill(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from core.ops.backfill.checkpoint import load_checkpoint
    from core.ops.backfill.concurrency import DEFAULT_IO_WORKERS
    from core.ops.backfill.job import Job

    if args.lazy and (args.delete_orphans or args.resume):
        raise ConfigError("--lazy plans and changes nothing; run --delete-orphans or --resume without it")
    sink_options = _sink_options(args.sink_option)
    # A cloud target's own settings: what its function reads (the images connection) and what only commands do.
    extra = registry.get(args.target).settings if args.target != "local" else ()
    config = load_config(os.environ, overrides=setting_overrides(args, dest=args.out), extra_settings=extra)
    stores = _open_backfill_stores(args, config.dest_bucket or args.src)
    if stores is None:
        return EXIT_USAGE
    source, dest = stores
    job = Job(args.target, source, dest, replace(config, dest_bucket=dest.bucket), prefix=args.prefix)

    checkpoint_path = _checkpoint_path(args, job)
    start = load_checkpoint(checkpoint_path, job=job.identity()) if args.resume else None
    if args.resume and start is None:
        print(f"polythumb: no checkpoint at {checkpoint_path}; starting from the beginning", file=sys.stderr)
    after = start.last_key if start else None
    io_workers = DEFAULT_IO_WORKERS if args.target == "local" else args.workers or DEFAULT_IO_WORKERS
    mode = "lazy" if args.lazy else "dry-run" if args.dry_run else "local" if args.target == "local" else "dispatch"
    report: dict[str, object] = {
        "mode": mode,
        "target": args.target,
        "source": source.bucket,
        "dest": dest.bucket,
        "prefix": args.prefix,
        "resumed_after": after,
    }

    if args.dry_run or args.lazy:
        plan, stats = job.plan(after=after, sample=args.sample, io_workers=io_workers)
        lazy = {"rendered": 0, "on_first_request": plan.to_render} if args.lazy else {}
        cost = None if args.lazy else _estimate(args, job, plan.renders)
        if args.json:
            priced = {"cost": cost} if cost is not None else {}
            print(json.dumps({**report, **plan.to_dict(stats), **lazy, **priced}, ensure_ascii=False))
        else:
            scope = f" (prefix {args.prefix!r})" if args.prefix else ""
            print(f"backfill plan: {source.bucket} -> {dest.bucket}{scope}")
            print(plan.describe(stats))
            if args.lazy:
                print(
                    f"lazy: nothing rendered; the outputs of {plan.to_render} missing or stale sources are rendered "
                    "on their first request to the serve function (polythumb serve locally)"
                )
            if cost is not None:
                from core.ops.backfill import estimate

                print(estimate.describe(cost, target=args.target))
        return EXIT_OK

    # Fail fast, before any listing, when the fan-out is not available (or the brake is on).
    sink = _cloud_sink(args, job, sink_options) if args.target != "local" else None
    try:
        return _execute_backfill(args, job, sink, start=start, checkpoint_path=checkpoint_path, report=report)
    finally:
        if sink is not None:
            sink.close()


def _checkpoint_path(args: argparse.Namespace, job: Job) -> Path:
    """``--checkpoint``, else the job's file in the cache directory; a resume adopts one an older version left
    in the working directory (moved, so no checkout keeps it; a dry run reads it where it is)."""
    from core.ops.backfill.job import move_checkpoint

    if args.checkpoint is not None:
        return Path(args.checkpoint)
    path, legacy = job.default_checkpoint(), job.legacy_checkpoint(Path.cwd())
    if not args.resume or path.exists() or not legacy.exists():
        return path
    if args.dry_run:
        return legacy
    move_checkpoint(legacy, path)
    print(f"polythumb: moved the checkpoint {legacy} to {path}", file=sys.stderr)
    return path


def _estimate(args: argparse.Namespace, job: Job, renders: RenderCounts) -> dict[str, Any]:
    """The dry run's cost of the plan's renders (bounded by --max-renders) on ``--target``."""
    from core.ops.backfill import estimate

    return estimate.estimate(
        renders, target=args.target, config=job.config, workers=args.workers or os.cpu_count() or 1,
        max_renders=args.max_renders, measured=_measured(args.cost_from_logs, job),
        measured_from=", ".join(map(str, args.cost_from_logs or ())), instance=args.instance,
    )  # fmt: skip


def _measured(paths: list[Path] | None, job: Job) -> Measurements | None:
    """What the log files given to --cost-from-logs measured, per profile (None: none given)."""
    if not paths:
        return None
    from core.reports.measured import measure, read_lines

    lines: list[str] = []
    for path in paths:
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise ConfigError(f"--cost-from-logs {path}: {exc.strerror or exc}") from None
    measured = measure(read_lines(lines), profile_of=job.profile_of)
    if not measured.profiles:
        raise ConfigError(f"--cost-from-logs: no created events with duration_ms in {', '.join(map(str, paths))}")
    return measured


def _cloud_sink(args: argparse.Namespace, job: Job, sink_options: dict[str, str]) -> WorkSink:
    """The cloud target's sink, once the brake lets the backfill start (see :func:`core.ops.brake.check_backfill`).

    Raises:
        Braked: the deployment is braked, and this backfill would render past the brake.
    """
    from core.ops.backfill.dispatch import SinkRequest
    from core.ops.brake import check_backfill

    spec = registry.get(args.target)
    note = check_backfill(spec, workdir=args.workdir)
    if note:
        print(f"polythumb: {note}", file=sys.stderr)
    request = SinkRequest(
        target=args.target, src=args.src, dest=job.dest.bucket, config=job.config, prefix=args.prefix,
        batch=args.batch, rate=args.rate, workers=args.workers, sink_options=sink_options,
    )  # fmt: skip
    return load_sink(spec, request)


def load_sink(spec: registry.ProviderSpec, request: SinkRequest) -> WorkSink:
    """Build ``spec``'s backfill sink for ``request``.

    Raises:
        ProviderUnavailable: the provider offers no backfill sink, its SDK is missing, or what its factory
            returns is not a :class:`core.ops.backfill.dispatch.WorkSink`.
    """
    from core.ops.backfill.dispatch import WorkSink

    sink = spec.resolve("backfill_sink")(request)
    if not isinstance(sink, WorkSink):
        raise registry.ProviderUnavailable(
            f"the {spec.title} backfill sink factory returned {type(sink).__name__}, which is not a WorkSink "
            "(it needs max_batch_size, send(batch) and close())"
        )
    return sink


def _sink_options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--sink-option {pair!r} is not valid; accepted values: KEY=VALUE")
        options[key.strip()] = value
    return options


def _open_backfill_stores(args: argparse.Namespace, dest_name: str) -> tuple[Storage, Storage] | None:
    from core.storage import FilesystemStorage, MemoryStorage

    if args.target != "local":
        open_bucket = registry.get(args.target).resolve("open_bucket")
        return open_bucket(args.src), open_bucket(dest_name)
    src_dir, dest_dir = Path(args.src), Path(dest_name)
    if not src_dir.is_dir():
        print(f"polythumb: {src_dir} is not a directory", file=sys.stderr)
        return None
    if not (args.dry_run or args.lazy):
        dest = FilesystemStorage(dest_dir)
        dest.sweep_temporaries()  # what a killed run (or resume) left mid-write
        return FilesystemStorage(src_dir, create=False), dest
    if dest_dir.is_dir():
        return FilesystemStorage(src_dir, create=False), FilesystemStorage(dest_dir)
    # A dry run creates nothing; a destination that does not exist yet is an empty one.
    return FilesystemStorage(src_dir, create=False), MemoryStorage(str(dest_dir.resolve()))


def _execute_backfill(
    args: argparse.Namespace,
    job: Job,
    sink: WorkSink | None,
    *,
    start: Checkpoint | None,
    checkpoint_path: Path,
    report: dict[str, object],
) -> int:
    from core.ops.backfill.checkpoint import CheckpointWriter
    from core.ops.backfill.concurrency import DEFAULT_IO_WORKERS
    from core.ops.backfill.spool import Spool

    io_workers = DEFAULT_IO_WORKERS if sink is None else args.workers or DEFAULT_IO_WORKERS
    with Spool() as spool:
        plan, stats = job.plan(
            after=start.last_key if start else None,
            sample=args.sample,
            io_workers=io_workers,
            spool=spool,
            include_orphans=args.delete_orphans,
        )
        if not args.json:
            print(plan.describe(stats), file=sys.stderr)
            print(f"checkpoint: {checkpoint_path}", file=sys.stderr)
        writer = CheckpointWriter(checkpoint_path, job.identity(), start=start, interval=args.checkpoint_every)
        progress = Progress(sys.stderr, enabled=not args.no_progress and sys.stderr.isatty())
        if sink is None:
            result, failed = _backfill_local(args, job, spool, writer, progress)
        else:
            result, failed = _backfill_dispatch(
                args, job, sink, spool, writer=writer, progress=progress, checkpoint_path=checkpoint_path
            )
    if args.json:
        summary = {
            **report,
            **result,
            "skipped_before_checkpoint": stats.before_checkpoint,
            "checkpoint": str(checkpoint_path),
            "plan": plan.to_dict(stats),
        }
        print(json.dumps(summary, ensure_ascii=False))
    return EXIT_FAILED if failed else EXIT_OK


def _backfill_local(
    args: argparse.Namespace, job: Job, spool: Spool, writer: CheckpointWriter, progress: Progress
) -> tuple[dict[str, object], bool]:
    from core.ops.backfill.executor import EntryResult, LocalSummary, run_local

    total = len(spool)

    def on_result(result: EntryResult, summary: LocalSummary) -> None:
        if result.render == "failed":
            progress.clear()
            print(f"failed: {result.key}: [{result.error_kind}] {result.error_message}", file=sys.stderr)
        if result.orphan_error:
            progress.clear()
            print(f"orphan not deleted: {result.orphan_error}", file=sys.stderr)
        progress.update(summary.entries, total)

    summary = run_local(
        spool,
        config=job.config,
        source_bucket=job.source.bucket,
        dest_bucket=job.dest.bucket,
        workers=args.workers or os.cpu_count() or 1,
        delete_orphans=args.delete_orphans,
        checkpoint=writer,
        on_result=on_result,
        max_renders=args.max_renders,
    )
    progress.clear()
    if not args.json:
        print(summary.describe(), file=sys.stderr)
    return summary.to_dict(), bool(summary.failed or summary.orphan_failures)


def _backfill_dispatch(
    args: argparse.Namespace,
    job: Job,
    sink: WorkSink,
    spool: Spool,
    *,
    writer: CheckpointWriter,
    progress: Progress,
    checkpoint_path: Path,
) -> tuple[dict[str, object], bool]:
    from core.ops.backfill.deadletter import DeadLetterFile
    from core.ops.backfill.dispatch import Dispatcher, DispatchOptions, DispatchSummary
    from core.ops.backfill.job import dead_letter_path
    from core.ops.backfill.orphans import OrphanAction, delete_orphan
    from core.ops.backfill.planner import Orphan

    total = len(spool)
    options = DispatchOptions(
        batch_size=args.batch, rate=args.rate, max_attempts=args.max_attempts, max_renders=args.max_renders
    )

    def remove_orphan(orphan: Orphan) -> OrphanAction:
        return delete_orphan(orphan, source=job.source, dest=job.dest, config=job.config)

    def on_progress(summary: DispatchSummary) -> None:
        progress.update(summary.completed, total)

    dead_letter_file: Path = args.dead_letter or dead_letter_path(checkpoint_path)
    with DeadLetterFile(dead_letter_file) as dead_letter:
        dispatcher = Dispatcher(
            sink,
            job.source.bucket,
            options=options,
            dead_letter=dead_letter,
            checkpoint=writer,
            delete_orphan=remove_orphan if args.delete_orphans else None,
            on_progress=on_progress,
        )
        summary = dispatcher.run(spool)
    progress.clear()
    if not args.json:
        print(summary.describe(), file=sys.stderr)
        if summary.dead_lettered:
            print(f"dead letter: {dead_letter_file}", file=sys.stderr)
    result = {**summary.to_dict(), "dead_letter": str(dead_letter_file) if summary.dead_lettered else None}
    return result, bool(summary.dead_lettered or summary.orphan_failures)
