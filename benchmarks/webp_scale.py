"""What libwebp's scaled decode saves: ``python -m benchmarks.webp_scale [FILE]``.

libvips' WebP loader passes ``scale`` (``shrink`` on load) to libwebp, which then
scales while decoding. The table shows its CPU time at each scale against
Pillow's full decode: a VP8 stream has no reduced-resolution decode (a JPEG's
DCT can skip coefficients; VP8 macroblocks are predicted from their fully
decoded neighbours), so every block is decoded at full size and only the
output rows are area-averaged as they come. That decode is the floor of any
WebP thumbnail, polythumb's, sharp's or the seed's.
"""

from __future__ import annotations

import functools
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCALES = (1.0, 0.5, 0.25, 0.125, 0.0625)


def cpu_ms(work: Callable[[], object], *, repeats: int = 7) -> float:
    """Median CPU milliseconds of ``work``."""
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        runs.append(time.process_time() - started)
    return statistics.median(runs) * 1000


def main(argv: list[str]) -> int:
    """Print the decode time of one WebP at each scale, and Pillow's full decode."""
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    from PIL import Image

    from benchmarks import photos
    from benchmarks.cases import load_pyvips

    path = (
        Path(argv[0])
        if argv
        else photos.cached(photos.Photo("webp-12mp", "webp", 4000, 3000), Path("reports/bench/cache"))
    )
    data = path.read_bytes()
    pyvips = load_pyvips()

    def load(scale: float) -> object:
        source = pyvips.Source.new_from_memory(data)
        return pyvips.Image.webpload_source(source, scale=scale, access="sequential").copy_memory()

    print(f"{path.name}: CPU ms, median of 7, one thread")
    for scale in SCALES:
        print(f"  libwebp via libvips, scale {scale:<6}  {cpu_ms(functools.partial(load, scale)):6.0f}")
    print(f"  Pillow, full decode             {cpu_ms(lambda: Image.open(io.BytesIO(data)).load()):6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
