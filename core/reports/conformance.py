"""``polythumb conformance``: run the contract and end-to-end suites and write the conformance matrix.

pytest runs in a subprocess with the recording plugin ``tests/e2e/report_plugin.py``, so this module
imports neither pytest nor any cloud SDK; it needs a source checkout (the tests are not packaged).
Writes ``conformance.json`` (per-test results), ``conformance.md`` and ``conformance.html`` to
``--out`` (default ``reports/conformance/``). Exit status: 0 all pass, 1 a test failed, 2 the suites
could not run.

Usage::

    python -m core.reports.conformance [--out DIR] [--require-all] [--results FILE] [-- PYTEST ARGS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.reports.matrix import Matrix, build_matrix, load_results, to_html, to_markdown

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path("reports") / "conformance"
SUITE_PATHS = ("tests/contract", "tests/e2e")
PLUGIN = "tests.e2e.report_plugin"
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


@dataclass(frozen=True)
class Written:
    """What one conformance run produced."""

    matrix: Matrix
    results: Path
    markdown: Path
    html: Path


def run_suites(results: Path, *, root: Path = ROOT, require_all: bool = False, pytest_args: Sequence[str] = ()) -> int:
    """Run the suites under pytest in a subprocess, recording per-test results to ``results``.

    Returns:
        pytest's exit status.

    Raises:
        FileNotFoundError: ``root`` is not a source checkout with the test suites.
    """
    for path in (*SUITE_PATHS, "tests/e2e/report_plugin.py"):
        if not (root / path).exists():
            raise FileNotFoundError(f"{root / path} is missing: polythumb conformance needs a source checkout")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    if require_all:
        env["POLYTHUMB_REQUIRE_ALL_PROVIDERS"] = "1"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *SUITE_PATHS,
        "-p",
        PLUGIN,
        f"--conformance-json={results}",
        "-q",
        "-p",
        "no:cacheprovider",
        *pytest_args,
    ]
    results.parent.mkdir(parents=True, exist_ok=True)
    if results.exists():
        results.unlink()  # never render a stale file as this run's result
    return subprocess.run(command, cwd=root, env=env, check=False).returncode


def write_reports(results: Path, out: Path) -> Written:
    """Build the matrix from ``results`` and write its Markdown and HTML next to it in ``out``."""
    matrix = build_matrix(load_results(results))
    out.mkdir(parents=True, exist_ok=True)
    markdown, page = out / "conformance.md", out / "conformance.html"
    markdown.write_text(to_markdown(matrix), encoding="utf-8")
    page.write_text(to_html(matrix), encoding="utf-8")
    return Written(matrix, results, markdown, page)


def run(out: Path, *, require_all: bool = False, pytest_args: Sequence[str] = ()) -> tuple[int, Written | None]:
    """Run the suites and write the reports; returns (pytest's exit status, what was written or None)."""
    results = out / "conformance.json"
    status = run_suites(results.resolve(), require_all=require_all, pytest_args=pytest_args)
    if not results.exists():
        return status, None
    return status, write_reports(results, out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polythumb conformance",
        description="Run the storage contract and end-to-end suites on every installed provider and write the "
        "behaviour x provider matrix (Markdown and HTML).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--results", type=Path, help="render this results JSON instead of running the suites")
    parser.add_argument(
        "--require-all", action="store_true", help="a provider whose SDK is missing is an error, not a 'not run' column"
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polythumb conformance``."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        if args.results:
            written: Written | None = write_reports(args.results, args.out)
        else:
            _, written = run(args.out, require_all=args.require_all, pytest_args=args.pytest_args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"polythumb conformance: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if written is None:
        print("polythumb conformance: the suites wrote no results (see pytest's output above)", file=sys.stderr)
        return EXIT_UNUSABLE
    counts = written.matrix.counts()
    print(
        f"conformance: {counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skipped -> "
        f"{written.markdown}, {written.html}"
    )
    return EXIT_FAILED if written.matrix.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
