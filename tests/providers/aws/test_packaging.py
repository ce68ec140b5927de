"""`polythumb package aws`: the Lambda zip holds the code and the Linux imaging engines, and nothing it must not."""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.ops.cli import main as cli_main
from providers.aws import packaging
from tests.bytecode_support import assert_sound_bytecode

#: Above today's 21.7 MB (arm64; Pillow, pillow-heif and libvips are most of it), well below Lambda's 50 MB
#: upload limit; the unzipped bound (today 58-69 MB) leaves Lambda's 250 MB for layers and growth.
MAX_ZIP_BYTES = 30 * 10**6
MAX_UNZIPPED_BYTES = 100 * 10**6
HEIC = Path(__file__).parents[2] / "data" / "corpus" / "heic-hevc.heic"
#: Top-level entries only the default (fast) engine brings: libvips, its cffi binding, pillow-heif.
FAST_ENGINE_TOPS = {"pyvips", "pyvips_binary.libs", "_libvips.abi3.so", "pillow_heif", "pillow_heif.libs", "cffi",
                    "_cffi_backend.cpython-312-aarch64-linux-gnu.so"}  # fmt: skip


def wheelhouse_for(request: pytest.FixtureRequest, arch: str, python_version: str) -> Path:
    """Linux wheels for ``arch``/``python_version``, downloaded once into pytest's cache directory.

    The download is the one network access of the suite (the package index only, the imaging engines only);
    later runs find the wheels in the cache and build offline.
    """
    cache = request.config.cache
    root = cache.mkdir("polythumb-aws-wheels") if cache is not None else request.getfixturevalue("tmp_path")
    wheelhouse = Path(root) / f"{arch}-py{python_version}"
    machine = "aarch64" if arch == "arm64" else "x86_64"
    wanted = []
    for requirement in packaging.native_requirements():
        name, _, version = requirement.partition("==")
        wanted.append(f"{name.lower().replace('-', '_')}-{version or '*'}-*")
    present = {path.name.lower() for path in wheelhouse.glob("*.whl")}
    complete = all(
        any(fnmatch.fnmatch(name, pattern + ".whl") and (machine in name or "none-any" in name) for name in present)
        for pattern in wanted
    )
    if not complete:
        packaging.download_wheels(
            wheelhouse, arch=arch, python_version=python_version, requirements=packaging.native_requirements()
        )
    return wheelhouse


@pytest.fixture
def arm64_wheels(request: pytest.FixtureRequest) -> Path:
    return wheelhouse_for(request, "arm64", "3.12")


@pytest.mark.slow
def test_arm64_zip_contents_and_size(arm64_wheels: Path, tmp_path: Path) -> None:
    output = tmp_path / "fn.zip"
    assert packaging.main(["--arch", "arm64", "--python", "3.12", "--wheelhouse", str(arm64_wheels),
                           "--output", str(output)]) == 0  # fmt: skip
    assert output.stat().st_size < MAX_ZIP_BYTES
    assert packaging.zip_sizes(output)[1] < MAX_UNZIPPED_BYTES

    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
        infos = {info.filename: info for info in archive.infolist()}
        archive.extractall(tmp_path / "unzipped")
    tops = {name.split("/", 1)[0] for name in names}
    assert {"core", "providers", "PIL"} <= tops
    for required in ("core/__init__.py", "core/pipeline.py", "core/imaging/render.py", "providers/__init__.py",
                     "providers/aws/__init__.py", "providers/aws/handler.py", "providers/aws/events.py",
                     "providers/aws/storage.py"):  # fmt: skip
        assert required in names, required
    shared_objects = [n for n in names if n.startswith("PIL/") and n.endswith(".so")]
    assert any("_imaging.cpython-312-aarch64-linux-gnu.so" in n for n in shared_objects), shared_objects
    assert all("aarch64" in n for n in shared_objects)
    # The default engine set: libvips (bundled by pyvips-binary, reached through cffi) and pillow-heif.
    assert tops >= FAST_ENGINE_TOPS, FAST_ENGINE_TOPS - tops
    assert "pyvips/__init__.py" in names and "pillow_heif/__init__.py" in names
    assert any(n.startswith("pyvips_binary.libs/libvips-") for n in names)
    elf_machines = {_elf_machine(archive_bytes) for archive_bytes in _shared_objects(output)}
    assert elf_machines == {"aarch64"}, elf_machines  # every native library is built for Lambda's CPU
    assert not tops & {"boto3", "botocore", "s3transfer", "tests", "bin"}
    assert not [n for n in names if "/deploy/" in n or n.endswith(".tf")]
    assert_sound_bytecode(names, python_version="3.12")  # present only where this machine has a Python 3.12
    assert "providers/aws/packaging.py" not in names  # build-time only
    # Lambda runs as an unprivileged user: everything readable, shared objects executable.
    assert all(infos[n].external_attr >> 16 & 0o444 == 0o444 for n in names)
    assert all(infos[n].external_attr >> 16 & 0o111 for n in shared_objects)


