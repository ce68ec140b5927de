"""Root fixtures: environment hygiene, and the rigs every shared suite runs on.

Rigs are discovered (see :mod:`tests.rigs`): the local rig and every ``tests/providers/<cloud>/rig.py``.
Each rig module is loaded as a plugin (its emulator and bucket fixtures) when its modules are installed;
``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1`` (CI, ``nox -s all``) makes a missing one an error rather than a
silently smaller matrix, and ``POLYTHUMB_RIGS`` selects rigs by name (the per-provider nox sessions).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The rig modules (and the helpers they import) load before pytest collects anything: have their asserts
# rewritten like a test module's.
pytest.register_assert_rewrite("tests.rigs", "tests.providers", "tests.contract", "tests.reliability", "tests.images")

from tests import rigs  # noqa: E402 - after the rewrite hook is registered
from tests.log_capture import JsonLogs  # noqa: E402

TESTS = Path(__file__).parent
CORPUS = TESTS / "data" / "corpus"

pytest_plugins = ["tests.rigs.plugin", *rigs.plugins()]

#: Storage rig ids of the contract suite, every rig in use: ``memory``, ``filesystem`` and one per cloud.
STORAGE_RIGS = rigs.store_ids()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No THUMBS_* setting leaks into or out of a test."""
    for name in list(os.environ):
        if name.startswith(("THUMBS_", "THUMBNAIL_")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(autouse=True)
def _private_backfill_checkpoints(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A backfill run in the test process keeps its default checkpoint in a folder of the test's own (made only
    when written), not in the developer's cache. (Not ``XDG_CACHE_HOME``: pip and matplotlib read it too.)"""
    from core.ops.backfill import job

    private = tmp_path_factory.getbasetemp() / "backfill-cache" / uuid.uuid4().hex
    monkeypatch.setattr(job, "checkpoint_directory", lambda environ=None: private)


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """polythumb's log lines during the test (see :mod:`tests.log_capture`)."""
    capture = JsonLogs().attach()
    try:
        yield capture
    finally:
        capture.detach()


@pytest.fixture(params=STORAGE_RIGS)
def store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh, empty bucket on each backend: memory, filesystem, and every installed cloud."""
    return request.getfixturevalue(f"{request.param}_store")
