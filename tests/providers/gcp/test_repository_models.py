"""What the repository tools read from the GCP deploy files: the lock-in concepts and the backfill model's rows."""

from __future__ import annotations

from core.reports.capacity import scenarios
from core.reports.concepts import provider_concepts
from tests.terraform import ROOT, variable_defaults


def test_concepts() -> None:
    gcp = provider_concepts(ROOT, "gcp")
    assert "google.cloud.storage.object.v1.finalized" in gcp.event_names
    assert "roles/storage.objectViewer" in gcp.permissions
    assert "memory" in gcp.instance


def test_the_backfill_models_deploy_row_uses_the_deploy_files_numbers() -> None:
    defaults = variable_defaults(ROOT / "providers" / "gcp" / "deploy")
    row = next(s for s in scenarios() if s.cloud == "gcp" and "deploy" in s.label)
    assert row.instances == defaults["max_instance_count"] and row.vcpus == float(defaults["available_cpu"])
    assert row.sizes == defaults["thumbs_sizes"] and row.per_instance == 1
    assert "max_instance_request_concurrency = 1 " in (ROOT / "providers/gcp/deploy/functions.tf").read_text()
