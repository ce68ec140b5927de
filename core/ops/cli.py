"""The ``polythumb`` command: run and watch locally, check settings, build cloud packages.

Flags are the ``THUMBS_*`` settings under another spelling; they override the
environment and go through the same validation.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from core import __version__, registry
from core.completion import check_settings
from core.completion.http import describe
from core.config import Config, load_config
from core.errors import ConfigError, PolythumbError
from core.ops.backfill import cli as backfill_cli
from core.ops.collisions import template_collisions
from core.ops.console import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Progress, add_setting_flags, setting_overrides
from core.outcome import Outcome, Status

#: Report commands, each delegating to ``core.reports.<name>.main`` (they need the dev/test extras).
REPORTS = {
    "conformance": "run the contract and end-to-end suites on every provider; write the conformance matrix",
    "lockin": "write the vendor lock-in report (portability, cold start, cost, migration)",
}

def _config_from(args: argparse.Namespace, *, dest: str | None) -> Config:
    return load_config(os.environ, overrides=setting_overrides(args, dest=dest))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="polythumb", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"polythumb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="thumbnails for every image under SRC")
    run.add_argument("src", type=Path)
    run.add_argument("--out", required=True, type=Path, help="destination directory")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPU count)")
    run.add_argument("--json", action="store_true", help="one JSON object per source on stdout")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_setting_flags(run)

    watch = commands.add_parser("watch", help="keep DEST in step with SRC: new images rendered, deleted ones cleaned")
    watch.add_argument("src", type=Path)
    watch.add_argument("--out", required=True, type=Path)
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between scans (default 1)")
    watch.add_argument("--no-initial", action="store_true", help="ignore images already present at start")
    watch.add_argument("--json", action="store_true")
    add_setting_flags(watch)

    check = commands.add_parser("config", help="validate the THUMBS_* environment and print the settings")
    add_setting_flags(check)

    profiles = commands.add_parser("profiles", help="which profile a key gets and what it renders")
    profile_commands = profiles.add_subparsers(dest="profiles_command", required=True)
    explain = profile_commands.add_parser("explain", help="the profile KEY gets and every output it makes")
    explain.add_argument("key", help="a source key, e.g. avatars/ada.jpg")
    add_setting_flags(explain)

    for report, help_text in REPORTS.items():
        commands.add_parser(report, help=help_text)  # listed in --help; main() hands the arguments over

    package = commands.add_parser("package", help="build the deployable artefact of a cloud provider")
    package.add_argument("provider", choices=registry.names())
    package.add_argument("rest", nargs=argparse.REMAINDER, help="options of the provider's packager")

    backfill_cli.add_parser(commands)
    from core.ops.deploy import add_parsers as add_deploy_parsers
    from core.ops.teardown import add_parser as add_teardown_parser

    add_deploy_parsers(commands)
    add_teardown_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in REPORTS:  # their options (including --help) belong to the report module
        report = importlib.import_module(f"core.reports.{argv[0]}")
        return int(report.main(argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "watch":
            return _watch(args)
        if args.command == "config":
            return _show_config(args)
        if args.command == "profiles":
            return _explain_profile(args)
        if args.command == "backfill":
            return backfill_cli.run(args)
        if args.command in ("deploy", "verify"):
            from core.ops.deploy import deploy_command, verify_command

            return deploy_command(args) if args.command == "deploy" else verify_command(args)
        if args.command == "teardown":
            from core.ops.teardown import teardown_command

            return teardown_command(args)
        return _package(args)
    except ConfigError as exc:
        print(f"polythumb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PolythumbError as exc:
        print(f"polythumb: {exc.kind}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    from core.ops.runner import run_directory

    if not args.src.is_dir():
        print(f"polythumb: {args.src} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    config = _config_from(args, dest=str(args.out.resolve()))
    progress = Progress(sys.stderr, enabled=not args.no_progress and sys.stderr.isatty())

    def on_outcome(outcome: Outcome, done: int, total: int) -> None:
        if args.json:
            _print_json(outcome, config)
        elif outcome.status is Status.FAILED:
            progress.clear()
            print(f"failed: {outcome.key}: [{outcome.error_kind}] {outcome.error_message}", file=sys.stderr)
        elif outcome.warnings:
            progress.clear()
            print(f"warning: {outcome.key}: {'; '.join(outcome.warnings)}", file=sys.stderr)
        progress.update(done, total)

    summary = run_directory(args.src, config, workers=max(1, args.workers), on_outcome=on_outcome)
    progress.clear()
    print(summary.describe(), file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _watch(args: argparse.Namespace) -> int:
    from core.ops.runner import watch_directory

    if not args.src.is_dir():
        print(f"polythumb: {args.src} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    config = _config_from(args, dest=str(args.out.resolve()))
    stop = threading.Event()

    def on_outcome(outcome: Outcome) -> None:
        if args.json:
            _print_json(outcome, config)
        elif outcome.status is not Status.SKIPPED:
            detail = f"[{outcome.error_kind}] {outcome.error_message}" if outcome.error_kind else ""
            written = ", ".join(o.key for o in outcome.outputs if o.action in ("written", "deleted"))
            print(f"{outcome.kind} {outcome.key}: {outcome.status} {written}{detail}", file=sys.stderr, flush=True)

    print(f"watching {args.src} -> {args.out} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        summary = watch_directory(
            args.src, config, interval=args.interval, initial=not args.no_initial, stop=stop, on_outcome=on_outcome
        )
    except KeyboardInterrupt:
        return EXIT_OK
    print(summary.describe(), file=sys.stderr)
    return EXIT_OK


def _show_config(args: argparse.Namespace) -> int:
    config = _config_from(args, dest=os.environ.get("THUMBS_DEST_BUCKET"))
    check_settings(config)  # the targets and manifest key, as a runtime would check them at start
    collisions = template_collisions(config)
    shown = {
        "dest_bucket": config.dest_bucket,
        "sizes": [str(b) for b in config.boxes],
        "key_template": config.key_template,
        "format": config.format,
        "quality": config.quality,
        "fit": str(config.fit),
        "include": list(config.include),
        "exclude": list(config.exclude),
        "max_pixels": config.max_pixels,
        "max_bytes": config.max_bytes,
        "cache_control": config.cache_control,
        "strip_metadata": config.strip_metadata,
        "on_delete": config.on_delete,
        "max_frames": config.max_frames,
        "max_duration": config.max_duration,
        "engine": config.engine,
        "profiles": [profile.describe() for profile in config.profiles.profiles],
        "notify": [describe(target) for target in config.notify],  # a URL's query or user info may hold a token
        "notify_secret": "***" if config.notify_secret else None,  # set or not; the value is never printed
        "manifest": config.manifest,
        "manifest_key": config.manifest_key,
        "public_base_url": config.public_base_url,
        "url_mode": config.url_mode,
        "url_ttl": config.url_ttl,
        # Where the templates can give two sources one key: the first rendered owns it, the others fail.
        "key_collisions": collisions,
        "from": dict(config.sources),
    }
    print(json.dumps(shown, indent=2))
    for collision in collisions:
        print(f"polythumb: warning: {collision}", file=sys.stderr)
    return EXIT_OK


def _explain_profile(args: argparse.Namespace) -> int:
    config = _config_from(args, dest=os.environ.get("THUMBS_DEST_BUCKET"))
    print(json.dumps(config.profiles.explain(args.key), indent=2))
    return EXIT_OK


def _package(args: argparse.Namespace) -> int:
    try:
        package = registry.get(args.provider).resolve("packager")
    except registry.ProviderUnavailable as exc:
        print(f"polythumb: packaging for {args.provider} is not available in this install: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return int(package(args.rest))


def _print_json(outcome: Outcome, config: Config) -> None:
    record = outcome.to_dict()
    # Local "buckets" are absolute paths: print keys relative to them, which is what users asked for.
    record.pop("bucket", None)
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8: its bytes stay in the key as \udcXX escapes
        line = json.dumps(record)
    print(line, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
