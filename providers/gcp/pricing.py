"""Google Cloud in the lock-in report's cost estimate (:mod:`core.reports.costs`): billed size and the lines.

Repository tooling: read through the registry (``facts["pricing"]``), never packaged. Prices are in
``core/reports/prices.json`` under ``gcp``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.errors import ConfigError
from core.reports.costs import GIB, Deployment, Line, Month, Price

#: The Cloud Logging filter of the lines ``polythumb cost gcp --from-cloud`` reads: the event lines.
LOG_FILTER = 'resource.type="cloud_run_revision" AND jsonPayload.duration_ms:*'


def deployment(instance: Mapping[str, str]) -> Deployment:
    """Cloud Run functions, from the Terraform's ``available_memory`` and ``available_cpu``: billed per 100 ms."""
    return Deployment(
        memory_gb=_gib(instance.get("memory", "1Gi")), cpu=_cpu(instance.get("cpu", "1")), granularity_ms=100
    )


def _gib(text: str) -> float:
    units = {"Ki": 1 / 2**20, "Mi": 1 / 1024, "Gi": 1.0, "M": 1e6 / GIB, "G": 1e9 / GIB}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text) / GIB  # bytes


def _cpu(text: str) -> float:
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def estimate(month: Month, prices: Mapping[str, Price]) -> list[Line]:
    """Cloud Run functions (Eventarc trigger) + Cloud Storage + Pub/Sub transport."""
    n, k, billed = month.images, month.thumbnails, month.billed_s
    pubsub_bytes = 2 * max(1000, month.assumptions.pubsub_bytes_per_message)  # publish + push, 1000 B minimum each
    return [
        Line("Cloud Run functions CPU", n * billed * (month.deployment.cpu or 1.0), prices["run_vcpu_second"]),
        Line("Cloud Run functions memory", n * billed * month.deployment.memory_gb, prices["run_gib_second"]),
        Line("Cloud Run functions invocations", n, prices["run_requests"]),
        Line("GCS class B (metadata + media GET, one metadata GET per output)", n * (k + 2), prices["gcs_class_b"]),
        Line("GCS class A (one insert per thumbnail)", n * k, prices["gcs_class_a"]),
        Line("GCS storage of the month's thumbnails", month.thumbnail_gb, prices["gcs_storage_gb_month"]),
        Line("Eventarc events (Google source)", n, prices["eventarc_events"]),
        Line("Pub/Sub transport (publish + push)", n * pubsub_bytes / 2**40, prices["pubsub_tib"]),
    ]


def log_lines(outputs: Mapping[str, Any], *, hours: float, run: Callable[..., Any] = subprocess.run) -> Iterator[str]:
    """The functions' event lines of the last ``hours`` from their log bucket, through ``gcloud logging read``.

    Raises:
        ConfigError: the outputs name no log bucket, or gcloud fails (its message is shown).
    """
    inputs = outputs.get("cost_inputs") or {}
    bucket = inputs.get("log_bucket") or outputs.get("log_bucket")
    if not bucket or not inputs.get("project"):
        raise ConfigError(
            "the Terraform outputs lack cost_inputs (project, log bucket): apply the current deploy files"
        )
    freshness = f"--freshness={max(1, round(hours))}h"
    argv = ["gcloud", "logging", "read", LOG_FILTER, f"--project={inputs['project']}", f"--bucket={bucket}",
            "--location=global", "--view=_AllLogs", freshness, "--format=json"]  # fmt: skip
    try:
        done = run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ConfigError("gcloud is not installed or not on PATH") from exc
    if done.returncode != 0:
        raise ConfigError(f"gcloud logging read failed: {(done.stderr or '').strip()[:300]}")
    for entry in json.loads(done.stdout or "[]"):
        yield json.dumps(entry)  # a Cloud Logging entry: the event line is its jsonPayload
