"""``polythumb package aws``: build the Lambda deployment zip.

The zip holds polythumb's ``core`` and ``providers/aws`` (Python sources, and their bytecode when this
machine has the runtime's Python: :mod:`core.ops.bytecode`) plus Linux wheels of the
imaging engines (by default Pillow, pillow-heif, pyvips and pyvips-binary, which bundles libvips;
``--engine pillow``: Pillow only, pillow-heif too with ``--with-heif``) for the chosen architecture and
Python, fetched with ``pip download --platform ... --only-binary=:all:`` so it builds the same on any
machine. pyvips is published as source only: it is pure Python, built here once into a universal wheel.
boto3 is left out: the Lambda Python runtime ships it.

Examples::

    polythumb package aws                                # arm64, Python 3.12, downloads the wheels
    polythumb package aws --arch x86_64 --python 3.13 --output build/fn.zip
    polythumb package aws --wheelhouse wheels/           # offline: wheels already in wheels/
    polythumb package aws --engine pillow                # the minimal zip: Pillow only
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from core.imaging import distributions
from core.ops.bytecode import compile_directory, describe
from core.ops.packaging import add_otel_option, otel_requirements, runtime_files

#: Lambda architectures -> the manylinux platform tags their wheels may carry. The Python 3.12+ runtimes
#: run on Amazon Linux 2023 (glibc 2.34), so any manylinux tag up to 2_34 works; pip does not expand
#: "manylinux_2_X" tags downwards by itself, hence the explicit list.
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"),
}
#: Python versions with a Lambda runtime that polythumb supports.
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")

#: What the runtime provides and the zip must never carry (a second boto3 would shadow the runtime's).
FORBIDDEN = ("boto3", "botocore", "s3transfer")

#: Lambda's own limits for a zip uploaded directly: 50 MB zipped, 250 MB unzipped.
MAX_ZIPPED = 50 * 10**6
MAX_UNZIPPED = 250 * 10**6

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: same sources, same zip bytes


def default_output(arch: str, python_version: str) -> Path:
    """Where the zip goes by default (the Terraform's default ``package_path`` for arm64 / 3.12)."""
    return Path("dist") / f"polythumb-aws-{arch}-py{python_version}.zip"


#: Lower bounds (pyproject.toml's) for a distribution that is not installed here, so cannot be pinned.
_FALLBACK_SPECIFIERS = {"Pillow": ">=11.3", "pillow-heif": ">=0.18", "pyvips": ">=2.2", "pyvips-binary": ">=8.16"}


def native_requirements(
    *, engine: str = distributions.DEFAULT_ENGINE, with_heif: bool = False, with_otel: bool = False
) -> list[str]:
    """The imaging dependencies of ``engine`` (and the OpenTelemetry export's, ``with_otel``), pinned to the
    versions installed here (the ones tested)."""
    names = list(distributions.distributions(engine))
    if with_heif and "pillow-heif" not in names:
        names.append("pillow-heif")
    pinned = []
    for name in names:
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(name + _FALLBACK_SPECIFIERS[name])
    return pinned + (otel_requirements() if with_otel else [])


def pip_platform_args(arch: str, python_version: str) -> list[str]:
    """The ``pip download/install`` options that select Lambda's platform instead of this machine's."""
    abi = "cp" + python_version.replace(".", "")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version, "--abi", abi]
    for platform in PLATFORMS[arch]:
        args += ["--platform", platform]
    return args


def download_wheels(dest: Path, *, arch: str, python_version: str, requirements: Sequence[str]) -> None:
    """Download the Linux wheels of ``requirements`` into ``dest`` (needs the package index).

    Raises:
        subprocess.CalledProcessError: pip failed (no wheel for that platform, no network).
    """
    dest.mkdir(parents=True, exist_ok=True)
    source_only = [r for r in requirements if _name_of(r) in distributions.SOURCE_ONLY]
    binary = [r for r in requirements if r not in source_only]
    if source_only:
        _build_universal_wheels(dest, source_only)
        binary += ["cffi"]  # what pyvips imports libvips through, as a wheel for the target platform
    _pip("download", "--dest", str(dest), *pip_platform_args(arch, python_version), *binary)


def _name_of(requirement: str) -> str:
    return requirement.split("=", 1)[0].split(">", 1)[0].strip()


def _build_universal_wheels(dest: Path, requirements: Sequence[str]) -> None:
    """Builds ``requirements`` (source-only, pure Python) into ``py3-none-any`` wheels in ``dest``.

    pyvips' build compiles a C extension against this machine's libvips when it finds one; pointing
    ``PKG_CONFIG`` at nothing forces its pure-Python (ABI mode) build, which is what runs on Lambda.

    Raises:
        subprocess.CalledProcessError: pip failed.
        RuntimeError: The build made a platform-specific wheel anyway.
    """
    with tempfile.TemporaryDirectory(prefix="polythumb-sdist-") as tmp:
        env = {**os.environ, "PKG_CONFIG": "polythumb-no-pkg-config"}
        names = ",".join(map(_name_of, requirements))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", names, "--wheel-dir", tmp,
                   "--quiet", *requirements]  # fmt: skip
        subprocess.run(command, check=True, env=env)
        for wheel in Path(tmp).glob("*.whl"):
            if not wheel.name.endswith("-py3-none-any.whl"):
                raise RuntimeError(f"{wheel.name} is not a pure-Python wheel; it would not run on Lambda")
            shutil.copyfile(wheel, dest / wheel.name)


