"""``polythumb deploy azure``: the two applies around the code deployment, in that order, and the verify target.

And issue 21: the app must have no ``AzureWebJobsStorage`` setting (azurerm writes a key-based one with an
empty key that the host prefers over its identity), so deploy checks after each apply and stops before the
zip deployment meets it; the zip deployment is retried, within bounds, while new role assignments apply.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.ops.deploy import DeployFailed, Terraform
from providers.azure.deploy_cli import DEPLOYER, HOST_STORAGE_SETTING, VERIFY_CONNECTION, AzureDeployer

APP_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app"
ZIP = "az functionapp deployment source config-zip --subscription s --resource-group rg --name app --src /x/p.zip"
IDENTITY_SETTINGS = ["AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "THUMBS_SIZES"]


class Recorder:
    """Stands in for subprocess.run: records each command, answers ``terraform output -json`` and ``az``.

    ``names`` are the app settings' names ``az ... appsettings list`` answers, one list per call (the last
    one repeats); ``zip_failures`` is how many zip deployments fail before one succeeds.
    """

    def __init__(self, outputs: dict[str, Any], *, names: list[list[str]] | None = None, zip_failures: int = 0):
        self.commands: list[list[str]] = []
        self.outputs = outputs
        self.names = names or [IDENTITY_SETTINGS]
        self.zip_failures = zip_failures

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        if "output" in argv:
            return self._answer(argv, json.dumps({k: {"value": v} for k, v in self.outputs.items()}))
        if argv[:5] == ["az", "functionapp", "config", "appsettings", "list"]:
            listed = self.names.pop(0) if len(self.names) > 1 else self.names[0]
            return self._answer(argv, json.dumps(listed))
        if argv[:4] == ["az", "functionapp", "deployment", "source"] and self.zip_failures:
            self.zip_failures -= 1
            return subprocess.CompletedProcess(argv, 1, stdout="", stderr="")
        return self._answer(argv, "")

    @staticmethod
    def _answer(argv: list[str], stdout: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, stdout=stdout, stderr="")

    def steps(self) -> list[str]:
        """Each command in short: the terraform sub-command, or the az command group and verb."""
        return [c[2] if c[0] == "terraform" else " ".join(c[1:3] if c[2] == "deployment" else c[3:5])
                for c in self.commands]  # fmt: skip


def outputs() -> dict[str, Any]:
    return {"deploy_command": ZIP, "function_app_id": APP_ID}


def test_apply_deploys_the_code_between_an_apply_without_and_one_with_the_event_subscription(tmp_path: Path) -> None:
    run = Recorder(outputs())
    pauses: list[float] = []
    deployer = AzureDeployer(sleep=pauses.append)
    terraform = Terraform(tmp_path, run=run)
    deployer.apply(terraform, variables=["-var-file=/x/my.tfvars"], plan_only=False, auto_approve=True)
    # Changed by issue 21: the app settings' names are read after each apply (no AzureWebJobsStorage).
    assert run.steps() == [
        "init", "apply", "output", "appsettings list", "functionapp deployment", "apply", "output", "appsettings list",
    ]  # fmt: skip
    first, second = run.commands[1], run.commands[5]
    assert first[-1] == "-var=subscribe_events=false" and second[-1] == "-var=subscribe_events=true"
    assert "-var-file=/x/my.tfvars" in first and "-var-file=/x/my.tfvars" in second
    assert run.commands[4] == ZIP.split()
    # Names only, never the values (they hold the Application Insights connection string, ...).
    assert run.commands[3] == ["az", "functionapp", "config", "appsettings", "list", "--ids", APP_ID,
                               "--query", "[].name", "--output", "json"]  # fmt: skip
    assert pauses == []


def test_deploy_stops_before_the_code_deployment_when_the_app_has_azure_web_jobs_storage(tmp_path: Path) -> None:
    run = Recorder(outputs(), names=[[*IDENTITY_SETTINGS, HOST_STORAGE_SETTING]])
    with pytest.raises(DeployFailed, match="has an AzureWebJobsStorage app setting") as failure:
        AzureDeployer().apply(Terraform(tmp_path, run=run), variables=[], plan_only=False, auto_approve=True)
    assert run.steps() == ["init", "apply", "output", "appsettings list"]  # no zip deployment, no second apply
    assert f"az functionapp config appsettings delete --ids {APP_ID} --setting-names AzureWebJobsStorage" in str(
        failure.value
    )


def test_deploy_fails_when_the_second_apply_brings_the_setting_back(tmp_path: Path) -> None:
    run = Recorder(outputs(), names=[IDENTITY_SETTINGS, [*IDENTITY_SETTINGS, "azurewebjobsstorage"]])
    with pytest.raises(DeployFailed, match="AzureWebJobsStorage"):
        AzureDeployer().apply(Terraform(tmp_path, run=run), variables=[], plan_only=False, auto_approve=True)
    assert run.steps()[-3:] == ["apply", "output", "appsettings list"]


def test_the_code_deployment_is_retried_while_role_assignments_apply(tmp_path: Path) -> None:
    run = Recorder(outputs(), zip_failures=2)
    pauses: list[float] = []
    AzureDeployer(sleep=pauses.append).apply(Terraform(tmp_path, run=run), variables=[], plan_only=False,
                                             auto_approve=True)  # fmt: skip
    assert run.steps().count("functionapp deployment") == 3 and run.steps()[-3] == "apply"
    assert pauses == [60.0, 60.0]


def test_the_code_deployment_gives_up_after_its_attempts(tmp_path: Path) -> None:
    run = Recorder(outputs(), zip_failures=99)
    pauses: list[float] = []
    deployer = AzureDeployer(sleep=pauses.append, publish_attempts=3, publish_pause=5.0)
    with pytest.raises(DeployFailed, match="config-zip"):
        deployer.apply(Terraform(tmp_path, run=run), variables=[], plan_only=False, auto_approve=True)
    assert run.steps().count("functionapp deployment") == 3 and "apply" not in run.steps()[3:]
    assert pauses == [5.0, 5.0]


def test_plan_only_changes_nothing(tmp_path: Path) -> None:
    run = Recorder({})
    DEPLOYER.apply(Terraform(tmp_path, run=run), variables=[], plan_only=True, auto_approve=False)
    assert [c[2] for c in run.commands] == ["init", "plan"]


def test_verify_reaches_the_images_account_with_an_entra_id_connection() -> None:
    target = DEPLOYER.target({
        "source_container": "images", "dest_container": "thumbnails",
        "blob_endpoint": "https://acmeimg.blob.core.windows.net/",
        "thumbs_environment": {"THUMBS_SIZES": "128x128", "THUMBS_DEST_BUCKET": "thumbnails"},
    })  # fmt: skip
    assert (target.source_bucket, target.dest_bucket, target.prefix) == ("images", "thumbnails", "")
    assert target.environment == {
        "THUMBS_STORAGE_CONNECTION": VERIFY_CONNECTION,
        f"{VERIFY_CONNECTION}__blobServiceUri": "https://acmeimg.blob.core.windows.net/",
    }
    assert not any("AccountKey" in value for value in target.environment.values())


@pytest.mark.parametrize(
    ("listed", "status", "passed", "detail"),
    [
        (IDENTITY_SETTINGS, 0, True, "host storage uses the app's identity"),
        ([*IDENTITY_SETTINGS, HOST_STORAGE_SETTING], 0, False, "has an AzureWebJobsStorage app setting"),
        (IDENTITY_SETTINGS, 1, True, "skipped: az could not list the app settings: ERROR: (AuthorizationFailed)"),
    ],
)
def test_verify_checks_the_app_settings_through_az(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: list[str], status: int, passed: bool, detail: str
) -> None:
    from tests.providers.azure import fake_az

    environment, log = fake_az.install(tmp_path / "bin", names=listed, status=status)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    [check] = AzureDeployer().deployment_checks({"function_app_id": APP_ID})
    assert check.name == "no AzureWebJobsStorage app setting"
    assert check.passed is passed and detail in check.detail
    assert fake_az.calls(log) == [["functionapp", "config", "appsettings", "list", "--ids", APP_ID,
                                   "--query", "[].name", "--output", "json"]]  # fmt: skip


def test_verify_says_when_it_cannot_ask_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no az there
    [check] = AzureDeployer().deployment_checks({"function_app_id": APP_ID})
    assert check.passed and check.detail == "skipped: the Azure CLI (az) is not installed"
    [old] = AzureDeployer().deployment_checks({})  # a deployment from before function_app_id existed
    assert old.passed and "apply the current deploy files" in old.detail


def test_teardown_is_refused_because_destroy_deletes_the_originals() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="deletes the images storage account with the originals"):
        DEPLOYER.prepare_teardown({"resource_group": "rg"}, confirm=lambda question: "yes")


def test_verify_without_a_deployment_says_what_to_do(tmp_path: Path) -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "core.ops.cli", "verify", "azure", "--workdir", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "run `polythumb deploy azure` first" in result.stderr and "Traceback" not in result.stderr
