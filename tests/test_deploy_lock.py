"""``terraform init`` as ``polythumb deploy`` runs it (issue 21): a lock recorded on another platform is completed
for this one (``terraform providers lock -platform=<this>``), once; any other failure stops the deploy.

The command sequence is checked here with a stand-in for ``subprocess.run``; the real thing, with the AWS
provider of the local plugin directory and a lock that lacks linux_amd64, is in
tests/providers/aws/test_deploy_apply.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.ops.deploy import DeployFailed, Terraform

#: What terraform 1.11 prints (wrapped, coloured) when the lock has no checksum for this platform's package.
MISMATCH = (
    "\x1b[31m╷\x1b[0m\x1b[0m\n\x1b[31m│\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1mFailed to install "
    "provider\x1b[0m\n\x1b[31m│\x1b[0m \x1b[0m\n\x1b[31m│\x1b[0m \x1b[0mError while installing hashicorp/aws v5.100.0: "
    "the local package for\n\x1b[31m│\x1b[0m \x1b[0mregistry.terraform.io/hashicorp/aws 5.100.0 doesn't match any of "
    "the\n\x1b[31m│\x1b[0m \x1b[0mchecksums previously recorded in the dependency lock file (this might be\n"
)


class Terraform11:
    """Stands in for subprocess.run: ``init`` fails ``failures`` times with ``error``, then succeeds."""

    def __init__(self, *, failures: int, error: str = MISMATCH, platform: str = "darwin_arm64") -> None:
        self.commands: list[list[str]] = []
        self.failures = failures
        self.error = error
        self.platform = platform

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        if argv[1:] == ["version", "-json"]:
            return subprocess.CompletedProcess(argv, 0, stdout=json.dumps({"platform": self.platform}), stderr="")
        if "init" in argv and self.failures:
            self.failures -= 1
            return subprocess.CompletedProcess(argv, 1, stdout="Initializing provider plugins...\n", stderr=self.error)
        return subprocess.CompletedProcess(argv, 0, stdout="", stderr="")


def test_a_lock_without_this_platform_gets_its_checksums_then_init_runs_again(tmp_path: Path) -> None:
    run = Terraform11(failures=1)
    Terraform(tmp_path, run=run).init()
    assert run.commands == [
        ["terraform", f"-chdir={tmp_path}", "init", "-input=false"],
        ["terraform", "version", "-json"],
        ["terraform", f"-chdir={tmp_path}", "providers", "lock", "-platform=darwin_arm64"],
        ["terraform", f"-chdir={tmp_path}", "init", "-input=false"],
    ]


def test_init_is_not_retried_more_than_once(tmp_path: Path) -> None:
    run = Terraform11(failures=2)
    with pytest.raises(DeployFailed, match="init"):
        Terraform(tmp_path, run=run).init()
    steps = [c[2] if c[1].startswith("-chdir=") else c[1] for c in run.commands]
    assert steps == ["init", "version", "providers", "init"]


def test_any_other_init_failure_stops_the_deploy_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = Terraform11(failures=1, error="Error: Failed to query available provider packages (no network)\n")
    with pytest.raises(DeployFailed, match="terraform init failed with exit status 1"):
        Terraform(tmp_path, run=run).init()
    assert len(run.commands) == 1  # no lock rewritten for a network or a constraint problem
    assert "no network" in capsys.readouterr().err  # terraform's own words reach the terminal


def test_a_first_init_that_works_is_all(tmp_path: Path) -> None:
    run = Terraform11(failures=0)
    Terraform(tmp_path, run=run).init()
    assert run.commands == [["terraform", f"-chdir={tmp_path}", "init", "-input=false"]]
