"""What the repository's reports (:mod:`core.reports`) need to know about Google Cloud.

Repository tooling: read through the registry (the descriptor's ``facts["reporting"]``), never packaged.
Keys: see :mod:`core.reports.facts`.
"""

from __future__ import annotations

from core.reports.concepts import TerraformFacts

FACTS = {
    "matrix_notes": {
        "e2e": (
            '`gcp` are binary-mode CloudEvents POSTed to functions-framework, built from the object resource '
            "fake-gcs-server returns (the first `gcp` case pays the function process's first render, the "
            'Pillow import, which the entrypoints running in the test process have already paid)'
        ),
        "contract": "GCS on fake-gcs-server (`gcp`)",
    },
    "colour": "#4285f4",
    "rigs": ("gcs", "gcp"),
    "sdk_families": (
        "google.cloud",
        "google.api_core",
        "google.auth",
        "google.resumable_media",
        "google_crc32c",
        "functions_framework",
        "cloudevents",
    ),
    "coldstart": {
        "module": "providers.gcp.main",
        "settings": {
            "THUMBS_DEST_BUCKET": "coldstart-thumbs",
            "GOOGLE_CLOUD_PROJECT": "coldstart",
            "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
        },
        "clean_env": ("GOOGLE_", "STORAGE_EMULATOR"),
    },
    "migration": {
        "old": "gs://OLD-ORIGINALS",
        "new": "gs://NEW-ORIGINALS",
        "download": "gcloud storage rsync --recursive {src} ./photos",
        "copy_in": {
            "azure": "gcloud transfer jobs create {src} {dst} --source-creds-file=azure-sas.json"
            "   # Storage Transfer Service",
            "*": "gcloud storage rsync --recursive {src} {dst}",
        },
    },
}


#: What the lock-in report reads from the Terraform (:mod:`core.reports.concepts`).
TERRAFORM = TerraformFacts(
    permission_pattern=r'"(roles/[A-Za-z.]+)"',
    instance_variables={"memory": "available_memory", "cpu": "available_cpu"},
)
