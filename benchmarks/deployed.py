"""The package as deployed: each cloud's x86_64 build, unpacked into a clean directory with only what its
runtime provides, timed rendering the same inputs and cold-started.

* **aws**: ``polythumb package aws --arch x86_64 --python <this Python>`` unpacked, plus boto3 (the Lambda
  runtime ships it) in a directory of its own;
* **gcp**: ``polythumb package gcp`` unpacked, its ``requirements.txt`` installed with ``pip install
  --target`` (what the Cloud Functions build does);
* **azure**: ``polythumb package azure`` unpacked, its ``requirements.txt`` installed the same way (what
  the remote build does).

Each runs in ``python -S`` with ``PYTHONPATH`` = those directories only: no site-packages, no repository.
Wheels and requirements come from the package index through pip (its cache makes later runs offline);
the directories are kept under the cache and rebuilt when the package changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.imports import PROVIDERS
from benchmarks.timing import SelfTimed
from benchmarks.workers import JsonLinesWorker

WORKER = Path(__file__).resolve().parent / "deployed_worker.py"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
ROOT = Path(__file__).resolve().parent.parent
#: The worker that runs this venv as a package runs (the package-gap control); its cases are ``venvworker_*``.
DEV_VENV = "venv"


def case_name(cloud: str, label: str) -> str:
    """The results' case of a worker's render: ``awspkg_x3``, or ``venvworker_x3`` for the venv control."""
    return f"venvworker_{label}" if cloud == DEV_VENV else f"{cloud}pkg_{label}"


def dev_venv() -> Deployed:
    """This venv as if it were a package: the repository and this interpreter's site-packages on PYTHONPATH,
    run by the same worker under ``python -S``, with the AWS entry module and settings."""
    import sysconfig

    provider = next(p for p in PROVIDERS if p.name == "aws")
    site = tuple(dict.fromkeys(Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")))
    return Deployed(DEV_VENV, "providers.aws.handler", (ROOT, *site), env=dict(provider.env), host=provider.host)


@dataclass(frozen=True)
class Deployed:
    """One cloud's package unpacked: the directories on its path, its entry module and environment."""

    cloud: str
    entry: str
    path: tuple[Path, ...]
    env: dict[str, str] = field(default_factory=dict)
    host: tuple[str, ...] = ()
    zipped_bytes: int = 0
    unzipped_bytes: int = 0

    def environ(self) -> dict[str, str]:
        """The process environment: the cloud's settings, PYTHONPATH = the package only."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("THUMBS_", "AWS_", "POLYTHUMB_", "PYTHON"))}
        return {**base, "THUMBS_DEST_BUCKET": "bench-thumbs", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": os.pathsep.join(map(str, self.path)), **self.env}  # fmt: skip


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"], check=True)


def _unpack(archive: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(target)


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _installed(requirements: bytes, cache: Path, name: str) -> Path:
    """``pip install --target`` of ``requirements`` into a directory named by their digest (kept)."""
    target = cache / f"{name}-{hashlib.sha256(requirements).hexdigest()[:16]}"
    if not (target / ".complete").exists():
        if target.exists():
            shutil.rmtree(target)
        listing = cache / f"{target.name}.txt"
        listing.write_bytes(requirements)
        _pip("install", "--target", str(target), "-r", str(listing))  # compiled, as a runtime's own packages are
        (target / ".complete").write_text("")
    return target


def build(cloud: str, cache: Path) -> Deployed:
    """Builds ``cloud``'s package for x86_64 and this Python, unpacks it with its runtime's dependencies."""
    cache = cache.resolve()  # the worker runs in the package directory: its PYTHONPATH must not be relative
    cache.mkdir(parents=True, exist_ok=True)
    provider = next(p for p in PROVIDERS if p.name == cloud)
    if cloud == "aws":
        from providers.aws import packaging as aws

        archive = cache / f"aws-x86_64-py{PYTHON}.zip"
        wheelhouse = cache / f"wheels-x86_64-py{PYTHON}"
        requirements = aws.native_requirements()
        if not wheelhouse.exists() or not any(wheelhouse.iterdir()):
            aws.download_wheels(wheelhouse, arch="x86_64", python_version=PYTHON, requirements=requirements)
        aws.build_zip(archive, arch="x86_64", python_version=PYTHON, wheelhouse=wheelhouse, requirements=requirements)
        runtime = _installed(b"boto3\n", cache, "lambda-runtime-boto3")  # what the Lambda runtime provides
        path_tail: tuple[Path, ...] = (runtime,)
        entry = "providers.aws.handler"
    elif cloud == "gcp":
        from providers.gcp import packaging as gcp

        archive = gcp.build_archive(cache / "gcp.zip", python=PYTHON)
        path_tail = (_installed(zipfile.ZipFile(archive).read("requirements.txt"), cache, "gcp-requirements"),)
        entry = "main"
    else:
        from providers.azure import packaging as azure

        archive = cache / "azure.zip"
        azure.build_zip(archive)
        path_tail = (_installed(zipfile.ZipFile(archive).read("requirements.txt"), cache, "azure-requirements"),)
        entry = "function_app"
    unpacked = cache / f"{cloud}-{_digest(archive)}"
    if not unpacked.exists():
        _unpack(archive, unpacked)
    with zipfile.ZipFile(archive) as opened:
        unzipped = sum(info.file_size for info in opened.infolist())
    return Deployed(cloud, entry, (unpacked, *path_tail), env=dict(provider.env), host=provider.host,
                    zipped_bytes=archive.stat().st_size, unzipped_bytes=unzipped)  # fmt: skip


class DeployedWorker(JsonLinesWorker):
    """A ``deployed_worker.py serve`` process inside one unpacked package; a context manager."""

    def __init__(self, deployed: Deployed) -> None:
        super().__init__([sys.executable, "-S", str(WORKER), "serve", deployed.entry], cwd=deployed.path[0],
                         env=deployed.environ(), name=f"{deployed.cloud} package", error_type=RuntimeError)  # fmt: skip
        self.deployed = deployed
        self.engines: dict[str, str] = {}

    def __enter__(self) -> DeployedWorker:
        return self

    def render(self, source: Path, *, sizes: tuple[int, ...], quality: int) -> SelfTimed:
        """Renders ``source`` in the packaged process; records the engine it picked.

        Raises:
            RuntimeError: The packaged process failed on it, or ended.
        """
        # Absolute: the worker runs in the package's directory, not this one.
        answer = self.ask({"file": str(source.resolve()), "sizes": list(sizes), "quality": quality})
        self.engines[str(source)] = answer["engine"]
        return SelfTimed([base64.b64decode(b) for b in answer["outputs"]], answer["wall_s"], answer["cpu_s"])


def _run_json(deployed: Deployed, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-S", str(WORKER), *args]
    completed = subprocess.run(
        command, cwd=deployed.path[0], env=deployed.environ(), capture_output=True, text=True, check=False, timeout=120
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{deployed.cloud} package: {completed.stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def coldstart(deployed: Deployed, *, repeats: int) -> dict[str, Any]:
    """Median import of the entry module from the package vs the floor (Pillow + SDK + one client) there.

    Fresh interpreters, alternating, so background load hits both alike.
    """
    provider = next(p for p in PROVIDERS if p.name == deployed.cloud)
    entries, floors = [], []
    for _ in range(repeats):
        entries.append(_run_json(deployed, "coldstart", deployed.entry, *deployed.host))
        floors.append(_run_json(deployed, "floor", ",".join(deployed.host) + "\n--\n" + provider.floor)["floor_ms"])
    entry_ms = statistics.median(item["entry_ms"] for item in entries)
    floor_ms = statistics.median(floors)
    last = entries[-1]
    return {
        "provider": deployed.cloud,
        "entrypoint": deployed.entry,
        "entry_ms": entry_ms,
        "floor_ms": floor_ms,
        "over_floor_ms": entry_ms - floor_ms,
        "loaded_at_import": last["loaded_at_import"],
        "vips": last["vips"],
        "vips_first_use_ms": statistics.median(item["vips_first_use_ms"] for item in entries),
        "heif": last["heif"],
        "heif_first_use_ms": statistics.median(item["heif_first_use_ms"] for item in entries),
        "pyvips_from_package": any(str(path) in str(last["pyvips_file"]) for path in deployed.path),
        "zipped_mb": deployed.zipped_bytes / 1e6,
        "unzipped_mb": deployed.unzipped_bytes / 1e6,
    }
