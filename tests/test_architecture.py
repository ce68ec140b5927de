"""The shape of the code: no import cycle, the function runtime apart from the tools, no cloud named in core.

The import graph is read from the sources (every ``import`` statement, those inside functions included, so
lazy imports count). Those under ``if TYPE_CHECKING:`` never run, so what a package carries leaves them out;
but a circle through them is still two modules that cannot be read apart, so the cycle check counts them,
in ``core``, ``providers`` and ``benchmarks``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import registry
from core.ops.packaging import import_graph, runtime_files
from core.reports.facts import reporting

ROOT = Path(__file__).resolve().parents[1]
#: Every package of the repository whose imports must form no circle (types included).
PACKAGES = ("core", "providers", "benchmarks")
#: Operator tools (what a person runs) and repository tools (reports, models): the runtime never imports them.
TOOLS = ("core.ops", "core.reports")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def is_tool(module: str) -> bool:
    return any(module == tool or module.startswith(tool + ".") for tool in TOOLS)


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking_blocks() -> None:
    graph = import_graph()
    assert "core.imaging.vips_engine" in graph["core.imaging.engine"]  # imported inside a function
    assert "core.runtime" not in graph["core.delivery"]  # imported under TYPE_CHECKING only
    assert "core.ops.backfill.cli" in graph["core.ops.cli"]  # "from core.ops.backfill import cli"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycle_even_counting_type_only_imports() -> None:
    assert cycles(import_graph(packages=PACKAGES, types=True)) == []


def test_the_graph_with_types_reads_type_checking_blocks_and_the_benchmarks() -> None:
    graph = import_graph(packages=PACKAGES, types=True)
    assert "core.runtime" in graph["core.delivery"]  # imported under TYPE_CHECKING only
    assert "benchmarks.report" in graph["benchmarks.formats"]
    assert "providers.aws.storage" in graph


def test_a_circle_made_only_of_type_imports_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n")
    assert cycles(import_graph(tmp_path, packages=["pkg"])) == []
    assert cycles(import_graph(tmp_path, packages=["pkg"], types=True)) == [["pkg.a", "pkg.b"]]


def test_a_thumbnails_identity_and_the_profiles_know_no_configuration() -> None:
    """Which outputs a key gets is ``Config.profiles``' answer: the modules below it never name a Config."""
    graph = import_graph(types=True)
    for module in ("core.keys", "core.profiles", "core.syntax", "core.overlap", "core.ownership"):
        assert "core.config" not in graph[module], module


def test_the_runtime_never_imports_operator_or_repository_tools() -> None:
    graph = import_graph()
    edges = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("core") and not is_tool(module)
        for target in targets
        if is_tool(target)
    )
    assert edges == []


def provider_names() -> list[str]:
    return sorted(path.name for path in (ROOT / "providers").iterdir() if (path / "__init__.py").is_file())


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_provider_is_named_in_core(path: Path) -> None:
    """Only :mod:`core.registry` may know where providers live; everything else asks it."""
    if path == ROOT / "core" / "registry.py":
        return
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, provider_names())) + r")\b")
    hits = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_the_provider_name_check_would_see_a_name() -> None:
    names = provider_names()
    assert names, "no provider folder: the name check would check nothing"
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    assert pattern.search(f'target = "{names[0]}"') and not pattern.search(f"{names[0]}_secret_access_key")


@pytest.mark.parametrize("provider", registry.names())
def test_a_cloud_package_carries_the_runtime_and_its_provider_only(provider: str, tmp_path: Path) -> None:
    files = dict(runtime_files(provider))
    assert [name for name in files if name.startswith(("core/ops/", "core/reports/"))] == []
    ours = (provider, "__init__.py")
    others = [name for name in files if name.startswith("providers/") and name.split("/")[1] not in ours]
    assert others == []
    assert [name for name in files if "/deploy/" in name or "tests/" in name] == []
    spec = registry.get(provider)
    for module in spec.sdk_modules:
        pytest.importorskip(module)
    for name, path in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, tmp_path / name)
    # Only the package's files: a module the closure missed fails the import (core's path is tmp_path).
    coldstart = reporting(provider)["coldstart"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("THUMBS_", *coldstart["clean_env"]))}
    env.update(coldstart["settings"], PYTHONPATH=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    for entrypoint in {path.partition(":")[0] for path in spec.entrypoints.values()}:
        probe = (
            f"import importlib, core; assert core.__file__.startswith({str(tmp_path)!r}); "
            f"importlib.import_module({entrypoint!r})"
        )
        result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=120, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
