"""``polythumb deploy`` and ``polythumb verify``: one command to put a cloud's stack up, one to prove it works.

``deploy <cloud>`` builds the provider's package, runs ``terraform init`` and ``plan`` or ``apply`` in
the provider's ``deploy/`` folder (or a working copy of it) and prints the outputs. ``verify <cloud>``
reads those outputs (or buckets given on the command line), uploads sample originals and checks what
the deployed function makes of them (:mod:`core.ops.verify`). What differs per cloud -- the order of the
Terraform steps, which outputs name the buckets, how to reach an emulator -- is the provider's
:class:`Deployer`, found through :mod:`core.registry`; nothing here names a cloud.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core import registry
from core.config import load_config
from core.errors import ConfigError, PermanentError
from core.ops.verify import settings_from, verify

EXIT_OK, EXIT_FAILED = 0, 1


class DeployFailed(PermanentError):
    """A step of the deployment (packaging, terraform, the cloud's CLI) failed; its output says why."""

    kind = "deploy_failed"


@dataclass(frozen=True)
class Target:
    """A deployment as ``verify`` sees it.

    Attributes:
        source_bucket: Where originals are uploaded.
        dest_bucket: Where thumbnails appear.
        prefix: Key prefix under which uploads trigger the function ("" for the whole bucket).
        settings: The ``THUMBS_*`` settings the function runs with.
        environment: Variables the provider's storage adapter needs to reach these buckets from here.
    """

    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)


class Terraform:
    """``terraform -chdir=<workdir> ...``, echoing each command; a failure raises :class:`DeployFailed`."""

    def __init__(self, workdir: Path, *, binary: str = "terraform", run: Callable[..., Any] = subprocess.run) -> None:
        self.workdir = workdir
        self.binary = binary
        self._run = run

    def __call__(self, *args: str) -> None:
        """Run one terraform command, its output going to the terminal."""
        self.tool([self.binary, f"-chdir={self.workdir}", *args])

    def tool(self, argv: Sequence[str]) -> None:
        """Run any command of the deployment (terraform, or the cloud's CLI between two applies)."""
        print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)
        try:
            completed = self._run(list(argv), check=False)
        except FileNotFoundError as exc:
            raise DeployFailed(f"{argv[0]} is not installed or not on PATH") from exc
        if completed.returncode != 0:
            raise DeployFailed(f"{shlex.join(argv[:3])} ... failed with exit status {completed.returncode}")

    def outputs(self) -> dict[str, Any]:
        """The root module's outputs, by name (``terraform output -json``)."""
        argv = [self.binary, f"-chdir={self.workdir}", "output", "-json"]
        try:
            completed = self._run(argv, check=False, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise DeployFailed(f"{self.binary} is not installed or not on PATH") from exc
        if completed.returncode != 0:
            raise DeployFailed(f"terraform output failed in {self.workdir}: {completed.stderr.strip()[:500]}")
        return {name: entry.get("value") for name, entry in json.loads(completed.stdout or "{}").items()}


class Deployer(Protocol):
    """What one provider adds to ``deploy`` and ``verify`` (``ProviderSpec.deployer``)."""

    #: File name of the package the provider's packager writes by default (``dist/<name>``).
    package_name: str

    def package_argv(self, output: Path) -> list[str]:
        """Arguments of the provider's packager that write the package to ``output``."""
        ...

    def apply(self, terraform: Terraform, *, variables: Sequence[str], plan_only: bool, auto_approve: bool) -> None:
        """Init, then plan or apply (every apply the provider needs, and anything between them)."""
        ...

    def target(self, outputs: Mapping[str, Any]) -> Target:
        """The buckets and settings of a deployment, from its Terraform outputs."""
        ...

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """Variables that point the provider's storage adapter at an emulator at ``endpoint``."""
        ...


def standard_apply(terraform: Terraform, *, variables: Sequence[str], plan_only: bool, auto_approve: bool) -> None:
    """``init`` then ``plan`` or ``apply``: all a one-apply stack needs."""
    terraform("init", "-input=false")
    if plan_only:
        terraform("plan", "-input=false", *variables)
    else:
        terraform("apply", "-input=false", *(["-auto-approve"] if auto_approve else []), *variables)


def add_parsers(commands: Any) -> None:
    """Register ``deploy`` and ``verify`` on the CLI's sub-command parsers."""
    names = registry.names()
    deploy = commands.add_parser("deploy", help="package, terraform init and plan/apply a cloud's stack; print outputs")
    deploy.add_argument("provider", choices=names)
    deploy.add_argument("--var-file", action="append", default=[], type=Path, help="a .tfvars file (repeatable)")
    deploy.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="one variable (repeatable)")
    deploy.add_argument("--plan-only", action="store_true", help="terraform plan, change nothing")
    deploy.add_argument("--auto-approve", action="store_true", help="apply without terraform's confirmation")
    deploy.add_argument("--package", type=Path, help="use this package instead of building one")
    deploy.add_argument("--workdir", type=Path, help="run in a copy of the Terraform here (state lives there)")

    check = commands.add_parser("verify", help="upload samples to a deployment and check its thumbnails")
    check.add_argument("provider", choices=names)
    check.add_argument("--workdir", type=Path, help="where `polythumb deploy` ran (default: the deploy folder)")
    check.add_argument("--endpoint", help="an emulator's URL instead of the cloud (moto, fake-gcs-server, Azurite)")
    check.add_argument("--source-bucket", help="instead of Terraform outputs: the source bucket/container")
    check.add_argument("--dest-bucket", help="... its destination (settings then come from THUMBS_* variables)")
    check.add_argument("--prefix", default="", help="... the key prefix that triggers the function")
    check.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for thumbnails (default 180)")


