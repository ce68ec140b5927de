"""What ``polythumb deploy aws`` and ``polythumb verify aws`` need to know about this provider's stack."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.ops.deploy import Target, standard_apply
from core.ops.verify import Check, settings_from
from providers.aws.packaging import default_output


class AwsDeployer:
    """One ``terraform apply``; outputs name the buckets, the prefix and the function's settings."""

    #: The zip the Terraform's defaults (arm64, Python 3.12) expect; other builds go through ``--package``.
    package_name = default_output("arm64", "3.12").name
    apply = staticmethod(standard_apply)

    def package_argv(self, output: Path) -> list[str]:
        return ["--output", str(output)]

    def target(self, outputs: Mapping[str, Any]) -> Target:
        region = outputs.get("region")
        return Target(
            source_bucket=outputs["source_bucket"],
            dest_bucket=outputs["thumbnail_bucket"],
            prefix=outputs.get("source_prefix") or "",
            settings=settings_from(outputs.get("thumbs_environment") or {}),
            environment={"AWS_DEFAULT_REGION": region} if region else {},
        )

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """boto3 honours ``AWS_ENDPOINT_URL`` itself; an emulator takes any credentials, so dummies if none."""
        environment = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            environment |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        return environment

    def deployment_checks(self, outputs: Mapping[str, Any]) -> list[Check]:
        """None beyond the thumbnails: the function's settings are the outputs ``verify`` already reads."""
        return []

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        """Emptying both versioned buckets of polythumb's versions, after asking about anything else."""
        from providers.aws.storage import make_client
        from providers.aws.teardown import empty_for_destroy

        return empty_for_destroy(
            make_client(region_name=outputs.get("region")),
            source_bucket=outputs["source_bucket"],
            source_prefix=outputs.get("source_prefix") or "",
            thumbnail_bucket=outputs["thumbnail_bucket"],
            confirm=confirm,
        )


DEPLOYER = AwsDeployer()