def _shared_objects(path: Path) -> list[bytes]:
    """The first 20 bytes (ELF header) of every shared object in the zip."""
    with zipfile.ZipFile(path) as archive:
        return [archive.open(name).read(20) for name in archive.namelist() if name.endswith(".so") or ".so." in name]


def _elf_machine(header: bytes) -> str:
    assert header[:4] == b"\x7fELF", header[:4]
    return {0x3E: "x86_64", 0xB7: "aarch64"}.get(int.from_bytes(header[18:20], "little"), "other")


@pytest.mark.slow
def test_engine_pillow_builds_the_minimal_zip(arm64_wheels: Path, tmp_path: Path) -> None:
    full, minimal = tmp_path / "fast.zip", tmp_path / "pillow.zip"
    assert packaging.main(["--wheelhouse", str(arm64_wheels), "--output", str(full)]) == 0
    assert packaging.main(["--engine", "pillow", "--wheelhouse", str(arm64_wheels), "--output", str(minimal)]) == 0
    with zipfile.ZipFile(minimal) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert {"core", "providers", "PIL", "pillow.libs"} <= tops
    assert not tops & FAST_ENGINE_TOPS, tops & FAST_ENGINE_TOPS
    assert not [top for top in tops if top.startswith(("pyvips", "pillow_heif", "cffi"))]
    assert minimal.stat().st_size < full.stat().st_size / 2


