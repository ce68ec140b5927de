"""Cold-start cost of each entrypoint: import time in a fresh interpreter, and which SDK modules it loads.

Each probe is a new ``python`` process that imports the entrypoint module exactly as the platform
does at cold start (with the settings it needs, which each provider declares in its reporting facts, so
that its handler and storage client are built at import as on the platform), then reports the seconds the
import took, the modules it added, and the peak RSS. Nothing reaches a network: clients are built, not used.
The median of ``repeat`` probes is reported; a second figure is the first render after that (Pillow
is imported on first use, so the first invocation pays it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.reports.facts import clouds, reporting

#: The local entrypoint's module; each provider's comes from its reporting facts (:mod:`core.reports.facts`).
LOCAL = "local"
LOCAL_MODULE = "core.ops.runner"

#: SDK families every entrypoint may load, besides its own cloud's: family -> module prefixes.
SHARED_FAMILIES: Mapping[str, tuple[str, ...]] = {
    "Pillow": ("PIL",),
    "web framework": ("flask", "werkzeug", "gunicorn"),
}


def entrypoint_module(entrypoint: str) -> str:
    """The module the platform imports for ``entrypoint`` (``local`` or a provider's name)."""
    return LOCAL_MODULE if entrypoint == LOCAL else str(reporting(entrypoint)["coldstart"]["module"])


def families() -> dict[str, tuple[str, ...]]:
    """SDK family -> the module prefixes that belong to it: one family per provider, then the shared ones."""
    found = {cloud: tuple(reporting(cloud).get("sdk_families", ())) for cloud in clouds()}
    return {**found, **SHARED_FAMILIES}


_PROBE = """
import importlib, json, sys, time
before = set(sys.modules)
started = time.perf_counter()
importlib.import_module(sys.argv[1])
seconds = time.perf_counter() - started
modules = sorted(set(sys.modules) - before)
started = time.perf_counter()
import io
from PIL import Image
from core.imaging import render_thumbnails
from core.imaging.types import Box, Fit
buffer = io.BytesIO()
Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG")
render_thumbnails(buffer.getvalue(), boxes=[Box(32, 32)], fit=Fit.CONTAIN, format="jpeg", quality=None,
                  strip_metadata=True, max_pixels=10_000)
imaging = time.perf_counter() - started
try:
    import resource
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
except ImportError:
    rss_kb = None
print(json.dumps({"seconds": seconds, "imaging_seconds": imaging, "modules": modules, "rss_kb": rss_kb}))
"""


@dataclass(frozen=True)
class ColdStart:
    """The cold start of one entrypoint."""

    entrypoint: str
    module: str
    samples: list[float] = field(default_factory=list)
    imaging_samples: list[float] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    rss_mb: float | None = None
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples) * 1000 if self.samples else None

    @property
    def imaging_ms(self) -> float | None:
        return statistics.median(self.imaging_samples) * 1000 if self.imaging_samples else None

    @property
    def families(self) -> dict[str, int]:
        """SDK family -> how many of its modules the import loaded."""
        return {name: n for name, prefixes in families().items() if (n := _count(self.modules, prefixes))}

    @property
    def foreign(self) -> list[str]:
        """Other clouds' SDK families this entrypoint loaded (must be empty)."""
        return [cloud for cloud in clouds() if cloud != self.entrypoint and cloud in self.families]


def _count(modules: Sequence[str], prefixes: Sequence[str]) -> int:
    return sum(any(m == p or m.startswith(p + ".") for p in prefixes) for m in modules)


def _environment(root: Path, settings: Mapping[str, str]) -> dict[str, str]:
    # A clean slate: no THUMBS_*/cloud settings of the caller may change what the import does.
    cloud_prefixes = [
        prefix for cloud in clouds() for prefix in reporting(cloud).get("coldstart", {}).get("clean_env", ())
    ]
    drop = ("THUMBS_", "THUMBNAIL_", *cloud_prefixes)
    env = {name: value for name, value in os.environ.items() if not name.startswith(drop)}
    env["PYTHONPATH"] = str(root)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(settings)
    return env


def measure(root: Path, entrypoint: str, *, repeat: int = 5, python: str = sys.executable) -> ColdStart:
    """Probe ``entrypoint`` ``repeat`` times in fresh interpreters."""
    module = entrypoint_module(entrypoint)
    settings = {} if entrypoint == LOCAL else dict(reporting(entrypoint)["coldstart"]["settings"])
    samples, imaging, modules, rss = [], [], [], None
    for _ in range(repeat):
        process = subprocess.run(
            [python, "-c", _PROBE, module],
            cwd=root,
            env=_environment(root, settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if process.returncode != 0:
            last = (process.stderr.strip().splitlines() or ["no output"])[-1]
            return ColdStart(entrypoint, module, error=last[:300])
        report = json.loads(process.stdout.strip().splitlines()[-1])
        samples.append(float(report["seconds"]))
        imaging.append(float(report["imaging_seconds"]))
        modules = report["modules"]
        if report.get("rss_kb"):
            rss = max(rss or 0.0, report["rss_kb"] / 1024)
    return ColdStart(entrypoint, module, samples, imaging, modules, rss)


def measure_all(root: Path, entrypoints: Sequence[str], *, repeat: int = 5) -> list[ColdStart]:
    """Probe each of ``entrypoints``."""
    return [measure(root, name, repeat=repeat) for name in entrypoints]
