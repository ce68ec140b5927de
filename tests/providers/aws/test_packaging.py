"""`polythumb package aws`: the Lambda zip holds the code and Linux Pillow, and nothing it must not."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.ops.cli import main as cli_main
from providers.aws import packaging

#: Well above today's 6.6 MB (Pillow for aarch64 is most of it), well below Lambda's 50 MB upload limit.
MAX_ZIP_BYTES = 30 * 10**6


def wheelhouse_for(request: pytest.FixtureRequest, arch: str, python_version: str) -> Path:
    """Linux wheels for ``arch``/``python_version``, downloaded once into pytest's cache directory.

    The download is the one network access of the suite (the package index only, Pillow only); later runs
    find the wheels in the cache and build offline.
    """
    cache = request.config.cache
    root = cache.mkdir("polythumb-aws-wheels") if cache is not None else request.getfixturevalue("tmp_path")
    wheelhouse = Path(root) / f"{arch}-py{python_version}"
    [requirement] = packaging.native_requirements()
    version = requirement.partition("==")[2] or "*"
    machine = "aarch64" if arch == "arm64" else "x86_64"
    tag = "cp" + python_version.replace(".", "")
    if not list(wheelhouse.glob(f"pillow-{version}-{tag}-{tag}-*{machine}*.whl")):
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
    assert not tops & {"boto3", "botocore", "s3transfer", "tests", "bin"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/deploy/" in n or n.endswith(".tf")]
    assert "providers/aws/packaging.py" not in names  # build-time only
    # Lambda runs as an unprivileged user: everything readable, shared objects executable.
    assert all(infos[n].external_attr >> 16 & 0o444 == 0o444 for n in names)
    assert all(infos[n].external_attr >> 16 & 0o111 for n in shared_objects)


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
from providers.aws.handler import build_handler
handler = build_handler({{"THUMBS_DEST_BUCKET": "thumbs"}})
event = {{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-01-01T00:00:00Z", "Bucket": "b"}}
print(json.dumps(handler(event, None)))
"""
    result = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
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
