"""``polythumb package gcp``: the zip Cloud Functions builds from, unpacked and imported in a clean interpreter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from core.ops.bytecode import interpreter_for
from core.ops.cli import main as polythumb
from providers.gcp.packaging import DEFAULT_PYTHON, ENTRY_POINTS, build_archive, requirements_txt
from tests.bytecode_support import assert_sound_bytecode

# Runs inside the unpacked archive with only that folder and site-packages on sys.path (python -S: no
# .pth files, so not even an editable install of the repository can leak in).
IMPORT_CHECK = r"""
import json, os, sys
import main
import functions_framework
from functions_framework import _function_registry as registry
import core, providers.gcp.main

here = os.getcwd()
app = functions_framework.create_app(target="handle_cloud_event", source="main.py", signature_type="cloudevent")
attrs = {"ce-id": "1", "ce-specversion": "1.0", "ce-type": "google.cloud.storage.object.v1.metadataUpdated",
         "ce-source": "//storage.googleapis.com/projects/_/buckets/b"}
answer = app.test_client().post("/", headers=attrs, json={"bucket": "b", "name": "x.jpg"})
print(json.dumps({
    "signature": registry.REGISTRY_MAP.get("handle_cloud_event"),
    "callables": [callable(getattr(main, name, None)) for name in ("handle_cloud_event", "handle_legacy_event")],
    "core_inside": os.path.realpath(core.__file__).startswith(here),
    "provider_inside": os.path.realpath(providers.gcp.main.__file__).startswith(here),
    "dest": main.RUNTIME.config.dest_bucket,
    "status": answer.status_code,
}))
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "polythumb-gcp.zip"
    assert polythumb(["package", "gcp", "--out", str(out)]) == 0
    return out


def test_archive_layout(archive: Path) -> None:
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"main.py", "requirements.txt", "core/__init__.py", "core/pipeline.py", "providers/__init__.py",
            "providers/gcp/__init__.py", "providers/gcp/main.py", "providers/gcp/storage.py"} <= names  # fmt: skip
    assert not [n for n in names if n.endswith(".tf") or n.startswith("tests/")]
    # Bytecode for the runtime's Python, for every module, wherever this machine has that Python.
    complete = ("core/", "providers/", "main.py", "function_app.py") if interpreter_for(DEFAULT_PYTHON) else ()
    assert_sound_bytecode(sorted(names), python_version=DEFAULT_PYTHON, complete_for=complete)
    assert not [n for n in names if n.startswith("providers/") and not n.startswith(("providers/gcp/", "providers/__"))]


def test_requirements_pin_exact_versions(archive: Path) -> None:
    lines = [
        line for line in zipfile.ZipFile(archive).read("requirements.txt").decode().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.+!-]*", line), line
    names = {line.split("==")[0].lower() for line in lines}
    assert {"pillow", "google-cloud-storage", "functions-framework", "google-api-core", "flask"} <= names


def _pinned_names(text: str) -> set[str]:
    return {line.split("==")[0].lower().replace("_", "-") for line in text.splitlines() if "==" in line}


def test_requirements_carry_the_fast_engines_by_default(archive: Path) -> None:
    names = _pinned_names(zipfile.ZipFile(archive).read("requirements.txt").decode())
    # libvips (pyvips + the manylinux libvips of pyvips-binary, through cffi) and HEIC, as `.[fast,heif]` locally.
    assert {"pillow", "pillow-heif", "pyvips", "pyvips-binary", "cffi"} <= names


def test_engine_pillow_pins_pillow_only(tmp_path: Path) -> None:
    out = tmp_path / "minimal.zip"
    assert polythumb(["package", "gcp", "--engine", "pillow", "--out", str(out)]) == 0
    names = _pinned_names(zipfile.ZipFile(out).read("requirements.txt").decode())
    assert "pillow" in names and {"google-cloud-storage", "functions-framework"} <= names
    assert not names & {"pillow-heif", "pyvips", "pyvips-binary"}
    with_heif = _pinned_names(requirements_txt(engine="pillow", heif=True))
    assert "pillow-heif" in with_heif and not with_heif & {"pyvips", "pyvips-binary"}


def test_requirements_are_resolved_for_the_target_runtime() -> None:
    # gunicorn is only required where platform_system != "Windows": the Linux runtime needs it.
    assert "gunicorn==" in requirements_txt(python="3.11")


def test_archive_is_reproducible(archive: Path, tmp_path: Path) -> None:
    again = build_archive(tmp_path / "again.zip")
    assert again.read_bytes() == archive.read_bytes()


def test_unpacked_archive_imports_the_target_in_a_clean_interpreter(archive: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "source"
    zipfile.ZipFile(archive).extractall(unpacked)
    site_packages = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(unpacked), site_packages]),
        "THUMBS_DEST_BUCKET": "thumbs",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", IMPORT_CHECK], cwd=unpacked, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "signature": "cloudevent",
        "callables": [True, True],
        "core_inside": True,
        "provider_inside": True,
        "dest": "thumbs",
        "status": 200,
    }


def test_entry_points_are_the_targets_of_the_generated_main(archive: Path) -> None:
    generated = zipfile.ZipFile(archive).read("main.py").decode()
    for name in ENTRY_POINTS:
        assert name in generated


def test_a_missing_distribution_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from providers.gcp import packaging

    monkeypatch.setattr(packaging, "RUNTIME_DISTRIBUTIONS", ("polythumb-no-such-distribution",))
    assert packaging.main(["--out", str(tmp_path / "x.zip")]) == 2
    assert "pip install '.[gcp]'" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_with_otel_pins_the_export_s_distributions_and_what_they_pull_in(tmp_path: Path) -> None:
    """THUMBS_OTEL=otlp needs the SDK installed by the cloud's build; the default archive never asks for it."""
    # (google-cloud-storage itself pulls in opentelemetry-api: the API only, no SDK, no exporter)
    assert not {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"} & _pinned_names(requirements_txt())
    with_otel = _pinned_names(requirements_txt(otel=True))
    assert {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "opentelemetry-api",
            "opentelemetry-proto"} <= with_otel  # fmt: skip
    out = tmp_path / "otel.zip"
    assert polythumb(["package", "gcp", "--with-otel", "--out", str(out)]) == 0
    assert with_otel == _pinned_names(zipfile.ZipFile(out).read("requirements.txt").decode())
