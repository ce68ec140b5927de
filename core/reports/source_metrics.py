"""Portable versus provider-specific code, measured from the source tree: files and lines per layer.

A line is a non-blank line (comments and docstrings included: they are part of what a team keeps).
Layers: the portable core; the report tooling; and per provider its function code
(``providers/<cloud>/*.py`` but packaging), its deploy files (Terraform, packaging, host files) and
its tests (``tests/providers/<cloud>``, ``tests/fixtures/<cloud>.py``, vendor payloads in
``tests/events/<cloud>``). The shared suites (contract, end-to-end, core tests) belong to the core.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core import registry

_DEPLOY_FILES = ("packaging.py", "host.json", "requirements.txt")


@dataclass(frozen=True)
class Tally:
    """Files and non-blank lines."""

    files: int = 0
    lines: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.files + other.files, self.lines + other.lines)


@dataclass(frozen=True)
class Layer:
    """One layer of the tree: its function code, tests and deploy files."""

    name: str
    portable: bool
    code: Tally
    tests: Tally
    deploy: Tally


def count(paths: Iterable[Path]) -> Tally:
    """Files and non-blank lines of ``paths`` (unreadable or binary files count as files with 0 lines)."""
    files = lines = 0
    for path in sorted(set(paths)):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        files += 1
        try:
            lines += sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        except (UnicodeDecodeError, OSError):
            continue
    return Tally(files, lines)


def measure_layers(root: Path) -> list[Layer]:
    """Measure every layer under ``root`` (a source checkout)."""
    tests = root / "tests"
    reports = root / "core" / "reports"
    core_code = [p for p in (root / "core").rglob("*.py") if reports not in p.parents]
    core_tests = [
        *(p for p in tests.glob("*.py") if not p.name.startswith("test_reports")),
        *(tests / "contract").rglob("*.py"),
        *(tests / "e2e").rglob("*.py"),
        tests / "fixtures" / "__init__.py",
    ]
    layers = [
        Layer("core", True, count(core_code), count(core_tests), Tally()),
        Layer(
            "core/reports (tooling)", True, count(reports.rglob("*.py")), count(tests.glob("test_reports*.py")), Tally()
        ),
    ]
    for provider in registry.names():
        folder = root / "providers" / provider
        code = [p for p in folder.glob("*.py") if p.name not in _DEPLOY_FILES]
        deploy = [*(folder / "deploy").rglob("*"), *(folder / name for name in _DEPLOY_FILES)]
        provider_tests = [
            *(tests / "providers" / provider).rglob("*"),
            tests / "fixtures" / f"{provider}.py",
            *(tests / "events" / provider).rglob("*"),
        ]
        layers.append(Layer(f"providers/{provider}", False, count(code), count(provider_tests), count(deploy)))
    return layers


def portable_share(layers: list[Layer], provider: str) -> float:
    """Share of the function code a ``provider`` deployment runs that is portable (core / (core + provider))."""
    core = next(layer for layer in layers if layer.name == "core").code.lines
    own = next(layer for layer in layers if layer.name == f"providers/{provider}").code.lines
    return core / (core + own) if core + own else 0.0
