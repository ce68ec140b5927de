"""What the repository's reports (:mod:`core.reports`) need to know about Azure.

Repository tooling: read through the registry (the descriptor's ``facts["reporting"]``), never packaged.
Keys: see :mod:`core.reports.facts`.
"""

from __future__ import annotations

from core.reports.concepts import TerraformFacts

FACTS = {
    "matrix_notes": {
        "e2e": (
            "`azure` are EventGridEvents built from the blob's real properties on Azurite, decoded by the "
            "Functions worker's converter (no emulator exists for Event Grid)"
        ),
        "contract": "Blob Storage on Azurite (`azure`)",
    },
    "colour": "#0078d4",
    "rigs": ("azure",),
    "sdk_families": ("azure",),
    "coldstart": {
        "module": "providers.azure.function_app",
        "settings": {
            "THUMBS_DEST_BUCKET": "thumbs",
            "THUMBS_SOURCE_CONTAINER": "images",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        },
        "clean_env": ("AZURE", "AzureWebJobs"),
    },
    "migration": {
        "old": "https://OLDACCOUNT.blob.core.windows.net/originals",
        "new": "https://NEWACCOUNT.blob.core.windows.net/originals",
        "download": "azcopy sync '{src}' ./photos --recursive",
        "copy_in": {
            "local": "azcopy sync {src} '{dst}' --recursive",
            "aws": "azcopy copy 'https://s3.amazonaws.com/OLD-ORIGINALS' '{dst}' --recursive   # AWS_ACCESS_KEY_ID set",
            "gcp": "azcopy copy 'https://storage.cloud.google.com/OLD-ORIGINALS' '{dst}' --recursive"
            "   # GOOGLE_APPLICATION_CREDENTIALS set",
        },
        "backfill": "polythumb backfill originals --out thumbnails --target azure",
    },
}


#: What the lock-in report reads from the Terraform (:mod:`core.reports.concepts`).
TERRAFORM = TerraformFacts(
    permission_pattern=r'role_definition_name\s*=\s*"([^"]+)"',
    instance_variables={"memory_mb": "instance_memory_mb"},
)
