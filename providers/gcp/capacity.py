"""Google Cloud in the backfill capacity model (:mod:`core.reports.capacity`): its limits and its two rows.

Repository tooling: read by ``python -m core.reports.capacity`` through the registry, never packaged.
Deploy values are those of ``deploy/`` (``available_cpu`` 1, ``max_instance_count`` 10, one request per
instance); ``tests/test_backfill_model.py`` checks them. GCS listings carry metadata: planning needs no HEADs.
"""

from __future__ import annotations

from core.reports.capacity import Scenario, Source, thumbnails

SOURCES = {
    "gcf_max_instances": Source(
        "Cloud Run functions: default maximum of 100 instances; one request per instance unless configured",
        "https://cloud.google.com/functions/docs/configuring/max-instances",
    ),
    "gcs_rates": Source(
        "Cloud Storage: a bucket starts at ~1,000 writes/s and ~5,000 reads/s, then autoscales",
        "https://cloud.google.com/storage/docs/request-rate",
    ),
    "run_ingress": Source(
        "Cloud Run internal ingress: only the project's VPC networks and Google services get in",
        "https://cloud.google.com/run/docs/securing/ingress",
    ),
}

_GCS = 1000 / thumbnails("256x256")  # a bucket's initial write capacity

SCENARIOS = [
    Scenario("gcp", "deploy defaults (10 instances, --workers 16)", 10, 1, 1.0, "256x256", "http", _GCS,
             listing_has_metadata=True, sources=("gcf_max_instances", "gcs_rates", "run_ingress")),
    Scenario("gcp", "platform default (100 instances, --workers 100)", 100, 1, 1.0, "256x256", "http", _GCS,
             listing_has_metadata=True, workers=100, sources=("gcf_max_instances", "gcs_rates", "run_ingress")),
]  # fmt: skip
