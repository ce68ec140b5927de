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
import re
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
from core.ops.verify import Check, settings_from, verify
from core.ops.verify_serve import ServeFetch, fetch_from

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


#: What ``terraform init`` says when the lock file has no checksum matching the provider package of this
#: machine's platform (a lock recorded on another platform), whitespace-normalised.
_LOCK_LACKS_PLATFORM = "doesn't match any of the checksums previously recorded in the dependency lock file"
#: Colours, and the frame terraform draws around a diagnostic on a colour terminal: not part of the words.
_DECORATION = re.compile(r"\x1b\[[0-9;]*m|[│╷╵]")


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
        completed = self._execute(argv)
        if completed.returncode != 0:
            raise DeployFailed(f"{shlex.join(argv[:3])} ... failed with exit status {completed.returncode}")

    def capture(self, argv: Sequence[str]) -> str:
        """Run a command of the deployment and return its standard output, which is not echoed.

        For commands whose answer the deployment reads (names, ids); a failure shows the start of its
        standard error.
        """
        print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)
        completed = self._execute(argv, capture_output=True, text=True)
        if completed.returncode != 0:
            detail = (completed.stderr or "").strip()[:500]
            raise DeployFailed(f"{shlex.join(argv[:3])} ... failed with exit status {completed.returncode}: {detail}")
        return str(completed.stdout or "")

    def init(self) -> None:
        """``terraform init``; when the committed lock file holds no checksum for this platform, add it, once.

        A lock recorded on one platform (say linux_amd64) makes ``init`` fail on another (a Mac, an ARM
        workstation). Then ``terraform providers lock -platform=<this one>`` adds the checksums of the locked
        version for this platform, verified as Terraform verifies any download (the registry's signed
        checksums), and ``init`` runs again. The version stays the locked one.
        """
        argv = [self.binary, f"-chdir={self.workdir}", "init", "-input=false"]
        print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)
        completed = self._execute(argv, capture_output=True, text=True)
        print(completed.stdout or "", end="", flush=True)  # after the fact: init must be read to be judged
        print(completed.stderr or "", end="", file=sys.stderr, flush=True)
        if completed.returncode == 0:
            return
        said = " ".join(_DECORATION.sub(" ", f"{completed.stdout or ''} {completed.stderr or ''}").split())
        if _LOCK_LACKS_PLATFORM not in said:
            raise DeployFailed(f"terraform init failed with exit status {completed.returncode}")
        platform = self.platform()
        print(
            f"polythumb: the lock file ({self.workdir / '.terraform.lock.hcl'}) has no checksum for {platform}; "
            "adding it for the locked version, then initialising again",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        self("providers", "lock", f"-platform={platform}")
        self("init", "-input=false")

    def platform(self) -> str:
        """The platform Terraform runs as (``darwin_arm64``, ``linux_amd64``...), as ``terraform version`` says."""
        completed = self._execute([self.binary, "version", "-json"], capture_output=True, text=True)
        try:
            return str(json.loads(completed.stdout)["platform"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeployFailed(f"`{self.binary} version -json` named no platform: {completed.stderr!r:.200}") from exc

    def _execute(self, argv: Sequence[str], **options: Any) -> Any:
        try:
            return self._run(list(argv), check=False, **options)
        except FileNotFoundError as exc:
            raise DeployFailed(f"{argv[0]} is not installed or not on PATH") from exc

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

    def deployment_checks(self, outputs: Mapping[str, Any]) -> list[Check]:
        """Checks of the deployed resources themselves, beyond what thumbnails show (``[]``: none).

        Called by ``verify`` against a deployment (not an emulator), before the samples are uploaded.
        """
        ...

    def serve_fetch(self, outputs: Mapping[str, Any], *, base_url: str | None = None) -> ServeFetch | None:
        """How ``verify`` asks the deployment's serve URL for an output (None: it does not serve on first request).

        ``base_url`` replaces the URL the outputs name (an emulator's stand-in for it); the provider adds what its
        URL needs (a signature, a token).
        """
        ...

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        """What makes ``terraform destroy`` possible without losing anyone's data silently, or a refusal.

        Looks, and asks ``confirm(question)`` (the person at the terminal; "" when nobody can answer) about
        anything that is not polythumb's, but deletes nothing: the returned callable does, once the teardown
        as a whole is confirmed. Raises :class:`ConfigError` to stop the teardown, with what to do.
        """
        ...


def standard_apply(terraform: Terraform, *, variables: Sequence[str], plan_only: bool, auto_approve: bool) -> None:
    """``init`` then ``plan`` or ``apply``: all a one-apply stack needs."""
    terraform.init()
    if plan_only:
        terraform("plan", "-input=false", *variables)
    else:
        terraform("apply", "-input=false", *(["-auto-approve"] if auto_approve else []), *variables)


def add_parsers(commands: Any) -> None:
    """Register ``deploy`` and ``verify`` on the CLI's sub-command parsers."""
    names = registry.names()
    deploy = commands.add_parser("deploy", help="package, terraform init and plan/apply a cloud's stack; print outputs")
    deploy.add_argument("provider", choices=names)
    add_variable_flags(deploy)
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
    check.add_argument("--serve-url", help="the serve function's URL instead of the Terraform output's (an emulator's)")


def add_variable_flags(parser: Any) -> None:
    """``--var-file`` and ``--var``, handed to Terraform as given."""
    parser.add_argument("--var-file", action="append", default=[], type=Path, help="a .tfvars file (repeatable)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="one variable (repeatable)")


def terraform_variables(args: argparse.Namespace, *, package: Path) -> list[str]:
    """The ``-var-file``/``-var`` arguments of a command: the user's files and assignments, then the package."""
    variables = [f"-var-file={Path(f).resolve()}" for f in args.var_file]
    variables += [f"-var={assignment}" for assignment in args.var]
    variables.append(f"-var=package_path={Path(package).resolve()}")
    return variables


def deploy_command(args: argparse.Namespace) -> int:
    """``polythumb deploy <provider>``."""
    spec = registry.get(args.provider)
    deployer: Deployer = spec.resolve("deployer")
    workdir = _workdir(spec.deploy_folder, args.workdir)
    package = args.package
    if package is None:
        package = Path("dist").resolve() / deployer.package_name
        status = int(spec.resolve("packager")(deployer.package_argv(package)))
        if status != 0:
            raise DeployFailed(f"polythumb package {spec.name} failed with exit status {status}")
    if not Path(package).is_file():
        raise ConfigError(f"--package {package}: no such file")
    variables = terraform_variables(args, package=Path(package))
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
    checks: list[Check] = []
    serve: ServeFetch | None = None
    if args.source_bucket or args.dest_bucket:
        if not (args.source_bucket and args.dest_bucket):
            raise ConfigError("--source-bucket and --dest-bucket go together")
        target = Target(args.source_bucket, args.dest_bucket, args.prefix, settings_from(os.environ))
        serve = fetch_from(args.serve_url) if args.serve_url else None
    else:
        workdir = args.workdir or spec.deploy_folder
        outputs = deployment_outputs(spec.name, workdir)
        try:
            target = deployer.target(outputs)
        except KeyError as exc:
            raise ConfigError(
                f"the Terraform outputs in {workdir} lack {exc}: apply the current deploy files"
            ) from None
        checks = deployer.deployment_checks(outputs)  # a deployment's own: also with --endpoint for its storage
        serve = deployer.serve_fetch(outputs, base_url=args.serve_url)  # with serve = true: the serve step
    # Exported before the first storage call: the provider's adapter reads its endpoint and credentials there.
    os.environ.update(deployer.emulator_environment(args.endpoint) if args.endpoint else dict(target.environment))
    # The function's settings, read as the function reads them: its provider's own ones included. The serve
    # path's (THUMBS_SERVE_*) change no thumbnail verify checks, and ad-hoc outputs want keys verify never holds.
    settings = {name: value for name, value in target.settings.items() if not name.startswith("THUMBS_SERVE_")}
    settings["THUMBS_DEST_BUCKET"] = target.dest_bucket
    config = load_config(settings, require_dest=True, extra_settings=spec.function_settings)
    open_bucket = spec.resolve("open_bucket")
    where = args.endpoint or spec.title
    print(f"verifying {spec.title} ({where}): {target.source_bucket}/{target.prefix} -> {target.dest_bucket}")
    report = verify(
        open_bucket(target.source_bucket), open_bucket(target.dest_bucket), config,
        prefix=target.prefix, timeout=args.timeout, checks=checks, serve=serve,
    )  # fmt: skip
    print(report.table())
    return EXIT_OK if report.passed else EXIT_FAILED


def deployment_outputs(provider: str, workdir: Path) -> dict[str, Any]:
    """The Terraform outputs of the deployment in ``workdir``; none means nothing was deployed there."""
    outputs = Terraform(workdir).outputs()
    if not outputs:
        raise ConfigError(
            f"no Terraform outputs in {workdir}: run `polythumb deploy {provider}` first, or pass --workdir "
            "(where it ran) or --source-bucket/--dest-bucket"
        )
    return outputs


def _workdir(module: Path, workdir: Path | None) -> Path:
    """The folder terraform runs in: the module itself, or ``workdir`` holding a fresh copy of its files."""
    if workdir is None:
        return module
    workdir.mkdir(parents=True, exist_ok=True)
    for path in module.iterdir():  # files the user added there (tfvars, overrides, state) are left alone
        if path.suffix == ".tf" or path.name == ".terraform.lock.hcl":
            shutil.copy2(path, workdir / path.name)
    return workdir.resolve()
