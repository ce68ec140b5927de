"""Run one case once and print its baseline and peak RSS as JSON: ``python -m benchmarks.probe CASE FILE KIND``.

KIND is the photo kind of FILE ("jpeg", "png-rgba", ...): the case first runs
on a 64x48 photo of that kind, so the baseline is a warm, idle process.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from benchmarks.cases import CASES, prepare
from benchmarks.photos import Photo, encode_photo


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str]) -> int:
    """Entry point: ``CASE FILE KIND``."""
    case = CASES[argv[0]]
    prepare(case)
    case.runner(encode_photo(Photo("warm-up", argv[2], 64, 48)))()
    baseline = _peak_mb()
    data = Path(argv[1]).read_bytes()
    case.runner(data)()
    print(json.dumps({"case": case.name, "baseline_mb": baseline, "peak_mb": _peak_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
