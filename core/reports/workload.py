"""The user's workload, and what one of its images costs to render here (duration and peak memory).

The render runs in a fresh interpreter (so its peak RSS is the render's, not this process's): a
photo-like JPEG of the workload's mean size is synthesised (pixels = mean bytes / bytes per pixel,
an assumption printed in the report), then rendered to every requested size ``repeat`` times with
the same engine the functions use (:func:`core.imaging.render_thumbnails`, JPEG output).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.config import load_config

#: A 12 MP phone JPEG is about 3.5 MB (measured in the AWS provider's README): 0.29 bytes per pixel.
DEFAULT_BYTES_PER_PIXEL = 0.29


@dataclass(frozen=True)
class Workload:
    """What the user describes: how many images a month, how large, which sizes."""

    images_per_month: int
    mean_mb: float
    sizes: str
    bytes_per_pixel: float = DEFAULT_BYTES_PER_PIXEL

    @property
    def boxes(self) -> int:
        """How many thumbnails each image gets."""
        return len(load_config({"THUMBS_SIZES": self.sizes}).boxes)

    @property
    def megapixels(self) -> float:
        return self.mean_mb * 1e6 / self.bytes_per_pixel / 1e6


@dataclass(frozen=True)
class RenderSample:
    """One workload image rendered here."""

    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    source_bytes: int = 0
    pixels: int = 0
    thumbnail_bytes: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0


_PROBE = """
import io, json, sys, time
from PIL import Image
from core.config import load_config
from core.imaging import render_thumbnails
from core.imaging.types import Fit
megapixels, sizes, repeat = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
width = max(16, int((megapixels * 1e6 * 4 / 3) ** 0.5))
height = max(12, int(width * 3 / 4))
# Photo-like content: smooth gradients plus grain, so the JPEG decoder does real work.
base = Image.linear_gradient("L").resize((width, height))
grain = Image.effect_noise((width, height), 24)
image = Image.merge("RGB", (base, Image.blend(base, grain, 0.3), grain.point(lambda v: v // 2 + 64)))
buffer = io.BytesIO()
image.save(buffer, "JPEG", quality=88)
data = buffer.getvalue()
del image, base, grain, buffer
boxes = list(load_config({"THUMBS_SIZES": sizes}).boxes)
times, thumbs = [], []
for _ in range(repeat):
    started = time.perf_counter()
    thumbs = render_thumbnails(data, boxes=boxes, fit=Fit.CONTAIN, format="jpeg", quality=None,
                               strip_metadata=True, max_pixels=400_000_000)
    times.append(time.perf_counter() - started)
try:
    import resource
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
except ImportError:
    rss_kb = None
print(json.dumps({"seconds": times, "rss_kb": rss_kb, "source_bytes": len(data), "pixels": width * height,
                  "thumbnail_bytes": [len(t.body) for t in thumbs]}))
"""


def measure_render(root: Path, workload: Workload, *, repeat: int = 3, python: str = sys.executable) -> RenderSample:
    """Render one workload image ``repeat`` times in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.run(
        [python, "-c", _PROBE, str(workload.megapixels), workload.sizes, str(repeat)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if process.returncode != 0:
        return RenderSample(error=(process.stderr.strip().splitlines() or ["no output"])[-1][:300])
    report = json.loads(process.stdout.strip().splitlines()[-1])
    return RenderSample(
        seconds=[float(s) for s in report["seconds"]],
        peak_rss_mb=report["rss_kb"] / 1024 if report.get("rss_kb") else None,
        source_bytes=int(report["source_bytes"]),
        pixels=int(report["pixels"]),
        thumbnail_bytes=[int(n) for n in report["thumbnail_bytes"]],
    )
