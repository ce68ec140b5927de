"""Cold-start cost of each entrypoint: import time in a fresh interpreter, and which SDK modules it loads.

Each probe is a new ``python`` process that imports the entrypoint module exactly as the platform
does at cold start (with the settings it needs, and, for AWS, ``AWS_LAMBDA_FUNCTION_NAME`` set so the
handler and its S3 client are built at import as in Lambda), then reports the seconds the import took,
the modules it added, and the peak RSS. Nothing reaches a network: clients are built, not used.
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

#: entrypoint -> (module the platform imports, the settings its cold start needs)
ENTRYPOINTS: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "local": ("core.local", {}),
    "aws": (
        "providers.aws.handler",
        {
            "AWS_LAMBDA_FUNCTION_NAME": "polythumb-coldstart",
            "THUMBS_DEST_BUCKET": "coldstart-thumbs",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "coldstart",
            "AWS_SECRET_ACCESS_KEY": "coldstart",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    ),
    "gcp": (
        "providers.gcp.main",
        {
            "THUMBS_DEST_BUCKET": "coldstart-thumbs",
            "GOOGLE_CLOUD_PROJECT": "coldstart",
            "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
        },
    ),
    "azure": (
        "providers.azure.function_app",
        {
            "THUMBS_DEST_BUCKET": "thumbs",
            "THUMBS_SOURCE_CONTAINER": "images",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        },
    ),
}

#: SDK family -> top-level module names (dotted prefixes) that belong to it.
FAMILIES: Mapping[str, tuple[str, ...]] = {
    "aws": ("boto3", "botocore", "s3transfer"),
    "gcp": (
        "google.cloud",
        "google.api_core",
        "google.auth",
        "google.resumable_media",
        "google_crc32c",
        "functions_framework",
        "cloudevents",
    ),
    "azure": ("azure",),
    "Pillow": ("PIL",),
    "web framework": ("flask", "werkzeug", "gunicorn"),
}

#: Which SDK family each cloud entrypoint may load (its own); any other cloud's is an isolation failure.
CLOUDS = ("aws", "gcp", "azure")

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
        return {name: n for name, prefixes in FAMILIES.items() if (n := _count(self.modules, prefixes))}

    @property
    def foreign(self) -> list[str]:
        """Other clouds' SDK families this entrypoint loaded (must be empty)."""
        return [cloud for cloud in CLOUDS if cloud != self.entrypoint and cloud in self.families]


def _count(modules: Sequence[str], prefixes: Sequence[str]) -> int:
    return sum(any(m == p or m.startswith(p + ".") for p in prefixes) for m in modules)


def _environment(root: Path, settings: Mapping[str, str]) -> dict[str, str]:
    # A clean slate: no THUMBS_*/cloud settings of the caller may change what the import does.
    drop = ("THUMBS_", "THUMBNAIL_", "AWS_", "AZURE", "AzureWebJobs", "GOOGLE_", "STORAGE_EMULATOR")
    env = {name: value for name, value in os.environ.items() if not name.startswith(drop)}
    env["PYTHONPATH"] = str(root)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(settings)
    return env


def measure(root: Path, entrypoint: str, *, repeat: int = 5, python: str = sys.executable) -> ColdStart:
    """Probe ``entrypoint`` ``repeat`` times in fresh interpreters."""
    module, settings = ENTRYPOINTS[entrypoint]
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
