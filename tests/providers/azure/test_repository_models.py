"""What the repository tools read from the Azure deploy files: the lock-in concepts and the backfill model's rows."""

from __future__ import annotations

import json

from core.reports.capacity import scenarios
from core.reports.concepts import provider_concepts
from tests.terraform import ROOT, variable_defaults


def test_concepts() -> None:
    azure = provider_concepts(ROOT, "azure")
    assert "Microsoft.Storage.BlobCreated" in azure.event_names
    assert "Storage Blob Data Reader" in azure.permissions
    assert {"THUMBS_SOURCE_CONTAINER", "THUMBS_STORAGE_CONNECTION"} <= set(azure.provider_only_settings)


def test_the_backfill_models_deploy_row_uses_the_deploy_files_numbers() -> None:
    defaults = variable_defaults(ROOT / "providers" / "azure" / "deploy")
    row = next(s for s in scenarios() if s.cloud == "azure" and "deploy" in s.label)
    assert row.instances == defaults["maximum_instance_count"] and defaults["instance_memory_mb"] == 2048
    assert row.vcpus == 1.0 and row.sizes == defaults["thumbs_sizes"]
    queues = json.loads((ROOT / "providers/azure/host.json").read_text())["extensions"]["queues"]
    assert row.per_instance == queues["batchSize"] + queues["newBatchThreshold"]
