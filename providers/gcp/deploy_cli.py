"""What ``polythumb deploy gcp`` and ``polythumb verify gcp`` need to know about this provider's stack."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.ops.deploy import Target, standard_apply
from core.ops.verify import settings_from
from providers.gcp.packaging import DEFAULT_OUT


class GcpDeployer:
    """One ``terraform apply``; the functions watch whole buckets, so uploads go to the bucket's top."""

    package_name = DEFAULT_OUT.name
    apply = staticmethod(standard_apply)

    def package_argv(self, output: Path) -> list[str]:
        return ["--out", str(output)]

    def target(self, outputs: Mapping[str, Any]) -> Target:
        return Target(
            source_bucket=outputs["source_bucket"],
            dest_bucket=outputs["thumbnail_bucket"],
            settings=settings_from(outputs.get("thumbs_environment") or {}),
        )  # credentials: Application Default Credentials (`gcloud auth application-default login`)

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """google-cloud-storage reads ``STORAGE_EMULATOR_HOST`` and then needs no credentials."""
        return {"STORAGE_EMULATOR_HOST": endpoint}


DEPLOYER = GcpDeployer()
