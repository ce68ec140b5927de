"""What a cloud package carries: the function runtime and one provider, found from its entrypoints' imports.

One policy for every provider's packager (``providers/<cloud>/packaging.py`` adds its wheels and root files):
the package holds the modules the provider's entrypoints import, directly or through others (import
statements anywhere in a module count, lazy ones included; those under ``if TYPE_CHECKING:`` do not), plus
the ``__init__.py`` of every package on their way and any ``py.typed`` marker. So it never carries the
operator tools (:mod:`core.ops`), the repository tools (:mod:`core.reports`), another provider, tests,
Terraform or its state, caches or bytecode: none of them is imported by an entrypoint.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from core import registry

#: The folder holding the ``core`` and ``providers`` packages.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
#: The import packages a cloud package may carry modules of.
PACKAGES = ("core", "providers")
#: What ``THUMBS_OTEL=otlp`` needs (pyproject's ``otel`` extra), added by a packager's ``--with-otel``; with the
#: lower bound used where a distribution is not installed here, so cannot be pinned.
OTEL_DISTRIBUTIONS = {"opentelemetry-sdk": ">=1.25", "opentelemetry-exporter-otlp-proto-http": ">=1.25"}


def python_version(text: str) -> str:
    """A packager's ``--python``: a CPython version such as ``3.11`` (an argparse type: anything else is refused)."""
    if not re.fullmatch(r"3\.\d+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python version such as 3.11")
    return text


def add_otel_option(parser: argparse.ArgumentParser) -> None:
    """Adds ``--with-otel`` to a packager's command line."""
    parser.add_argument(
        "--with-otel", action="store_true",
        help="add the OpenTelemetry SDK and its OTLP/HTTP exporter, for THUMBS_OTEL=otlp (off: the default path "
        "never imports them, and they cost a cold start hundreds of milliseconds when it does)",
    )  # fmt: skip


def otel_requirements() -> list[str]:
    """:data:`OTEL_DISTRIBUTIONS` pinned to the versions installed here (the ones tested), else their bounds."""
    pinned = []
    for name, bound in OTEL_DISTRIBUTIONS.items():
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(name + bound)
    return pinned


def module_files(root: Path = SOURCE_ROOT, *, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` (default :data:`PACKAGES`) under ``root``, by dotted name."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(
    root: Path = SOURCE_ROOT, *, packages: Iterable[str] = PACKAGES, types: bool = False
) -> dict[str, set[str]]:
    """module -> the project modules it imports (``from a import b`` is ``a.b`` when that is a module).

    Args:
        root: The folder holding the packages.
        packages: The packages read (the graph's nodes); imports of anything else are left out.
        types: Count the imports under ``if TYPE_CHECKING:`` too (they never run, but a circle through them
            is still two modules that cannot be understood apart); a package never carries them.
    """
    modules = module_files(root, packages=packages)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), types=types):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif node.module and node.level == 0:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    targets.add(child if child in modules else node.module)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def closure(start: Iterable[str], graph: dict[str, set[str]]) -> set[str]:
    """``start`` and every module they import, transitively, with the packages on the way."""
    seen: set[str] = set()
    pending = [module for module in start if module in graph]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)]
        pending += [target for target in (*graph[module], *parents) if target in graph and target not in seen]
    return seen


def runtime_files(provider: str, root: Path = SOURCE_ROOT) -> Iterator[tuple[str, Path]]:
    """``(archive path, source file)`` of everything ``provider``'s function needs, in path order.

    Raises:
        ConfigError: no such provider in this install.
    """
    spec = registry.get(provider)
    entrypoints = [path.partition(":")[0] for path in spec.entrypoints.values()]
    # The runtime loads its completion pieces (notifiers, URL signer) by name, when a setting asks for them, and
    # its metric encoding at start.
    named = (*spec.notifiers.values(), spec.url_signer, spec.metrics_encoder)
    pieces = [path.partition(":")[0] for path in named if path]
    modules = closure([spec.package, *entrypoints, *pieces], import_graph(root))
    files = {module_files(root)[module] for module in modules}
    files |= {folder / "py.typed" for folder in {path.parent for path in files} if (folder / "py.typed").is_file()}
    for path in sorted(files):
        yield path.relative_to(root).as_posix(), path


def _imports(tree: ast.AST, *, types: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if not types and isinstance(node, ast.If) and _is_type_checking(node):
            continue  # typing only: never executed
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node, types=types)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
