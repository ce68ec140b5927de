"""Several formats per image: 3 sizes x AVIF+WebP+JPEG against the same 3 sizes in each format alone.

One decode and one resize chain per size serve every format (:func:`core.imaging.render.render_outputs`),
so the extra formats cost only their encodes. Target (issue 16): at most 2.5x the one-format render
of a 12 MP JPEG. ``python -m benchmarks.formats [--repeats N]`` runs this case alone; ``python -m
benchmarks`` includes it (``--no-formats`` leaves it out).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import photos, timing
from benchmarks.report import as_text, formats_table

SIZES = (128, 512, 1024)
THREE_FORMATS = (("avif", 60), ("webp", 80), ("jpeg", 85))
#: The one-format baselines: each of the three alone (the issue names no format; JPEG, the cheapest
#: encode, is the strictest baseline and the one the target is judged on).
ONE_FORMAT_CASES = {f"{fmt}_only": ((fmt, quality),) for fmt, quality in THREE_FORMATS}
BASELINE = "jpeg_only"
TARGET_RATIO = 2.5
MAX_PIXELS = 10**9


def _runner(data: bytes, encodings: tuple[tuple[str, int], ...]) -> Callable[[], list[int]]:
    def run() -> list[int]:
        from core.imaging import Box, Fit
        from core.imaging.render import render_outputs

        rendered = render_outputs(
            data,
            boxes=[Box(size, size) for size in SIZES],
            fit=Fit.CONTAIN,
            encodings=list(encodings),
            strip_metadata=True,
            max_pixels=MAX_PIXELS,
        )
        return [len(thumbnail.body) for thumbnail in rendered.thumbnails]

    return run


def measure(path: Path, *, repeats: int, budget_s: float) -> dict[str, Any]:
    """Medians of the three-format render and of each one-format render of ``path``, interleaved."""
    data = path.read_bytes()
    plans = {**ONE_FORMAT_CASES, "three_formats": THREE_FORMATS}
    runners = {name: _runner(data, encodings) for name, encodings in plans.items()}
    sizes = {name: runner() for name, runner in runners.items()}  # warm-up, and the output sizes
    timings = timing.interleaved(runners, repeats=repeats, warmup=0, budget_s=budget_s)
    cases = {
        name: {
            "formats": [fmt for fmt, _ in plans[name]],
            "median_ms": measured.median_ms,
            "cpu_median_ms": measured.cpu_median_ms,
            "rounds": len(measured.runs),
            "out_bytes": sizes[name],
        }
        for name, measured in timings.items()
    }
    three, base = cases["three_formats"], cases[BASELINE]
    return {
        "input": path.name,
        "sizes": list(SIZES),
        "cases": cases,
        "baseline": BASELINE,
        "ratio": three["median_ms"] / base["median_ms"],
        "cpu_ratio": three["cpu_median_ms"] / base["cpu_median_ms"],
        "target_ratio": TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    """Runs this case alone on the suite's 12 MP JPEG and prints its table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.formats", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds at least (default 11)")
    parser.add_argument("--cache", type=Path, default=Path("reports/bench/cache"), help="generated inputs")
    args = parser.parse_args(argv)
    path = photos.cached(photos.SUITES["full"][0], args.cache)
    print(as_text(formats_table(measure(path, repeats=args.repeats, budget_s=0.0))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