@pytest.mark.slow
def test_the_zip_is_reproducible(arm64_wheels: Path, tmp_path: Path) -> None:
    digests = []
    for name in ("a.zip", "b.zip"):
        output = tmp_path / name
        assert packaging.main(["--wheelhouse", str(arm64_wheels), "--output", str(output)]) == 0
        digests.append(hashlib.sha256(output.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.slow
def test_cli_builds_the_default_zip(arm64_wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["package", "aws", "--wheelhouse", str(arm64_wheels)]) == 0
    assert (tmp_path / packaging.default_output("arm64", "3.12")).is_file()


@pytest.mark.slow
def test_a_zip_for_this_machine_imports_and_renders_without_boto3(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Unzipped and run by a bare interpreter (no site-packages): the zip alone must be enough."""
    arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if arch is None or sys.platform != "linux" or python_version not in packaging.PYTHON_VERSIONS:
        pytest.skip(f"needs Linux on x86_64/aarch64 and a Lambda Python, not {platform.machine()} {python_version}")
    wheels = wheelhouse_for(request, arch, python_version)
    output = tmp_path / "native.zip"
    assert packaging.main(["--arch", arch, "--python", python_version, "--wheelhouse", str(wheels),
                           "--output", str(output)]) == 0  # fmt: skip
    root = tmp_path / "task"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(root)
        # Built by this very Python: everything ships compiled (Lambda's /var/task is read-only).
        assert_sound_bytecode(
            archive.namelist(), python_version=python_version, complete_for=("core/", "providers/", "PIL/")
        )
    script = f"""
import io, json, sys
sys.path.insert(0, {str(root)!r})
import PIL
assert PIL.__file__.startswith({str(root)!r}), PIL.__file__
try:
    import boto3
except ImportError:
    pass
else:
    raise SystemExit("boto3 must not be importable here")
from PIL import Image
from core.imaging import Box, Fit, render_thumbnails
buffer = io.BytesIO()
Image.new("RGB", (320, 200), (200, 30, 30)).save(buffer, "JPEG")
[thumb] = render_thumbnails(buffer.getvalue(), boxes=[Box(64, 64)], fit=Fit.CONTAIN, format="webp",
                            quality=None, strip_metadata=True, max_pixels=10**8)
assert (thumb.width, thumb.height) == (64, 40), (thumb.width, thumb.height)
# The engines a local install picks from are in the zip: libvips for a large PNG, pillow-heif for HEIC.
import pyvips, pillow_heif
assert pyvips.__file__.startswith({str(root)!r}) and pillow_heif.__file__.startswith({str(root)!r})
from core.imaging.engine import engine_for
from core.imaging.types import Box as B
png = io.BytesIO()
Image.new("RGB", (1200, 900), (10, 120, 30)).save(png, "PNG")
assert engine_for(png.getvalue(), boxes=[B(256, 256)], fit=Fit.CONTAIN, max_pixels=10**8) == "vips"
[heic] = render_thumbnails(open({str(HEIC)!r}, "rb").read(), boxes=[Box(64, 64)], fit=Fit.CONTAIN, format="webp",
                           quality=None, strip_metadata=True, max_pixels=10**8)
assert heic.width == 64, heic.width
from providers.aws.handler import build_handler
handler = build_handler({{"THUMBS_DEST_BUCKET": "thumbs"}})
event = {{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-01-01T00:00:00Z", "Bucket": "b"}}
print(json.dumps(handler(event, None)))
"""
    environ = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-S", "-v", "-c", script]  # -v: which bytecode each import used
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=environ)
    assert result.returncode == 0, result.stderr[-3000:]
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    assert f"core/__pycache__/pipeline.{tag}.pyc matches" in result.stderr  # the shipped pyc, not a compile
    assert result.stdout.strip().splitlines()[-1] == '{"outcomes": []}'


def test_missing_wheels_fail_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "wheels"
    empty.mkdir()
    assert packaging.main(["--wheelhouse", str(empty), "--output", str(tmp_path / "fn.zip")]) == 1
    error = capsys.readouterr().err
    assert "Pillow" in error and "arm64" in error and str(empty) in error
    assert not (tmp_path / "fn.zip").exists()


def test_pip_is_asked_for_lambda_platforms_not_this_machine() -> None:
    args = packaging.pip_platform_args("arm64", "3.12")
    assert args[:1] == ["--only-binary=:all:"]
    assert "manylinux2014_aarch64" in args and "manylinux_2_28_aarch64" in args
    assert args[args.index("--python-version") + 1] == "3.12" and args[args.index("--abi") + 1] == "cp312"
    assert not any("boto" in r for r in packaging.native_requirements(with_heif=True))


def test_with_otel_adds_the_export_s_distributions_pinned_as_tested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """THUMBS_OTEL=otlp on Lambda needs the SDK in the zip; the default zip never carries it."""
    from core.ops.packaging import OTEL_DISTRIBUTIONS

    otel = [f"{name}=={importlib.metadata.version(name)}" for name in OTEL_DISTRIBUTIONS]
    assert not [r for r in packaging.native_requirements() if r.startswith("opentelemetry")]
    assert packaging.native_requirements(with_otel=True)[-2:] == otel

    asked: list[list[str]] = []

    def build_zip(output: Path, **options: object) -> Path:
        asked.append(list(options["requirements"]))  # type: ignore[call-overload]
        raise RuntimeError("stop here: the wheels are not downloaded in this test")

    monkeypatch.setattr(packaging, "build_zip", build_zip)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    assert packaging.main(["--with-otel", "--wheelhouse", str(wheels), "--output", str(tmp_path / "fn.zip")]) == 1
    assert asked[0][-2:] == otel
