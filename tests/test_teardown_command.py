"""``polythumb teardown <cloud>`` (issue 21): the destroy is planned and shown first, the provider sorts out what
polythumb wrote and asks about the rest, one "yes" confirms the whole, and only then is anything deleted.

The command sequence is checked with a stand-in provider and a stand-in for ``subprocess.run``; the AWS
provider's part runs on moto in tests/providers/aws/test_teardown.py and, after a real deploy on moto, in
tests/providers/aws/test_deploy_apply.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.ops import teardown
from core.ops.deploy import Terraform


class Provider:
    """A registry entry whose deployer records what the teardown asks of it."""

    name, title, deploy_folder = "cloud", "Cloud", Path("/nowhere/deploy")

    def __init__(self) -> None:
        self.emptied = 0
        self.package_name = "polythumb-cloud.zip"

    def resolve(self, piece: str) -> Any:
        assert piece == "deployer"
        return self

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        assert outputs == {"source_bucket": "src"}

        def empty() -> None:
            self.emptied += 1

        return empty


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Provider, list[list[str]]]:
    provider, commands = Provider(), []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(argv)
        stdout = json.dumps({"source_bucket": {"value": "src"}}) if "output" in argv else ""
        return subprocess.CompletedProcess(argv, 0, stdout=stdout, stderr="")

    monkeypatch.setattr(teardown.registry, "get", lambda name: provider)
    monkeypatch.setattr(teardown, "Terraform", lambda workdir: Terraform(workdir, run=run))
    monkeypatch.setattr("core.ops.deploy.Terraform", lambda workdir: Terraform(workdir, run=run))
    return provider, commands


def arguments(tmp_path: Path, *, auto_approve: bool = False) -> argparse.Namespace:
    return argparse.Namespace(provider="cloud", workdir=tmp_path, var_file=[], var=[], package=None,
                              auto_approve=auto_approve, endpoint=None)  # fmt: skip


def steps(commands: list[list[str]]) -> list[str]:
    """Each terraform command by its sub-command (and the first flag, which says what it does)."""
    return [" ".join(c[2:4]) for c in commands]


def test_no_yes_deletes_nothing_and_destroys_nothing(
    tmp_path: Path, stack: tuple[Provider, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, commands = stack
    monkeypatch.setattr("builtins.input", lambda question: "y")
    with pytest.raises(ConfigError, match="teardown cancelled: nothing was deleted"):
        teardown.teardown_command(arguments(tmp_path))
    assert provider.emptied == 0
    assert steps(commands) == ["output -json", "plan -destroy"]  # the plan is shown; nothing applied


def test_yes_empties_then_applies_the_destroy_plan_shown(
    tmp_path: Path, stack: tuple[Provider, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, commands = stack
    questions: list[str] = []
    monkeypatch.setattr("builtins.input", lambda question: questions.append(question) or "yes")
    assert teardown.teardown_command(arguments(tmp_path)) == 0
    assert provider.emptied == 1 and len(questions) == 1 and "then destroy the Cloud stack" in questions[0]
    plan = next(c for c in commands if "plan" in c)
    saved = next(a for a in plan if a.startswith("-out=")).removeprefix("-out=")
    assert commands[-1][2:] == ["apply", "-input=false", saved]  # exactly the plan shown, no second question
    # Destroy evaluates the configuration, which hashes the package: a stand-in when none was built here.
    assert any(a.startswith("-var=package_path=") for a in plan)


def test_auto_approve_asks_nothing(tmp_path: Path, stack: tuple[Provider, list[list[str]]],
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    provider, commands = stack
    monkeypatch.setattr("builtins.input", lambda question: pytest.fail(f"asked: {question}"))
    assert teardown.teardown_command(arguments(tmp_path, auto_approve=True)) == 0
    assert provider.emptied == 1 and steps(commands) == ["output -json", "plan -destroy", "apply -input=false"]


def test_a_provider_that_refuses_stops_before_any_plan(
    tmp_path: Path, stack: tuple[Provider, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, commands = stack

    def refuse(outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        raise ConfigError("destroy would delete the originals")

    monkeypatch.setattr(provider, "prepare_teardown", refuse)
    with pytest.raises(ConfigError, match="would delete the originals"):
        teardown.teardown_command(arguments(tmp_path, auto_approve=True))
    assert steps(commands) == ["output -json"]
