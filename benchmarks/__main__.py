"""``python -m benchmarks [--quick] [--out DIR]``: run the benchmark, print the tables, write JSON and a chart."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks import docs_page, report, targets
from benchmarks.run import Options, run

DEFAULT_OUT = Path("reports/bench")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no 24 MP input (a few minutes)")
    parser.add_argument("--tiny", action="store_true", help="tiny inputs, one round: checks the machinery only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})")
    parser.add_argument("--cache", type=Path, help="generated inputs (default OUT/cache; kept between runs)")
    parser.add_argument(
        "--repeats",
        type=int,
        help="timed rounds per input, at least (default 7, quick 3, tiny 1; more while a"
        " per-input budget of 25 s, quick 6 s, lasts)",
    )
    parser.add_argument("--no-rss", action="store_true", help="skip peak-memory probes")
    parser.add_argument("--no-imports", action="store_true", help="skip entrypoint import times")
    parser.add_argument("--no-throughput", action="store_true", help="skip `polythumb run` throughput")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    parser.add_argument("--no-formats", action="store_true", help="skip 3 sizes x 3 formats vs one format")
    parser.add_argument("--no-sharp", action="store_true", help="skip the sharp peer (needs node and `npm ci`)")
    parser.add_argument(
        "--deployed", default=None, metavar="CLOUDS",
        help="comma-separated clouds whose x86_64 package is built, unpacked and timed (default aws,gcp,azure; "
        "tiny: none); 'none' to skip",
    )  # fmt: skip
    parser.add_argument(
        "--report-only", type=Path, metavar="RESULTS", help="re-evaluate the targets and tables of a saved results.json"
    )
    parser.add_argument("--only", default="", metavar="INPUTS", help="comma-separated input names to run (default all)")
    parser.add_argument(
        "--docs", type=Path, default=None, metavar="PAGE",
        help=f"the page whose generated results this run rewrites (default {docs_page.DOCS_PAGE} for a full run of "
        "every input, none otherwise); 'none' to leave it",
    )  # fmt: skip
    return parser


def options_from(args: argparse.Namespace) -> Options:
    """Options for the suite chosen on the command line."""
    suite = "tiny" if args.tiny else "quick" if args.quick else "full"
    # (rounds at least, time budget per input in s, import repeats, throughput repeats)
    defaults = {"full": (11, 30.0, 7, 3), "quick": (5, 8.0, 5, 2), "tiny": (1, 0.0, 1, 1)}[suite]
    return Options(
        suite=suite,
        repeats=args.repeats or defaults[0],
        budget_s=defaults[1],
        out=args.out,
        cache=args.cache or args.out / "cache",
        rss=not args.no_rss,
        imports=not args.no_imports,
        import_repeats=defaults[2],
        throughput=not args.no_throughput,
        throughput_repeats=defaults[3],
        formats=not args.no_formats,
        sharp=not args.no_sharp,
        deployed=_clouds(args.deployed, suite),
        deployed_repeats=defaults[2],
        only=tuple(name for name in args.only.split(",") if name),
    )


def _clouds(value: str | None, suite: str) -> tuple[str, ...]:
    if value is None:
        return () if suite == "tiny" else ("aws", "gcp", "azure")
    if value.strip() == "none":
        return ()
    clouds = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = set(clouds) - {"aws", "gcp", "azure"}
    if unknown:
        raise SystemExit(f"--deployed: unknown cloud(s) {', '.join(sorted(unknown))}; use aws, gcp, azure or none")
    return clouds


def _docs_page(args: argparse.Namespace, options: Options) -> Path | None:
    """The page this run regenerates: ``--docs``, else the documentation's after a full run of every input."""
    if args.docs is not None:
        return None if str(args.docs) == "none" else args.docs
    return docs_page.DOCS_PAGE if options.suite == "full" and not options.only else None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 when the run completed (whether or not every target is met)."""
    args = build_parser().parse_args(argv)
    if args.report_only:
        saved = json.loads(args.report_only.read_text(encoding="utf-8"))
        saved["targets"] = targets.evaluate(saved)
        print("\n\n".join(report.as_markdown(table) for table in report.tables(saved)))
        if args.docs is not None and str(args.docs) != "none":
            docs_page.write(args.docs, saved)
        return 0
    options = options_from(args)
    # One thread per process on both sides, as the peer runs (sharp.concurrency(1), UV_THREADPOOL_SIZE=1):
    # libvips' worker threads in this process, the memory probes and the deployed packages' processes.
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results = run(options, log=log)
    results["targets"] = targets.evaluate(results)
    results["meta"]["seconds"] = time.perf_counter() - started
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    built = report.tables(results)
    (options.out / "report.md").write_text(
        "\n\n".join(report.as_markdown(table) for table in built) + "\n", encoding="utf-8"
    )
    print("\n\n".join(report.as_text(table) for table in built))
    if not args.no_chart:
        from benchmarks.chart import write_chart

        write_chart(results, options.out / "chart.png")
    page = _docs_page(args, options)
    if page is not None:
        docs_page.write(page, results)
    log(f"wrote {options.out / 'results.json'}, report.md" + ("" if args.no_chart else ", chart.png")
        + (f", {page}" if page else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
