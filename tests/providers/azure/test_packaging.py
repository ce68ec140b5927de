"""`polythumb package azure`: the zip loads in a clean interpreter and works, from the zip alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.ops.bytecode import interpreter_for
from core.ops.cli import main as polythumb
from providers.azure import packaging
from tests.bytecode_support import assert_sound_bytecode
from tests.images import jpeg_bytes
from tests.providers.azure.delivery import blob_event
from tests.providers.azure.emulator import Azurite

PROVIDER = Path(packaging.__file__).parent

# Runs inside the unpacked zip, in a fresh interpreter: index the app the way the Python worker does
# (import `function_app`, find the single FunctionApp attribute), then invoke on_event_grid once.
PROBE = r"""
import importlib, json, sys, typing
import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

module = importlib.import_module("function_app")
apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
assert len(apps) == 1, apps
functions = {f.get_function_name(): f for f in apps[0].get_functions()}
report = {
    "functions": {name: json.loads(f.get_function_json()) for name, f in functions.items()},
    "hints": {name: {k: getattr(v, "__name__", str(v)) for k, v in typing.get_type_hints(f.get_user_function()).items()}
              for name, f in functions.items()},
    "core": importlib.import_module("core").__file__,
    "provider": importlib.import_module("providers.azure").__file__,
    "sys_path": sys.path,
}
event = EventGridEventInConverter.decode(meta.Datum(sys.argv[1], "json"), trigger_metadata={})
functions["on_event_grid"].get_user_function()(event, None)  # no host: no invocation context to continue
print("REPORT " + json.dumps(report))
"""


@pytest.fixture
def built(tmp_path: Path) -> Path:
    out = tmp_path / "dist" / "polythumb-azure.zip"
    assert polythumb(["package", "azure", "--out", str(out)]) == 0  # through the real CLI
    return out


def test_zip_layout(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        shim = archive.read("function_app.py").decode()
    assert {"function_app.py", "host.json", "requirements.txt"} <= names
    assert {"core/pipeline.py", "core/imaging/render.py", "providers/azure/function_app.py",
            "providers/azure/storage.py", "providers/azure/events.py"} <= names  # fmt: skip
    assert not any("deploy/" in n or n.endswith(".tf") for n in names)
    # Bytecode for the runtime's Python, for every module, wherever this machine has that Python.
    complete = (
        ("core/", "providers/", "main.py", "function_app.py") if interpreter_for(packaging.DEFAULT_PYTHON) else ()
    )
    assert_sound_bytecode(sorted(names), python_version=packaging.DEFAULT_PYTHON, complete_for=complete)
    assert not any(n.startswith(("providers/aws", "providers/gcp", "tests/")) for n in names)
    assert ("providers/__init__.py" in names) == (PROVIDER.parent / "__init__.py").exists()
    assert "from providers.azure.function_app import app" in shim


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"not pinned: {line}"
            pins[name.lower()] = version
    return pins


def test_zip_carries_the_fast_engines_and_engine_pillow_drops_them(built: Path, tmp_path: Path) -> None:
    default = _pins(zipfile.ZipFile(built).read("requirements.txt").decode())
    assert {"pillow", "pillow-heif", "pyvips", "pyvips-binary"} <= default.keys()
    minimal_zip = tmp_path / "minimal.zip"
    assert polythumb(["package", "azure", "--engine", "pillow", "--out", str(minimal_zip)]) == 0
    minimal = _pins(zipfile.ZipFile(minimal_zip).read("requirements.txt").decode())
    assert minimal == {name: version for name, version in default.items()
                       if name not in {"pillow-heif", "pyvips", "pyvips-binary"}}  # fmt: skip
    assert "pillow" in minimal and "azure-storage-blob" in minimal


def test_zip_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    packaging.build_zip(first)
    packaging.build_zip(second)
    assert first.read_bytes() == second.read_bytes()


def test_packaged_app_loads_and_runs_in_a_clean_interpreter(
    built: Path, tmp_path: Path, azurite: Azurite, azure_service: Any, new_container: Callable[..., str]
) -> None:
    app_dir = tmp_path / "wwwroot"
    with zipfile.ZipFile(built) as archive:
        archive.extractall(app_dir)
    source, dest = new_container("src"), new_container("thumbs")
    blob = azure_service.get_blob_client(source, "packaged/red flower.jpg")
    blob.upload_blob(jpeg_bytes())
    event = blob_event(source, "packaged/red flower.jpg", schema="cloudevents",
                       properties=blob.get_blob_properties(), url=blob.url)  # fmt: skip

    site_packages = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(app_dir), site_packages]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AzureWebJobsStorage": azurite.connection_string,
        "THUMBS_SOURCE_CONTAINER": source,
        "THUMBS_DEST_BUCKET": dest,
        "THUMBS_SIZES": "48x48",
    }
    # -S: no site module, so no .pth file (an editable install of this repo) can put the sources on sys.path.
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, json.dumps(event)],
        cwd=app_dir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))[7:])

    assert report["core"].startswith(str(app_dir))
    assert report["provider"].startswith(str(app_dir))
    assert str(Path(packaging.__file__).parents[2]) not in report["sys_path"]
    assert report["functions"] == {
        "on_event_grid": {"scriptFile": "function_app.py",
                          "bindings": [{"direction": "IN", "type": "eventGridTrigger", "name": "event"}]},
        "on_blob": {"scriptFile": "function_app.py",
                    "bindings": [{"direction": "IN", "type": "blobTrigger", "name": "blob",
                                  "path": "%THUMBS_SOURCE_CONTAINER%/{name}", "connection": "AzureWebJobsStorage",
                                  "source": "EventGrid"}]},
        "on_backfill_queue": {"scriptFile": "function_app.py",
                              "bindings": [{"direction": "IN", "type": "queueTrigger", "name": "message",
                                            "queueName": "polythumb-backfill", "connection": "AzureWebJobsStorage"}]},
        # Issue 23: the HTTP trigger of the serve path (disabled by the Terraform unless serve = true).
        "serve_http": {"scriptFile": "function_app.py",
                       "bindings": [{"direction": "IN", "type": "httpTrigger", "name": "request",
                                     "authLevel": "ANONYMOUS", "route": "thumbs/{*path}"},
                                    {"direction": "OUT", "type": "http", "name": "$return"}]},
    }  # fmt: skip
    assert report["hints"]["serve_http"] == {"request": "HttpRequest", "return": "HttpResponse"}
    assert report["hints"]["on_event_grid"]["event"] == "EventGridEvent"
    assert report["hints"]["on_blob"]["blob"] == "InputStream"
    # The worker passes its invocation context to a parameter named `context` only if annotated azure.functions.Context.
    assert {name: hints.get("context") for name, hints in report["hints"].items()} == {
        "on_event_grid": "Context", "on_blob": "Context", "on_backfill_queue": "Context", "serve_http": None,
    }  # fmt: skip
    # It really ran, from the zip alone: the thumbnail is in the destination container.
    names = [b.name for b in azure_service.get_container_client(dest).list_blobs()]
    assert names == ["packaged/red flower-48x48.jpg"]


def test_requirements_are_pinned_and_agree_with_pyproject() -> None:
    import tomllib

    from packaging.requirements import Requirement

    pins = _pins((PROVIDER / "requirements.txt").read_text())
    # Everything the packaged code imports at run time is pinned.
    assert {"azure-functions", "azure-core", "azure-storage-blob", "azure-identity", "pillow", "pillow-heif",
            "pyvips", "pyvips-binary"} <= pins.keys()  # fmt: skip

    project = tomllib.loads((PROVIDER.parents[1] / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["azure"],
                *project["optional-dependencies"]["heif"], *project["optional-dependencies"]["fast"]]  # fmt: skip
    for requirement in map(Requirement, declared):
        name = requirement.name.lower()
        if name in pins:
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} violates {requirement}"


def test_host_json_settings() -> None:
    host = json.loads((PROVIDER / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["functionTimeout"] == "00:05:00"
    assert host["extensions"]["queues"]["maxDequeueCount"] == 5  # blob-trigger retries before the poison queue
    assert "Exception" in host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"]
    # polythumb's JSON lines go to stdout, which the host logs under Host.Function.Console: keep them.
    levels = host["logging"]["logLevel"]
    assert levels["Host.Function.Console"] == "Information" and levels["default"] == "Warning"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"].startswith("[4.")  # Event Grid-sourced blob trigger needs 4.x
    assert "retry" not in host  # not supported for Event Grid / blob triggers: Event Grid and the queue retry


def test_with_otel_pins_the_export_s_distributions_as_tested(tmp_path: Path) -> None:
    """THUMBS_OTEL=otlp needs the SDK installed by the remote build; the default zip never asks for it."""
    import importlib.metadata

    from core.ops.packaging import OTEL_DISTRIBUTIONS

    assert not [name for name in _pins(packaging.requirements_txt("fast")) if name.startswith("opentelemetry")]
    out = tmp_path / "otel.zip"
    assert polythumb(["package", "azure", "--with-otel", "--out", str(out)]) == 0
    pins = _pins(zipfile.ZipFile(out).read("requirements.txt").decode())
    assert {name: pins[name] for name in OTEL_DISTRIBUTIONS} == {
        name: importlib.metadata.version(name) for name in OTEL_DISTRIBUTIONS
    }
    assert pins.keys() - OTEL_DISTRIBUTIONS.keys() == _pins(packaging.requirements_txt("fast")).keys()


def test_a_python_that_is_no_version_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "app.zip"
    with pytest.raises(SystemExit) as exited:
        packaging.main(["--python", "3.1x", "--out", str(out)])
    assert exited.value.code == 2
    assert "'3.1x' is not a Python version such as 3.11" in capsys.readouterr().err
    assert not out.exists()
