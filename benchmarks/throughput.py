"""``polythumb run`` on a folder of photos, with 1 and 2 worker processes.

The folder holds 40 JPEGs made from one generated photo (each flipped or
rotated and saved at its own quality, so no two files are alike). Each run is
a fresh interpreter calling the CLI's ``main`` into an empty output folder;
the time is taken inside it, around ``main`` (imports and the pool's start
included, interpreter start-up not). Runs alternate between worker counts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGES = 40
SIZES = "128x128,512x512,1024x1024"
_TRANSPOSES = (None, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.ROTATE_180)
_RUN = """
import json, resource, sys, tempfile, time
from core.ops.cli import main

def cpu():
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)

with tempfile.TemporaryDirectory() as out:
    started, cpu_started = time.perf_counter(), cpu()
    status = main(["run", sys.argv[1], "--out", out, "--workers", sys.argv[2], "--no-progress", "--sizes", sys.argv[3]])
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
print("@@" + json.dumps({"status": status, "seconds": seconds, "cpu_seconds": cpu_seconds}))
"""


def make_folder(photo: Path, folder: Path, *, count: int = IMAGES) -> Path:
    """``count`` distinct JPEG variants of ``photo`` in ``folder`` (kept between runs)."""
    marker = folder / ".complete"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(photo) as source:
        pixels = source.convert("RGB")
    for index in range(count):
        transpose = _TRANSPOSES[index % len(_TRANSPOSES)]
        variant = pixels if transpose is None else pixels.transpose(transpose)
        variant.save(folder / f"photo-{index:02d}.jpg", "JPEG", quality=80 + index % 12)
    marker.write_text("ok")
    return folder


def _run_once(folder: Path, workers: int) -> tuple[float, float]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("THUMBS_", "POLYTHUMB_"))}}
    env["PYTHONPATH"] = str(ROOT)
    completed = subprocess.run(
        [sys.executable, "-c", _RUN, str(folder), str(workers), SIZES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("@@")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"polythumb run failed: {completed.stderr.strip()[-800:]}")
    result = json.loads(lines[-1][2:])
    if result["status"] != 0:
        raise RuntimeError(f"polythumb run exited {result['status']}: {completed.stderr.strip()[-800:]}")
    return float(result["seconds"]), float(result["cpu_seconds"])


def measure(folder: Path, *, repeats: int) -> dict[str, Any]:
    """Images per second with 1 and 2 workers (medians), their ratio, and the CPU time spent per image.

    CPU seconds per image (all processes) tell a busy machine from poor scaling: if 2 workers spend
    the same CPU per image as 1 but gain less than 2x in wall time, other load held the second core.
    """
    seconds: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    count = sum(1 for path in folder.iterdir() if path.suffix == ".jpg")
    for _ in range(repeats):
        for workers in (1, 2):
            wall, used = _run_once(folder, workers)
            seconds[workers].append(wall)
            cpu[workers].append(used)
    rate = {workers: count / statistics.median(values) for workers, values in seconds.items()}
    return {
        "images": count,
        "sizes": SIZES,
        "seconds": {str(workers): values for workers, values in seconds.items()},
        "images_per_s": {str(workers): value for workers, value in rate.items()},
        "cpu_ms_per_image": {str(workers): statistics.median(values) * 1000 / count for workers, values in cpu.items()},
        # CPU seconds over wall seconds: how many cores the run actually got (2 workers on an idle 2-core
        # machine: close to 2; less when other work holds a core).
        "cores_used": {
            str(workers): statistics.median(
                used / wall for used, wall in zip(cpu[workers], seconds[workers], strict=True)
            )
            for workers in cpu
        },
        "speedup_2_vs_1": rate[2] / rate[1],
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