def build_zip(
    output: Path,
    *,
    arch: str,
    python_version: str,
    wheelhouse: Path,
    requirements: Sequence[str],
) -> Path:
    """Build the deployment zip from the sources and the wheels in ``wheelhouse`` (offline).

    Raises:
        subprocess.CalledProcessError: a wheel for that platform is missing from ``wheelhouse``.
        RuntimeError: the zip would carry boto3/botocore, or exceed Lambda's size limits.
    """
    with tempfile.TemporaryDirectory(prefix="polythumb-lambda-") as tmp:
        stage = Path(tmp) / "stage"
        _pip(
            "install", "--target", str(stage), "--no-index", "--find-links", str(wheelhouse), "--no-compile",
            "--disable-pip-version-check", "--no-warn-script-location",
            *pip_platform_args(arch, python_version), *requirements,
        )  # fmt: skip
        for name in FORBIDDEN:
            if (stage / name).exists():
                raise RuntimeError(f"{name} ended up in the package; the Lambda runtime provides it")
        _copy_sources(stage)
        compile_directory(stage, python_version=python_version)  # the wheels' modules and ours
        output.parent.mkdir(parents=True, exist_ok=True)
        unzipped = _write_zip(stage, output)
    zipped = output.stat().st_size
    if zipped > MAX_ZIPPED or unzipped > MAX_UNZIPPED:
        raise RuntimeError(
            f"{output} is {zipped / 1e6:.1f} MB zipped / {unzipped / 1e6:.1f} MB unzipped; Lambda accepts at "
            f"most {MAX_ZIPPED / 1e6:.0f} MB / {MAX_UNZIPPED / 1e6:.0f} MB for a direct upload"
        )
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """``polythumb package aws [options]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="polythumb package aws", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64", help="Lambda architecture")
    parser.add_argument("--python", choices=PYTHON_VERSIONS, default="3.12", help="Lambda Python runtime")
    parser.add_argument("--output", type=Path, help="zip to write (default dist/polythumb-aws-<arch>-py<ver>.zip)")
    parser.add_argument(
        "--wheelhouse", type=Path, help="use the wheels already in DIR and never touch the network", metavar="DIR"
    )
    distributions.add_engine_option(parser)
    parser.add_argument("--with-heif", action="store_true", help="with --engine pillow: add pillow-heif (HEIC/HEIF)")
    add_otel_option(parser)
    args = parser.parse_args(list(argv) if argv is not None else None)

    output = args.output or default_output(args.arch, args.python)
    requirements = native_requirements(engine=args.engine, with_heif=args.with_heif, with_otel=args.with_otel)
    try:
        with tempfile.TemporaryDirectory(prefix="polythumb-wheels-") as tmp:
            wheelhouse = args.wheelhouse
            if wheelhouse is None:
                wheelhouse = Path(tmp)
                download_wheels(wheelhouse, arch=args.arch, python_version=args.python, requirements=requirements)
            build_zip(
                output, arch=args.arch, python_version=args.python, wheelhouse=wheelhouse, requirements=requirements
            )
    except subprocess.CalledProcessError as exc:
        where = f"in {args.wheelhouse}" if args.wheelhouse else "on the package index"
        print(
            f"polythumb: pip could not get {', '.join(requirements)} for {args.arch}/Python {args.python} {where} "
            f"(exit {exc.returncode})",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:
        print(f"polythumb: {exc}", file=sys.stderr)
        return 1
    zipped, unzipped = zip_sizes(output)
    print(
        f"{output} ({zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped; Lambda's limits "
        f"{MAX_ZIPPED / 1e6:.0f} / {MAX_UNZIPPED / 1e6:.0f} MB): {args.arch}, Python {args.python}, "
        f"{', '.join(requirements)}"
    )
    with zipfile.ZipFile(output) as archive:
        print(describe(archive.namelist(), python_version=args.python))
    return 0


def zip_sizes(path: Path) -> tuple[int, int]:
    """``(zipped, unzipped)`` bytes of a zip: what Lambda's two limits are checked against."""
    with zipfile.ZipFile(path) as archive:
        return path.stat().st_size, sum(info.file_size for info in archive.infolist())


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--quiet"], check=True)


def _copy_sources(stage: Path) -> None:
    """The function runtime and ``providers/aws`` (:func:`core.ops.packaging.runtime_files`): sources only."""
    for name, path in runtime_files("aws"):
        destination = stage / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    target = stage / "providers" / "__init__.py"
    if not target.exists():
        target.write_text("")  # a regular package in the zip: nothing else on Lambda's path can shadow it


def _write_zip(stage: Path, output: Path) -> int:
    """Write ``stage`` as a deterministic zip; return the unzipped size."""
    unzipped = 0
    files = []
    for path in sorted(stage.rglob("*")):
        parts = path.relative_to(stage).parts
        # pip --target puts console scripts in bin/ (useless in Lambda). The only pycs are the checked-hash
        # ones compile_directory wrote (pip ran with --no-compile): /var/task is read-only, so without them
        # every cold start compiles every module it imports.
        if path.is_file() and parts[0] != "bin":
            files.append(path)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(stage).as_posix(), date_time=_FIXED_TIME)
            # Lambda runs as a non-root user: files must be world-readable, shared objects executable.
            mode = 0o755 if path.suffix == ".so" or ".so." in path.name else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)  # zlib level 6: level 9 is 6x slower for <1% smaller
    return unzipped


if __name__ == "__main__":
    raise SystemExit(main())
