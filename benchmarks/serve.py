"""``python -m benchmarks.serve``: what serving on first request costs over the upload path's own render.

For a 12 MP JPEG and every image of the tricky-image corpus that renders, side by side in one run, rounds
interleaved (:func:`benchmarks.timing.interleaved`), medians reported:

* **upload render**: the created event through the delivery the upload function runs (one download, one
  decode, every output, conditional puts), on an empty destination;
* **first request**: time to first byte of a ``GET`` over real HTTP (``polythumb serve``'s server, on this
  machine, one kept-alive connection as a page's images share) for an output that does not exist yet: the path
  read back, the render (the same pipeline), the puts, and the answer, a ``302`` to ``THUMBS_PUBLIC_BASE_URL``;
* **first request, in process**: the same without HTTP (``core.serve.handle_request``);
* **cached request**: time to first byte of the same ``GET`` once the output exists (a head and a ``302``).

The overhead of the serve path (issue 23 asks for under 10 %) is reported two ways: first request / upload render
- 1 on the medians (wall and CPU time), and, paired within each first request, its time to first byte minus the
time its own pipeline run took (what serving adds: the path read back, the source looked up, the answer),
over the upload render's median: the renders' own noise cancels out of the second. The destination is emptied
before each timed miss, outside the timed part. Results go to ``OUT/serve.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.photos import Photo, cached
from benchmarks.timing import SelfTimed, Timing, interleaved
from core.config import load_config
from core.delivery import handle
from core.events import ObjectEvent
from core.ops.runner import QUIET, open_local_bucket
from core.ops.serve_local import BoundedServer
from core.runtime import FunctionRuntime
from core.serve import ServeRequest, handle_request, prepare
from core.storage import FilesystemStorage

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"
DEFAULT_OUT = Path("reports") / "bench"
SIZES = "1024x1024,256x256"
#: The overhead the serve path may add to the upload path's render (issue 23).
TARGET = 0.10
CASES = ("upload render", "first request", "first request, in process", "cached request")
TWELVE_MP = Photo("jpeg-12mp", "jpeg", 4000, 3000)
TINY = Photo("jpeg-tiny", "jpeg", 360, 240)


class _Renders(logging.Handler):
    """Keeps the duration of each pipeline run the serve runtime logs (its outcome records)."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        if fields.get("kind") == "created" and "duration_ms" in fields:
            self.durations.append(float(fields["duration_ms"]))


@dataclass
class Bench:
    """One source folder, one destination, the upload function's runtime and a serve server over them."""

    src: Path
    dest: Path

    def __post_init__(self) -> None:
        overrides = {"THUMBS_DEST_BUCKET": str(self.dest), "THUMBS_SERVE_SOURCE_BUCKET": str(self.src),
                     "THUMBS_SIZES": SIZES, "THUMBS_PUBLIC_BASE_URL": "http://thumbs.invalid/"}  # fmt: skip
        config = load_config({}, overrides=overrides)
        self.config = config
        self.upload_runtime = FunctionRuntime(open_local_bucket, config=config, logger=QUIET)
        self.renders = _Renders()
        logger = logging.getLogger("polythumb.bench.serve")
        logger.propagate, logger.level = False, logging.INFO
        logger.handlers[:] = [self.renders]
        self.serve_runtime = FunctionRuntime(open_local_bucket, config=config, logger=logger)
        prepare(self.serve_runtime)
        self.store = FilesystemStorage(self.dest)
        self._connection: http.client.HTTPConnection | None = None
        self.server = BoundedServer(("127.0.0.1", 0), self.serve_runtime)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.server.shutdown()
        self.server.server_close()

    def outputs(self, key: str) -> list[str]:
        return [output.key for output in self.config.profiles.outputs_for(key)]

    def clear(self, key: str) -> None:
        for output in self.outputs(key):
            self.store.delete(output)

    def upload(self, key: str) -> None:
        result = handle(self.upload_runtime, ObjectEvent.created(str(self.src.resolve()), key), {"route": "bench"})
        assert result.outcome is not None and str(result.outcome.status) == "ok", result

    def get(self, key: str) -> int:
        """A GET of ``key`` over HTTP, on one kept-alive connection as a browser's page loads do; it returns once
        the status line and headers are in (the caller's time to first byte), the body read."""
        if self._connection is None:
            host, port = self.server.server_address[:2]
            self._connection = http.client.HTTPConnection(str(host), int(port), timeout=300)
        self._connection.request("GET", "/" + quote(key))
        response = self._connection.getresponse()
        response.read()
        return response.status

    def in_process(self, key: str) -> int:
        return handle_request(self.serve_runtime, ServeRequest("GET", "/" + quote(key)), route="bench").status


def _timed(before: Callable[[], object], work: Callable[[], object]) -> Callable[[], SelfTimed]:
    """A case whose set-up (``before``) is not timed."""

    def case() -> SelfTimed:
        before()
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        return SelfTimed([], time.perf_counter() - wall, time.process_time() - cpu)

    return case


