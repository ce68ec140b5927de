"""What ``polythumb deploy azure`` and ``polythumb verify azure`` need to know about this provider's stack.

Event Grid validates its endpoint when the subscription is created, so the code must run before the
subscription exists: apply without it, deploy the zip with the Azure CLI (the command the Terraform
prints), apply again with it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.ops.deploy import Target, Terraform
from core.ops.verify import settings_from
from providers.azure.packaging import DEFAULT_OUT

#: The connection name ``verify`` gives the images account (resolved like the function's own).
VERIFY_CONNECTION = "PolythumbVerify"
#: Azurite's well-known development account (public, the same on every machine).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzureDeployer:
    """Two applies around the code deployment; the images account is reached with your Entra ID login."""

    package_name = DEFAULT_OUT.name

    def package_argv(self, output: Path) -> list[str]:
        return ["--out", str(output)]

    def apply(self, terraform: Terraform, *, variables: Sequence[str], plan_only: bool, auto_approve: bool) -> None:
        terraform("init", "-input=false")
        if plan_only:
            terraform("plan", "-input=false", *variables)
            return
        approve = ["-auto-approve"] if auto_approve else []
        terraform("apply", "-input=false", *approve, *variables, "-var=subscribe_events=false")
        terraform.tool(shlex.split(terraform.outputs()["deploy_command"]))
        terraform("apply", "-input=false", *approve, *variables, "-var=subscribe_events=true")

    def target(self, outputs: Mapping[str, Any]) -> Target:
        return Target(
            source_bucket=outputs["source_container"],
            dest_bucket=outputs["dest_container"],
            settings=settings_from(outputs.get("thumbs_environment") or {}),
            environment={
                "THUMBS_STORAGE_CONNECTION": VERIFY_CONNECTION,
                f"{VERIFY_CONNECTION}__blobServiceUri": outputs["blob_endpoint"],  # DefaultAzureCredential: az login
            },
        )

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """A connection string for Azurite's blob endpoint (``http://127.0.0.1:10000/devstoreaccount1``)."""
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={endpoint.rstrip('/')};"
        )
        return {"THUMBS_STORAGE_CONNECTION": VERIFY_CONNECTION, VERIFY_CONNECTION: connection}


DEPLOYER = AzureDeployer()