def deploy_command(args: argparse.Namespace) -> int:
    """``polythumb deploy <provider>``."""
    spec = registry.get(args.provider)
    deployer: Deployer = spec.resolve("deployer")
    workdir = _workdir(spec.folder / spec.deploy_dir, args.workdir)
    package = args.package
    if package is None:
        package = Path("dist").resolve() / deployer.package_name
        status = int(spec.resolve("packager")(deployer.package_argv(package)))
        if status != 0:
            raise DeployFailed(f"polythumb package {spec.name} failed with exit status {status}")
    if not Path(package).is_file():
        raise ConfigError(f"--package {package}: no such file")
    variables = [f"-var-file={Path(f).resolve()}" for f in args.var_file]
    variables += [f"-var={assignment}" for assignment in args.var]
    variables.append(f"-var=package_path={Path(package).resolve()}")
    terraform = Terraform(workdir)
    deployer.apply(terraform, variables=variables, plan_only=args.plan_only, auto_approve=args.auto_approve)
    if not args.plan_only:
        terraform("output")
        print(f"\nnext: polythumb verify {spec.name}" + (f" --workdir {workdir}" if args.workdir else ""))
    return EXIT_OK


def verify_command(args: argparse.Namespace) -> int:
    """``polythumb verify <provider>``."""
    spec = registry.get(args.provider)
    deployer: Deployer = spec.resolve("deployer")
    if args.source_bucket or args.dest_bucket:
        if not (args.source_bucket and args.dest_bucket):
            raise ConfigError("--source-bucket and --dest-bucket go together")
        target = Target(args.source_bucket, args.dest_bucket, args.prefix, settings_from(os.environ))
    else:
        workdir = args.workdir or spec.folder / spec.deploy_dir
        outputs = Terraform(workdir).outputs()
        if not outputs:
            raise ConfigError(
                f"no Terraform outputs in {workdir}: run `polythumb deploy {spec.name}` first, or pass --workdir "
                "(where it ran) or --source-bucket/--dest-bucket"
            )
        try:
            target = deployer.target(outputs)
        except KeyError as exc:
            raise ConfigError(
                f"the Terraform outputs in {workdir} lack {exc}: apply the current deploy files"
            ) from None
    # Exported before the first storage call: the provider's adapter reads its endpoint and credentials there.
    os.environ.update(deployer.emulator_environment(args.endpoint) if args.endpoint else dict(target.environment))
    config = load_config({**target.settings, "THUMBS_DEST_BUCKET": target.dest_bucket}, require_dest=True)
    if config.profiles:  # the expected keys, sizes and formats would be each profile's, which verify does not model
        raise ConfigError("polythumb verify checks the THUMBS_* recipe; THUMBS_PROFILES is not supported yet")
    open_bucket = spec.resolve("open_bucket")
    where = args.endpoint or spec.title
    print(f"verifying {spec.title} ({where}): {target.source_bucket}/{target.prefix} -> {target.dest_bucket}")
    report = verify(
        open_bucket(target.source_bucket), open_bucket(target.dest_bucket), config,
        prefix=target.prefix, timeout=args.timeout,
    )  # fmt: skip
    print(report.table())
    return EXIT_OK if report.passed else EXIT_FAILED


def _workdir(module: Path, workdir: Path | None) -> Path:
    """The folder terraform runs in: the module itself, or ``workdir`` holding a fresh copy of its files."""
    if workdir is None:
        return module
    workdir.mkdir(parents=True, exist_ok=True)
    for path in module.iterdir():  # files the user added there (tfvars, overrides, state) are left alone
        if path.suffix == ".tf" or path.name == ".terraform.lock.hcl":
            shutil.copy2(path, workdir / path.name)
    return workdir.resolve()