def measure(bench: Bench, key: str, *, repeats: int, budget_s: float) -> tuple[dict[str, Timing], list[float]]:
    """The four cases for the source ``key``, interleaved; and what each HTTP first request added to its render."""
    first = bench.outputs(key)[-1]  # the smallest: what a page shows first
    clear = lambda: bench.clear(key)  # noqa: E731 - a case's set-up
    added: list[float] = []

    def first_request() -> None:
        del bench.renders.durations[:]
        started = time.perf_counter()
        status = bench.get(first)
        assert status == 302, status
        added.append((time.perf_counter() - started) * 1000 - sum(bench.renders.durations))

    def in_process() -> None:
        assert bench.in_process(first) == 302

    def cached_request() -> None:
        assert bench.get(first) == 302

    cases = {
        "upload render": _timed(clear, lambda: bench.upload(key)),
        "first request": _timed(clear, first_request),
        "first request, in process": _timed(clear, in_process),
        "cached request": _timed(lambda: bench.get(first), cached_request),
    }
    return interleaved(cases, repeats=repeats, budget_s=budget_s), added


def row(name: str, measured: tuple[dict[str, Timing], list[float]]) -> dict[str, Any]:
    timings, added = measured
    medians = {case: round(timings[case].median_ms, 2) for case in CASES}
    render, cpu = medians["upload render"], timings["upload render"].cpu_median_ms
    return {
        "input": name,
        **medians,
        "overhead": medians["first request"] / render - 1,
        "cpu_overhead": timings["first request"].cpu_median_ms / cpu - 1,
        "added_ms": round(statistics.median(added), 2),
        "added_overhead": statistics.median(added) / render,
        "rounds": len(timings["upload render"].runs),
    }


def corpus_sources(bench: Bench, scratch: Path) -> list[str]:
    """The corpus images that render (the corpus holds broken files and bombs on purpose), copied to ``scratch``."""
    keys = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix.lower() in (".md", ".tsv") or not path.is_file():
            continue
        shutil.copyfile(path, scratch / path.name)
        result = handle(bench.upload_runtime, ObjectEvent.created(str(bench.src.resolve()), path.name), {})
        if result.outcome is not None and str(result.outcome.status) == "ok":
            keys.append(path.name)
            bench.clear(path.name)
    return keys


def run(*, out: Path, repeats: int, budget_s: float, corpus: bool, tiny: bool) -> dict[str, Any]:
    """Measure, print the table, write ``out/serve.json``; return the results."""
    with tempfile.TemporaryDirectory(prefix="polythumb-bench-serve-") as scratch:
        src, dest = Path(scratch, "src"), Path(scratch, "dest")
        src.mkdir()
        photo = TINY if tiny else TWELVE_MP
        shutil.copyfile(cached(photo, out / "cache"), src / f"{photo.name}.jpg")
        bench = Bench(src, dest)
        try:
            rows = [row(photo.name, measure(bench, f"{photo.name}.jpg", repeats=repeats, budget_s=budget_s))]
            corpus_rows = []
            if corpus:
                for key in corpus_sources(bench, src):
                    corpus_rows.append(row(key, measure(bench, key, repeats=max(3, repeats // 2), budget_s=0.0)))
        finally:
            bench.close()
    if corpus_rows:
        totals: dict[str, Any] = {case: round(sum(r[case] for r in corpus_rows), 2) for case in CASES}
        added = sum(r["added_ms"] for r in corpus_rows)
        rows.append({
            "input": f"corpus ({len(corpus_rows)} images, sums of medians)", **totals,
            "overhead": totals["first request"] / totals["upload render"] - 1,
            "cpu_overhead": statistics.median(r["cpu_overhead"] for r in corpus_rows),
            "added_ms": round(added, 2), "added_overhead": added / totals["upload render"],
            "rounds": min(r["rounds"] for r in corpus_rows),
        })  # fmt: skip
    results = {
        "sizes": SIZES,
        "target_overhead": TARGET,
        "rows": rows,
        "corpus": corpus_rows,
        "within_target": all(r["added_overhead"] < TARGET for r in rows),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(table(results))
    return results


def table(results: dict[str, Any]) -> str:
    header = ["input", *(f"{case} (ms)" for case in CASES), "overhead (wall)", "overhead (CPU)", "added (paired)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results["rows"]:
        overheads = [f"{r['overhead']:+.1%}", f"{r['cpu_overhead']:+.1%}"]
        cells = [r["input"], *(f"{r[case]:.1f}" for case in CASES), *overheads,
                 f"{r['added_ms']:.1f} ms = {r['added_overhead']:+.1%}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    verdict = "within" if results["within_target"] else "OVER"
    lines.append(
        f"\nWhat serving adds to a render (each first request's time to first byte minus its own pipeline run, "
        f"over the upload render's median): {verdict} the {TARGET:.0%} target. Overheads on the medians: first "
        "request over upload render, wall and CPU time of this process. Sizes "
        f"{results['sizes']}; medians of interleaved rounds (at least {min(r['rounds'] for r in results['rows'])})."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})")
    parser.add_argument("--rounds", type=int, default=11, help="rounds of the 12 MP input at least (default 11)")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds more rounds may take (default 30)")
    parser.add_argument("--no-corpus", action="store_true", help="the 12 MP JPEG only")
    parser.add_argument("--tiny", action="store_true", help="a tiny input, one round, no corpus: the machinery only")
    args = parser.parse_args(argv)
    if args.tiny:
        run(out=args.out, repeats=1, budget_s=0.0, corpus=False, tiny=True)
        return 0
    results = run(out=args.out, repeats=args.rounds, budget_s=args.budget, corpus=not args.no_corpus, tiny=False)
    return 0 if results["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
