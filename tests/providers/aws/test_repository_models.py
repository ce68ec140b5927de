"""What the repository tools read from the AWS deploy files: the lock-in concepts and the backfill model's rows."""

from __future__ import annotations

from core.reports.capacity import scenarios
from core.reports.concepts import provider_concepts
from tests.terraform import ROOT, variable_defaults


def test_concepts() -> None:
    aws = provider_concepts(ROOT, "aws")
    assert {"aws:sqs", "aws.s3", "ObjectCreated"} <= set(aws.event_names)
    assert "aws_iam_role" in aws.iam_resources and "s3:GetObject" in aws.permissions
    assert "THUMBS_DEST_BUCKET" in aws.terraform_settings and aws.settings_variable
    assert aws.instance == {"memory_mb": "2048"}


def test_the_backfill_models_deploy_row_uses_the_deploy_files_numbers() -> None:
    defaults = variable_defaults(ROOT / "providers" / "aws" / "deploy")
    row = next(s for s in scenarios() if s.cloud == "aws" and "deploy" in s.label)
    # Changed by issue 13: the cost guard is max_concurrency (reserved_concurrency is null, unreserved, by default).
    assert row.instances == defaults["max_concurrency"] and row.vcpus == defaults["memory_size"] / 1769
    assert row.sizes == defaults["thumbs_sizes"]
