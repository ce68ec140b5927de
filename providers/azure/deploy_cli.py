"""What ``polythumb deploy azure`` and ``polythumb verify azure`` need to know about this provider's stack.

Event Grid validates its endpoint when the subscription is created, so the code must run before the
subscription exists: apply without it, deploy the zip with the Azure CLI (the command the Terraform
prints), apply again with it.

The app must have no ``AzureWebJobsStorage`` setting: azurerm writes one (a key-based connection string
with an empty key) on every create and update of a Flex Consumption app, the host prefers it over the
identity-based ``AzureWebJobsStorage__*`` settings, and with shared keys off host storage then fails
(``deploy/host_storage.tf`` deletes it after each apply). Deploy and verify check that it is gone,
reading the app settings' names only, never their values.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.ops.deploy import DeployFailed, Target, Terraform
from core.ops.verify import Check, settings_from
from core.ops.verify_serve import ServeFetch, fetch_from
from providers.azure.packaging import DEFAULT_OUT

#: The connection name ``verify`` gives the images account (resolved like the function's own).
VERIFY_CONNECTION = "PolythumbVerify"
#: Azurite's well-known development account (public, the same on every machine).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

#: The app setting the host must not have (its identity-based form is ``AzureWebJobsStorage__*``).
HOST_STORAGE_SETTING = "AzureWebJobsStorage"
#: Zip deployments tried, and seconds between two tries: the first one after a fresh apply can meet role
#: assignments Azure has not applied yet (the apply already waited ``role_propagation_wait``).
PUBLISH_ATTEMPTS, PUBLISH_PAUSE = 3, 60.0


def setting_names_argv(app_id: str) -> list[str]:
    """``az`` listing the names (only) of the app settings of the app ``app_id``."""
    return ["az", "functionapp", "config", "appsettings", "list", "--ids", app_id, "--query", "[].name",
            "--output", "json"]  # fmt: skip


def host_storage_problem(names_json: str, app_id: str) -> str | None:
    """Why the app's settings (the JSON list of their names) break host storage, or None when they do not."""
    names = json.loads(names_json or "[]")
    if not isinstance(names, list):
        raise DeployFailed(f"az listed the app settings as {type(names).__name__}, not a list of names")
    if not any(str(name).casefold() == HOST_STORAGE_SETTING.casefold() for name in names):
        return None
    remove = shlex.join(["az", "functionapp", "config", "appsettings", "delete", "--ids", app_id,
                         "--setting-names", HOST_STORAGE_SETTING])  # fmt: skip
    return (
        f"the function app has an {HOST_STORAGE_SETTING} app setting: the host uses it instead of its "
        f"identity (AzureWebJobsStorage__accountName/__credential) and, shared keys being off, cannot reach its "
        f"storage. deploy/host_storage.tf removes it after each apply; remove it with `{remove}` and see "
        "providers/azure/README.md"
    )


class AzureDeployer:
    """Two applies around the code deployment; the images account is reached with your Entra ID login."""

    package_name = DEFAULT_OUT.name

    def __init__(
        self, *, publish_attempts: int = PUBLISH_ATTEMPTS, publish_pause: float = PUBLISH_PAUSE,
        sleep: Callable[[float], None] = time.sleep, run: Callable[..., Any] = subprocess.run,
    ) -> None:  # fmt: skip
        self.publish_attempts = publish_attempts
        self.publish_pause = publish_pause
        self._sleep = sleep
        self._run = run

    def package_argv(self, output: Path) -> list[str]:
        return ["--out", str(output)]

    def apply(self, terraform: Terraform, *, variables: Sequence[str], plan_only: bool, auto_approve: bool) -> None:
        terraform.init()
        if plan_only:
            terraform("plan", "-input=false", *variables)
            return
        approve = ["-auto-approve"] if auto_approve else []
        terraform("apply", "-input=false", *approve, *variables, "-var=subscribe_events=false")
        outputs = terraform.outputs()
        self._check_host_storage(terraform, outputs["function_app_id"])  # before the zip's health check meets it
        self._publish(terraform, shlex.split(outputs["deploy_command"]))
        terraform("apply", "-input=false", *approve, *variables, "-var=subscribe_events=true")
        self._check_host_storage(terraform, terraform.outputs()["function_app_id"])

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

    def serve_fetch(self, outputs: Mapping[str, Any], *, base_url: str | None = None) -> ServeFetch | None:
        """The app's serve trigger (``serve_url``: ``https://<app>/api/thumbs/``): anonymous, so a plain GET."""
        url = base_url or outputs.get("serve_url")
        return fetch_from(url) if url else None

    def deployment_checks(self, outputs: Mapping[str, Any]) -> list[Check]:
        """No ``AzureWebJobsStorage`` setting on the app, asked of the management plane with your ``az`` login.

        Skipped (and said so) when ``az`` is missing or cannot read the app: the thumbnails still tell.
        """
        name = f"no {HOST_STORAGE_SETTING} app setting"
        app_id = outputs.get("function_app_id")
        if not app_id:
            return [Check(name, True, "skipped: no function_app_id output (apply the current deploy files)")]
        try:
            listed = self._run(setting_names_argv(app_id), check=False, capture_output=True, text=True)
        except FileNotFoundError:
            return [Check(name, True, "skipped: the Azure CLI (az) is not installed")]
        if listed.returncode != 0:
            reason = " ".join((listed.stderr or "").split())[:160]
            return [Check(name, True, f"skipped: az could not list the app settings: {reason}")]
        problem = host_storage_problem(listed.stdout, app_id)
        return [Check(name, problem is None, problem or "host storage uses the app's identity")]

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        """Refused: destroying the stack deletes the images account, originals included, with no question."""
        raise ConfigError(
            "polythumb teardown azure is not offered: `terraform destroy` (or `az group delete --name "
            f"{outputs.get('resource_group', '<resource group>')}`) deletes the images storage account with the "
            "originals in it. Copy what you keep first, then run one of them yourself (providers/azure/README.md, "
            "Tear down)"
        )

    def _check_host_storage(self, terraform: Terraform, app_id: str) -> None:
        problem = host_storage_problem(terraform.capture(setting_names_argv(app_id)), app_id)
        if problem:
            raise DeployFailed(problem)

    def _publish(self, terraform: Terraform, argv: list[str]) -> None:
        """The zip deployment, tried ``publish_attempts`` times ``publish_pause`` apart."""
        for attempt in range(1, self.publish_attempts + 1):
            try:
                terraform.tool(argv)
                return
            except DeployFailed as exc:
                if attempt == self.publish_attempts:
                    raise DeployFailed(
                        f"the code deployment (az functionapp deployment source config-zip) failed {attempt} times, "
                        f"{self.publish_pause:.0f} s apart; its output above says why. Once fixed, run "
                        "`polythumb deploy azure` again"
                    ) from exc
                print(
                    f"polythumb: the code deployment failed (attempt {attempt} of {self.publish_attempts}); new role "
                    f"assignments can take minutes to apply: trying again in {self.publish_pause:.0f} s",
                    file=sys.stderr, flush=True,
                )  # fmt: skip
                self._sleep(self.publish_pause)


DEPLOYER = AzureDeployer()
