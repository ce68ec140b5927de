"""Root fixtures: environment hygiene, images, and the storage rigs every contract test runs on.

Provider rigs live in ``tests/fixtures/<cloud>.py``. Each declares ``RIG`` (the
backend name used in test ids) and ``REQUIRES`` (the SDK module). A rig whose
SDK is not installed is left out (the per-provider nox sessions install one
extra), unless ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1`` (CI, ``nox -s all``), where a
missing SDK is an error rather than a silently smaller matrix.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.storage import FilesystemStorage, MemoryStorage

TESTS = Path(__file__).parent
CORPUS = TESTS / "data" / "corpus"

LOCAL_RIGS = ["memory", "filesystem"]

#: rig name -> (fixture plugin module, SDK module it needs). Each plugin defines ``<rig>_store``.
PROVIDER_RIGS = {
    "s3": ("tests.fixtures.aws", "boto3"),
    "gcs": ("tests.fixtures.gcp", "google.cloud.storage"),
    "azure": ("tests.fixtures.azure", "azure.storage.blob"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _available_rigs() -> tuple[list[str], list[str]]:
    plugins, rigs = [], []
    require_all = os.environ.get("POLYTHUMB_REQUIRE_ALL_PROVIDERS") == "1"
    for rig, (plugin, sdk) in PROVIDER_RIGS.items():
        plugin_file = TESTS / "fixtures" / f"{plugin.rsplit('.', 1)[1]}.py"
        if not plugin_file.exists():
            continue  # that provider's tests are not written yet
        if not _installed(sdk):
            if require_all:
                raise RuntimeError(f"{sdk} is not installed but POLYTHUMB_REQUIRE_ALL_PROVIDERS=1 (rig {rig})")
            continue
        plugins.append(plugin)
        rigs.append(rig)
    return plugins, rigs


pytest_plugins, CLOUD_RIGS = _available_rigs()
STORAGE_RIGS = LOCAL_RIGS + CLOUD_RIGS


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No THUMBS_* setting leaks into or out of a test."""
    for name in list(os.environ):
        if name.startswith(("THUMBS_", "THUMBNAIL_")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def memory_store() -> MemoryStorage:
    return MemoryStorage("memory-bucket")


@pytest.fixture
def filesystem_store(tmp_path: Path) -> FilesystemStorage:
    return FilesystemStorage(tmp_path / "bucket")


@pytest.fixture(params=STORAGE_RIGS)
def store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh, empty bucket on each backend: memory, filesystem, and every installed cloud."""
    return request.getfixturevalue(f"{request.param}_store")
