"""``polythumb teardown <cloud>``: ``terraform destroy`` of a deployment, once the provider has made it possible.

A plain ``terraform destroy`` can fail on buckets that still hold objects (versioned buckets keep old
versions and delete markers after ``polythumb verify`` deleted its samples), or succeed by deleting
someone's originals. So: the provider's :meth:`~core.ops.deploy.Deployer.prepare_teardown` sorts out what
polythumb wrote from the rest and asks about the rest, or refuses with what to do; Terraform plans the
destroy and shows it; one question confirms the whole (unless ``--auto-approve``); only then are
polythumb's objects deleted and the saved plan applied. A "no" anywhere deletes nothing.
Nothing here names a cloud.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from core import registry
from core.errors import ConfigError
from core.ops.deploy import (
    EXIT_OK,
    Deployer,
    Terraform,
    add_variable_flags,
    deployment_outputs,
    terraform_variables,
)


def add_parser(commands: Any) -> None:
    """Register ``teardown`` on the CLI's sub-command parsers."""
    teardown = commands.add_parser(
        "teardown", help="empty a deployment's buckets of what polythumb wrote (asking about the rest), destroy it"
    )
    teardown.add_argument("provider", choices=registry.names())
    add_variable_flags(teardown)
    teardown.add_argument("--workdir", type=Path, help="where `polythumb deploy` ran (default: the deploy folder)")
    teardown.add_argument("--package", type=Path, help="the package deployed (default: the one in dist/, if there)")
    teardown.add_argument("--auto-approve", action="store_true", help="destroy without asking for 'yes'")
    teardown.add_argument("--endpoint", help="an emulator's URL instead of the cloud (moto, fake-gcs-server, Azurite)")


def teardown_command(args: argparse.Namespace) -> int:
    """``polythumb teardown <provider>``."""
    spec = registry.get(args.provider)
    deployer: Deployer = spec.resolve("deployer")
    workdir = (args.workdir or spec.deploy_folder).resolve()
    outputs = deployment_outputs(spec.name, workdir)
    if args.endpoint:  # the provider's SDK reads its endpoint and credentials from the environment
        os.environ.update(deployer.emulator_environment(args.endpoint))
    empty = deployer.prepare_teardown(outputs, confirm=ask)  # a refusal comes before any plan
    terraform = Terraform(workdir)
    with tempfile.TemporaryDirectory(prefix="polythumb-teardown-") as scratch:
        package = _package(args.package, Path("dist").resolve() / deployer.package_name, Path(scratch))
        plan = Path(scratch) / "destroy.tfplan"
        terraform("plan", "-destroy", "-input=false", f"-out={plan}", *terraform_variables(args, package=package))
        if not args.auto_approve:
            question = f"Delete what polythumb wrote, then destroy the {spec.title} stack above? Only 'yes' goes on: "
            if ask(question).strip() != "yes":
                raise ConfigError("teardown cancelled: nothing was deleted")
        empty()
        terraform("apply", "-input=false", str(plan))  # a saved plan: applied as shown, without a second question
    print(f"{spec.title}: the stack in {workdir} is destroyed")
    return EXIT_OK


def ask(question: str) -> str:
    """The answer typed at the terminal; "" when there is no one to ask (no input, or end of input)."""
    try:
        return input(question)
    except EOFError:
        print(file=sys.stderr)
        return ""


def _package(given: Path | None, built: Path, scratch: Path) -> Path:
    """A file for ``package_path``: destroy evaluates the configuration, which hashes the package.

    Its content does not matter to deleting the function, so without the deployed package (another
    checkout, a cleaned ``dist/``) an empty stand-in does.
    """
    if given is not None:
        if not given.is_file():
            raise ConfigError(f"--package {given}: no such file")
        return given
    if built.is_file():
        return built
    stand_in = scratch / built.name
    stand_in.write_bytes(b"")
    return stand_in
