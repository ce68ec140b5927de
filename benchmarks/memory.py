"""Peak memory of one case, in a fresh process: ``ru_maxrss`` after the work minus before it.

The probe process imports what the case uses and warms it up on a 64x48
image of the same kind (so code pages, codec tables and thread pools, paid
once per process, are in the baseline), notes its peak RSS, reads the source,
runs the case once and notes the peak again. The difference is what
rendering that input costs, the source bytes included.

Linux hands a child the parent's RSS high-water mark (fork copies the memory
map with its peak, and exec folds that peak into ``ru_maxrss``), so a probe
started straight from this (large) benchmark process would report the
benchmark's peak. A tiny launcher in between starts the probe from a fresh,
small process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def run_fresh(
    probe: list[str], *, timeout: float, check: bool = False, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``probe`` (a command) through a tiny launcher, so its ``ru_maxrss`` is its own, not its parent's peak.

    Args:
        probe: The command.
        timeout: Seconds it may take.
        check: Raise ``CalledProcessError`` when it fails.
        env: Its environment (default: this one); this checkout is put on its ``PYTHONPATH``.
    """
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, *probe],
        cwd=ROOT,
        env={**(os.environ if env is None else env), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def peak_rss_mb(case: str, source: Path, *, kind: str, timeout: float = 300) -> float:
    """MB of peak RSS ``case`` adds on ``source`` (a photo of ``kind``), measured in a fresh process."""
    completed = run_fresh([sys.executable, "-m", "benchmarks.probe", case, str(source), kind], timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"memory probe of {case} failed: {completed.stderr.strip()[-500:]}")
    result = json.loads(completed.stdout)
    return float(result["peak_mb"]) - float(result["baseline_mb"])
