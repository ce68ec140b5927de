"""Cold start: what importing each provider's entrypoint costs, against the floor any such function pays.

Each measurement runs in a fresh interpreter. The platform's own host modules
(functions-framework on GCP, azure.functions in the Azure worker) are
imported first and not counted: the platform has them loaded before it
imports our module. Then we time:

* **entrypoint**: ``import providers.<cloud>.<module>`` with the environment a
  deployment has (the module validates its configuration at import; the AWS
  one also creates its S3 client there, as a Lambda init does);
* **floor**: ``import PIL.Image`` + the storage SDK + creating one client: what
  any thumbnail function on that cloud must load.

A separate ``-X importtime`` run lists the heaviest packages the entrypoint
loads, and the modules it leaves in ``sys.modules`` show whether another
provider's SDK (or Pillow, or pyvips) came along.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_HOST_MARK = "@@host-loaded"
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)")


@dataclass(frozen=True)
class Provider:
    """How to cold-start one provider's entrypoint, and what its floor is."""

    name: str
    entrypoint: str
    host: tuple[str, ...]
    sdk: str
    floor: str
    env: dict[str, str] = field(default_factory=dict)
    #: Module prefixes of this provider's SDKs (none of them may appear in another provider's process).
    sdk_modules: tuple[str, ...] = ()


PROVIDERS = (
    Provider(
        "aws",
        "providers.aws.handler",
        host=(),
        sdk="boto3",
        floor=("import PIL.Image\nimport boto3\nboto3.session.Session().client('s3', region_name='us-east-1')"),
        # AWS_LAMBDA_FUNCTION_NAME makes the module build its runtime and S3 client at import, as in Lambda.
        env={
            "AWS_LAMBDA_FUNCTION_NAME": "polythumb-bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        sdk_modules=("boto3", "botocore", "s3transfer"),
    ),
    Provider(
        "gcp",
        "providers.gcp.main",
        host=("functions_framework",),
        sdk="google.cloud.storage",
        floor=(
            "import PIL.Image\nfrom google.auth.credentials import AnonymousCredentials\n"
            "from google.cloud import storage\nstorage.Client(project='bench', credentials=AnonymousCredentials())"
        ),
        env={"GOOGLE_CLOUD_PROJECT": "bench"},
        sdk_modules=("google.cloud.storage", "google.api_core", "functions_framework"),
    ),
    Provider(
        "azure",
        "providers.azure.function_app",
        host=("azure.functions",),
        sdk="azure.storage.blob",
        floor=(
            "import PIL.Image\nfrom azure.storage.blob import BlobServiceClient\n"
            "BlobServiceClient.from_connection_string('UseDevelopmentStorage=true')"
        ),
        env={"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        sdk_modules=("azure.storage", "azure.functions", "azure.core", "azure.identity"),
    ),
)

_MEASURE = """
import importlib, json, sys, time
for name in {host!r}:
    importlib.import_module(name)
sys.stderr.write({mark!r} + "\\n")
before = set(sys.modules)
started = time.perf_counter()
{body}
elapsed = (time.perf_counter() - started) * 1000
print(json.dumps({{"ms": elapsed, "modules": sorted(set(sys.modules) - before), "all": sorted(sys.modules)}}))
"""


def _run(provider: Provider, body: str, *, importtime: bool = False) -> tuple[dict[str, Any], str]:
    code = _MEASURE.format(host=provider.host, mark=_HOST_MARK, body=body)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("THUMBS_", "AWS_", "POLYTHUMB_"))},
        "THUMBS_DEST_BUCKET": "bench-thumbs",
        "PYTHONPATH": str(ROOT),
        **provider.env,
    }
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(f"{provider.name}: {completed.stderr.strip()[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1]), completed.stderr


def installed(provider: Provider) -> bool:
    """Whether the provider's host and storage SDK are installed here."""
    for module in (*provider.host, provider.sdk):
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except ModuleNotFoundError:  # a parent package is missing
            return False
    return True


def heavy_packages(stderr: str, *, top: int) -> list[tuple[str, float]]:
    """Top-level packages by self import time (ms), from ``-X importtime`` output after the host mark."""
    after = stderr.split(_HOST_MARK, 1)[-1]
    totals: dict[str, float] = defaultdict(float)
    for line in after.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            totals[match.group(4).split(".")[0]] += int(match.group(1)) / 1000
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]


def measure(provider: Provider, *, repeats: int) -> dict[str, Any]:
    """Median entrypoint and floor import times, heavy packages and foreign SDKs of one provider."""
    entry_ms, floor_ms = [], []
    last: dict[str, Any] = {}
    for _ in range(repeats):  # alternate, so background load hits both alike
        last, _ = _run(provider, f"import {provider.entrypoint}")
        entry_ms.append(last["ms"])
        floor_ms.append(_run(provider, provider.floor)[0]["ms"])
    _, stderr = _run(provider, f"import {provider.entrypoint}", importtime=True)
    loaded = set(last["all"])
    foreign = sorted(
        module
        for other in PROVIDERS
        if other.name != provider.name
        for module in loaded
        for prefix in other.sdk_modules
        if module == prefix or module.startswith(prefix + ".")
    )
    entry, floor = statistics.median(entry_ms), statistics.median(floor_ms)
    return {
        "provider": provider.name,
        "entrypoint": provider.entrypoint,
        "host_preloaded": list(provider.host),
        "entry_ms": entry,
        "floor_ms": floor,
        "over_floor_ms": entry - floor,
        "entry_runs_ms": entry_ms,
        "floor_runs_ms": floor_ms,
        "heavy": [{"package": name, "self_ms": ms} for name, ms in heavy_packages(stderr, top=8)],
        "imports_pillow": "PIL" in loaded,
        "imports_pyvips": "pyvips" in loaded,
        "foreign_sdk_modules": sorted({module.split(".")[0] + "." + module.split(".")[1] if "." in module else module
                                       for module in foreign}),
    }  # fmt: skip
