"""The registry of test rigs: the local rig plus every ``tests/providers/<cloud>/rig.py``, found by discovery.

A rig module describes one platform to the shared suites (contract, end-to-end, reliability, backfill):
``NAME`` (the entrypoint id, e.g. the provider folder's name), ``STORES`` (the contract suite's storage
rig ids, each served by a ``<id>_store`` fixture), ``REQUIRES`` (the modules it needs: SDK, emulator,
function runtime) and the hooks each suite calls (see :class:`tests.rigs.base.RigModule`). It is also a
pytest plugin: its fixtures (emulators, buckets) are loaded by the root conftest.

No shared test names a provider: deleting ``providers/<cloud>/`` and ``tests/providers/<cloud>/`` removes
that cloud from every matrix. ``POLYTHUMB_RIGS=a,b`` keeps only those rigs (the per-provider nox
sessions); a rig whose modules are missing is left out, unless ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1``
(``nox -s all``, CI), where that is an error rather than a silently smaller matrix.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
LOCAL = "tests.rigs.local"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def discovered() -> list[str]:
    """Module names of every rig in the tree, local first, then providers by folder name."""
    providers = sorted((TESTS / "providers").glob("*/rig.py"))
    return [LOCAL, *(f"tests.providers.{path.parent.name}.rig" for path in providers)]


def _selected(name: str) -> bool:
    wanted = os.environ.get("POLYTHUMB_RIGS", "").strip()
    return not wanted or name in {part.strip() for part in wanted.split(",")}


@cache
def rigs() -> tuple[ModuleType, ...]:
    """The rig modules this run uses: discovered, selected, with their modules installed."""
    require_all = os.environ.get("POLYTHUMB_REQUIRE_ALL_PROVIDERS") == "1"
    found = []
    for module_name in discovered():
        module = importlib.import_module(module_name)
        if not _selected(module.NAME):
            continue
        missing = [name for name in module.REQUIRES if not _installed(name)]
        if missing:
            if require_all:
                raise RuntimeError(
                    f"rig {module.NAME} needs {', '.join(missing)} but POLYTHUMB_REQUIRE_ALL_PROVIDERS=1"
                )
            continue
        found.append(module)
    return tuple(found)


def names() -> list[str]:
    """Entrypoint ids of the rigs in use (``local`` and each provider), in report order."""
    return [module.NAME for module in rigs()]


def by_name(name: str) -> ModuleType:
    """The rig module whose ``NAME`` is ``name``."""
    for module in rigs():
        if name == module.NAME:
            return module
    raise LookupError(f"no rig {name!r} in this run (have {names()})")


def with_capability(capability: str) -> list[str]:
    """Entrypoint ids of the rigs in use whose module declares ``capability`` in ``CAPABILITIES`` (``serve``)."""
    return [module.NAME for module in rigs() if capability in getattr(module, "CAPABILITIES", ())]


def cloud_rigs() -> list[ModuleType]:
    """The provider rigs in use (every rig but the local one)."""
    return [module for module in rigs() if module.__name__ != LOCAL]


def store_ids() -> list[str]:
    """Storage rig ids of the contract suite (``memory``, ``filesystem`` and one per provider)."""
    return [store for module in rigs() for store in module.STORES]


def rig_of_store(store: str) -> ModuleType:
    """The rig module serving the contract suite's storage rig ``store``."""
    for module in rigs():
        if store in module.STORES:
            return module
    raise LookupError(f"no rig serves the store {store!r}")


def plugins() -> list[str]:
    """Pytest plugins of the rigs in use (their fixtures)."""
    return [module.__name__ for module in rigs()]


def emulator_gap(request: Any, gap: str) -> str | None:
    """Why the current ``store`` rig's emulator cannot do ``gap`` (a strict xfail there), or None.

    A rig module lists what its emulator falls short of, against the real cloud, in ``EMULATOR_GAPS``.
    """
    module = rig_of_store(str(request.node.callspec.params["store"]))
    gaps: dict[str, str] = getattr(module, "EMULATOR_GAPS", {})
    return gaps.get(gap)


def secret_shapes() -> dict[str, tuple[str, str]]:
    """Every cloud's credential shapes (``SECRET_SHAPES`` of every rig module in the tree, installed or not).

    Redaction is the core's and needs no SDK, so it is checked on every shape a provider in the tree declares.
    """
    shapes: dict[str, tuple[str, str]] = {}
    for module_name in discovered():
        shapes.update(getattr(importlib.import_module(module_name), "SECRET_SHAPES", {}))
    return shapes
