"""Several formats per image: 3 sizes x AVIF+WebP+JPEG against the same 3 sizes in each format alone.

One decode, one resize chain, one sRGB conversion and one metadata decision per size serve every format
(:func:`core.imaging.render.render_outputs`), so the extra formats cost only their encodes. Each case
runs at the encoders' default effort and, where a profile may choose a faster one (``effort = { webp =
0 }``), at that effort too, with the output bytes of every case: the size each effort trades for its CPU.
Target (issues 16, 25): the three formats at most 2.5x the CPU of the JPEG-only render of a 12 MP JPEG.
``python -m benchmarks.formats [--repeats N]`` runs this case alone; ``python -m benchmarks`` includes it
(``--no-formats`` leaves it out).
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
#: (format, quality, effort); effort None is the encoder's default (:data:`core.imaging.encoding.EFFORTS`).
Encoded = tuple[str, int, int | None]
THREE_FORMATS: tuple[Encoded, ...] = (("avif", 60, None), ("webp", 80, None), ("jpeg", 85, None))
#: The fastest efforts a profile can ask for: libwebp method 0 (AVIF's default, aom speed 9, already is
#: the fastest; JPEG has no effort).
FASTEST_THREE: tuple[Encoded, ...] = (("avif", 60, 0), ("webp", 80, 0), ("jpeg", 85, None))
#: The one-format baselines: each of the three alone (the issue names no format; JPEG, the cheapest
#: encode, is the strictest baseline and the one the target is judged on), and WebP at faster efforts.
ONE_FORMAT_CASES: dict[str, tuple[Encoded, ...]] = {
    **{f"{fmt}_only": ((fmt, quality, None),) for fmt, quality, _ in THREE_FORMATS},
    "webp_effort0_only": (("webp", 80, 0),),
    "webp_effort2_only": (("webp", 80, 2),),
}
#: The several-format cases, each judged against :data:`BASELINE`.
SEVERAL_FORMAT_CASES: dict[str, tuple[Encoded, ...]] = {"three_formats": THREE_FORMATS,
                                                        "three_formats_fastest": FASTEST_THREE}  # fmt: skip
BASELINE = "jpeg_only"
TARGET_RATIO = 2.5
MAX_PIXELS = 10**9


def _runner(data: bytes, encodings: tuple[Encoded, ...]) -> Callable[[], list[tuple[str, int]]]:
    def run() -> list[tuple[str, int]]:
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
        return [(thumbnail.format, len(thumbnail.body)) for thumbnail in rendered.thumbnails]

    return run


def _by_format(made: list[tuple[str, int]]) -> dict[str, int]:
    """Output bytes per format, over every size."""
    totals: dict[str, int] = {}
    for fmt, size in made:
        totals[fmt] = totals.get(fmt, 0) + size
    return totals


def measure(path: Path, *, repeats: int, budget_s: float) -> dict[str, Any]:
    """Medians of the three-format render and of each one-format render of ``path``, interleaved."""
    data = path.read_bytes()
    plans = {**ONE_FORMAT_CASES, **SEVERAL_FORMAT_CASES}
    runners = {name: _runner(data, encodings) for name, encodings in plans.items()}
    sizes = {name: runner() for name, runner in runners.items()}  # warm-up, and the output sizes
    timings = timing.interleaved(runners, repeats=repeats, warmup=0, budget_s=budget_s)
    cases: dict[str, dict[str, Any]] = {
        name: {
            "formats": [fmt for fmt, _, _ in plans[name]],
            "efforts": [effort for _, _, effort in plans[name]],
            "median_ms": measured.median_ms,
            "cpu_median_ms": measured.cpu_median_ms,
            "rounds": len(measured.runs),
            "out_bytes": [size for _, size in sizes[name]],
            "out_bytes_by_format": _by_format(sizes[name]),
        }
        for name, measured in timings.items()
    }
    three, base = cases["three_formats"], cases[BASELINE]
    fastest = cases["three_formats_fastest"]
    return {
        "input": path.name,
        "sizes": list(SIZES),
        "cases": cases,
        "baseline": BASELINE,
        "ratio": three["median_ms"] / base["median_ms"],
        "cpu_ratio": three["cpu_median_ms"] / base["cpu_median_ms"],
        "fastest_cpu_ratio": fastest["cpu_median_ms"] / base["cpu_median_ms"],
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
