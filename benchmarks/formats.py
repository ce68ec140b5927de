"""Several formats per image: 3 sizes x AVIF+WebP+JPEG against the same 3 sizes in one format.

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
from benchmarks.report import Table

SIZES = (128, 512, 1024)
ONE_FORMAT = (("jpeg", 85),)
THREE_FORMATS = (("avif", 60), ("webp", 80), ("jpeg", 85))
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
    """Medians of both renders of the JPEG at ``path``, interleaved, and their ratio."""
    data = path.read_bytes()
    runners = {"one_format": _runner(data, ONE_FORMAT), "three_formats": _runner(data, THREE_FORMATS)}
    sizes = {name: runner() for name, runner in runners.items()}  # warm-up, and the output sizes
    timings = timing.interleaved(runners, repeats=repeats, warmup=0, budget_s=budget_s)
    one, three = timings["one_format"], timings["three_formats"]
    return {
        "input": path.name,
        "sizes": list(SIZES),
        "one_format": {"formats": [f for f, _ in ONE_FORMAT], "median_ms": one.median_ms,
                       "cpu_median_ms": one.cpu_median_ms, "rounds": len(one.runs), "out_bytes": sizes["one_format"]},
        "three_formats": {"formats": [f for f, _ in THREE_FORMATS], "median_ms": three.median_ms,
                          "cpu_median_ms": three.cpu_median_ms, "rounds": len(three.runs),
                          "out_bytes": sizes["three_formats"]},
        "ratio": three.median_ms / one.median_ms,
        "cpu_ratio": three.cpu_median_ms / one.cpu_median_ms,
        "target_ratio": TARGET_RATIO,
    }  # fmt: skip


def table(result: dict[str, Any]) -> Table:
    """The report table of :func:`measure`'s result."""
    one, three = result["one_format"], result["three_formats"]
    rows = [
        [", ".join(one["formats"]), f"{one['median_ms']:.0f}", f"{one['cpu_median_ms']:.0f}", "1.00x", "", ""],
        [
            ", ".join(three["formats"]),
            f"{three['median_ms']:.0f}",
            f"{three['cpu_median_ms']:.0f}",
            f"{result['ratio']:.2f}x",
            f"<= {result['target_ratio']:g}x",
            "yes" if result["ratio"] <= result["target_ratio"] else "NO",
        ],
    ]
    title = (
        f"Several formats from one decode: {result['input']}, sizes {'/'.join(map(str, result['sizes']))} "
        f"(medians of {three['rounds']} interleaved rounds; CPU ratio {result['cpu_ratio']:.2f}x)"
    )
    return (title, ["formats", "wall ms", "CPU ms", "vs one format", "target", "met"], rows)


def main(argv: list[str] | None = None) -> int:
    """Runs this case alone on the suite's 12 MP JPEG and prints its table."""
    from benchmarks.report import as_text

    parser = argparse.ArgumentParser(prog="python -m benchmarks.formats", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds at least (default 11)")
    parser.add_argument("--cache", type=Path, default=Path("reports/bench/cache"), help="generated inputs")
    args = parser.parse_args(argv)
    path = photos.cached(photos.SUITES["full"][0], args.cache)
    print(as_text(table(measure(path, repeats=args.repeats, budget_s=0.0))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
