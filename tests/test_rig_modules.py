"""Every rig module in the tree provides what :class:`tests.rigs.base.RigModule` says, and every provider's
what :class:`tests.rigs.base.CloudRigModule` says: names, value types and call signatures, so the protocol
the suites are written against cannot drift from the modules they run on."""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import pytest

from tests import rigs
from tests.rigs.base import CloudRigModule, RigModule


def _members(protocol: type) -> tuple[dict[str, Any], dict[str, Callable[..., Any]]]:
    """The data members (with their types) and the methods a protocol class declares, its bases' included."""
    hints = typing.get_type_hints(protocol)
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(protocol.__mro__):
        if getattr(klass, "_is_protocol", False) and klass is not typing.Protocol:
            methods.update({name: value for name, value in vars(klass).items()
                            if inspect.isfunction(value) and not name.startswith("_")})  # fmt: skip
    return hints, methods


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin is tuple:
        args = typing.get_args(hint)
        return isinstance(value, tuple) and (len(args) != 2 or args[1] is not Ellipsis
                                             or all(isinstance(item, args[0]) for item in value))  # fmt: skip
    if origin is Mapping:
        return isinstance(value, Mapping)
    return isinstance(value, origin)


def _shape(function: Callable[..., Any], *, method: bool) -> list[tuple[str, Any, bool]]:
    """Parameter names, kinds and whether each has a default (not annotations: those are the type checker's)."""
    parameters = list(inspect.signature(function).parameters.values())[1 if method else 0 :]
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty) for p in parameters]


def gaps(module: ModuleType, protocol: type) -> list[str]:
    """How ``module`` falls short of ``protocol`` (empty when it satisfies it)."""
    hints, methods = _members(protocol)
    found = []
    for name, hint in hints.items():
        if not hasattr(module, name):
            found.append(f"{name}: missing")
        elif not _fits(getattr(module, name), hint):
            found.append(f"{name}: {getattr(module, name)!r} is not a {hint}")
    for name, declared in methods.items():
        provided = getattr(module, name, None)
        if not callable(provided):
            found.append(f"{name}(): missing")
        elif _shape(provided, method=False) != _shape(declared, method=True):
            found.append(f"{name}{inspect.signature(provided)} is not {name}{inspect.signature(declared)}")
    return found


@pytest.mark.parametrize("name", rigs.discovered())
def test_every_rig_module_satisfies_its_protocol(name: str) -> None:
    module = importlib.import_module(name)
    protocol = RigModule if name == rigs.LOCAL else CloudRigModule
    assert gaps(module, protocol) == []
    if protocol is CloudRigModule:
        assert sorted(module.SAMPLES.glob("*.json")), f"{name}: no vendor samples in {module.SAMPLES}"


def test_a_module_that_drifts_from_the_protocol_is_caught() -> None:
    local = importlib.import_module(rigs.LOCAL)
    drifted = ModuleType("drifted")
    drifted.__dict__.update({name: getattr(local, name) for name in ("NAME", "STORES", "entrypoint", "backfill")})
    drifted.REQUIRES = ["a list"]  # type: ignore[attr-defined]
    drifted.record_requests = lambda request, log: None  # type: ignore[attr-defined]
    assert gaps(drifted, RigModule) == [
        "REQUIRES: ['a list'] is not a tuple[str, ...]",
        "record_requests(request, log) is not record_requests(self, request: 'pytest.FixtureRequest', "
        "monkeypatch: 'pytest.MonkeyPatch', log: 'RequestLog') -> 'AbstractContextManager[None]'",
    ]
    assert "RETRY: missing" in gaps(local, CloudRigModule)
