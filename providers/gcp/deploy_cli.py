"""What ``polythumb deploy gcp`` and ``polythumb verify gcp`` need to know about this provider's stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.ops.deploy import Target, standard_apply
from core.ops.verify import Check, settings_from
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

    def deployment_checks(self, outputs: Mapping[str, Any]) -> list[Check]:
        """None beyond the thumbnails: the functions' settings are the outputs ``verify`` already reads."""
        return []

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        """Nothing to remove: the originals and thumbnails buckets are not versioned, so ``verify`` leaves them
        as it found them, and Cloud Storage refuses to delete a bucket that holds objects unless it was
        deployed with ``force_destroy = true``. The code and access-log buckets hold only the deployment's own
        files and are emptied by destroy (``force_destroy`` on them).
        """
        return lambda: None


DEPLOYER = GcpDeployer()
