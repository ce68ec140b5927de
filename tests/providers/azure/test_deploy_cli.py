"""``polythumb deploy azure``: the two applies around the code deployment, in that order, and the verify target."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from core.ops.deploy import Terraform
from providers.azure.deploy_cli import DEPLOYER, VERIFY_CONNECTION


class Recorder:
    """Stands in for subprocess.run: records each command, answers ``terraform output -json``."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.commands: list[list[str]] = []
        self.outputs = outputs

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        stdout = json.dumps({k: {"value": v} for k, v in self.outputs.items()}) if "output" in argv else ""
        return subprocess.CompletedProcess(argv, 0, stdout=stdout, stderr="")


def test_apply_deploys_the_code_between_an_apply_without_and_one_with_the_event_subscription(tmp_path: Path) -> None:
    command = (
        "az functionapp deployment source config-zip --resource-group rg --name app --src /x/p.zip --build-remote true"
    )
    run = Recorder({"deploy_command": command})
    DEPLOYER.apply(
        Terraform(tmp_path, run=run), variables=["-var-file=/x/my.tfvars"], plan_only=False, auto_approve=True
    )
    steps = [c[2] if c[0] == "terraform" else c[0] for c in run.commands]
    assert steps == ["init", "apply", "output", "az", "apply"]
    first, second = run.commands[1], run.commands[4]
    assert first[-1] == "-var=subscribe_events=false" and second[-1] == "-var=subscribe_events=true"
    assert "-var-file=/x/my.tfvars" in first and "-var-file=/x/my.tfvars" in second
    assert run.commands[3] == command.split()


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


def test_verify_without_a_deployment_says_what_to_do(tmp_path: Path) -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "core.ops.cli", "verify", "azure", "--workdir", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "run `polythumb deploy azure` first" in result.stderr and "Traceback" not in result.stderr
