"""The peer, sharp (Node.js + libvips), driven from the benchmark: one long-lived Node process for timing,
a fresh one per memory probe.

sharp comes from the npm registry, pinned in the repository's ``package.json`` / ``package-lock.json``
(``npm ci`` installs it, with its prebuilt ``@img/sharp-linux-x64`` libvips). It runs with
``sharp.concurrency(1)`` and ``UV_THREADPOOL_SIZE=1`` (one thread, as polythumb's cases run), its cache
off. The Node process times each render itself (wall, and CPU of its every thread), from the source bytes
already in its memory to the encoded JPEGs, so the pipe to Python costs nothing in the figures.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.memory import run_fresh
from benchmarks.timing import SelfTimed
from benchmarks.workers import JsonLinesWorker

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "sharp_worker.mjs"
#: The two ways sharp makes several sizes (see sharp_worker.mjs).
MODES = ("firebase", "best")


def _env() -> dict[str, str]:
    return {**os.environ, "UV_THREADPOOL_SIZE": "1"}


def node() -> str | None:
    """The ``node`` executable, or None."""
    return shutil.which("node")


def unavailable_reason() -> str | None:
    """Why sharp cannot run here (no node, or ``npm ci`` not run), or None."""
    executable = node()
    if executable is None:
        return "node is not installed"
    check = subprocess.run(
        [executable, "-e", "require('sharp')"], cwd=ROOT, env=_env(), capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        return f"sharp does not load (run `npm ci` in the repository): {check.stderr.strip().splitlines()[-1:]}"
    return None


class SharpError(RuntimeError):
    """sharp refused or failed on an input."""


class SharpWorker(JsonLinesWorker):
    """A running ``sharp_worker.mjs serve`` process; use as a context manager."""

    def __init__(self) -> None:
        executable = node()
        if executable is None:
            raise RuntimeError("node is not installed")
        super().__init__([executable, str(WORKER), "serve"], cwd=ROOT, env=_env(), name="sharp worker",
                         error_type=SharpError)  # fmt: skip

    def __enter__(self) -> SharpWorker:
        return self

    def versions(self) -> dict[str, Any]:
        """sharp, libvips and Node versions, and the HEIF suffixes sharp's prebuilt libvips decodes."""
        return self.ask({"op": "version"})

    def render(self, source: Path, *, mode: str, sizes: tuple[int, ...], quality: int) -> SelfTimed:
        """Renders ``source`` (read once by the worker) to JPEGs of ``sizes``, the ``mode`` way.

        Raises:
            SharpError: sharp could not render it (e.g. an HEVC HEIC: no decoder in sharp's prebuilt libvips).
        """
        answer = self.ask({"op": "render", "file": str(source), "mode": mode, "sizes": list(sizes),
                            "quality": quality})  # fmt: skip
        outputs = [base64.b64decode(body) for body in answer["outputs"]]
        return SelfTimed(outputs, float(answer["wall_s"]), float(answer["cpu_s"]))


def peak_rss_mb(source: Path, warmup: Path, *, mode: str, sizes: tuple[int, ...], quality: int) -> float:
    """MB of peak RSS one sharp render of ``source`` adds over a warm, idle Node process (fresh process)."""
    executable = node()
    if executable is None:
        raise RuntimeError("node is not installed")
    command = [executable, str(WORKER), "probe", str(source), str(warmup), mode, ",".join(map(str, sizes)),
               str(quality)]  # fmt: skip
    # Through the tiny launcher, as the Python probes: a child of this large process would inherit its
    # RSS high-water mark (see benchmarks.memory) and report no growth at all.
    completed = run_fresh(command, env=_env(), timeout=300)
    if completed.returncode != 0:
        raise SharpError(completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "probe failed")
    result = json.loads(completed.stdout)
    return float(result["peak_mb"]) - float(result["baseline_mb"])
