"""Helpers shared by the kill-and-resume backfill tests of every provider."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path


def wait_for_progress(process: subprocess.Popen[str], checkpoint: Path, *, at_least: int) -> None:
    """Return once ``checkpoint`` records ``at_least`` completed items, while ``process`` still runs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the backfill ended before it could be interrupted"
        try:
            if json.loads(checkpoint.read_text()).get("done", 0) >= at_least:
                return
        except (FileNotFoundError, ValueError):
            pass  # not written yet, or caught between its temporary file and the rename
        time.sleep(0.01)
    raise AssertionError("no checkpoint progress within 60 s")
