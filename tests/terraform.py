"""Terraform read with python-hcl2 (a test dependency), the same way in every test that reads a deploy folder.

python-hcl2 keeps the quotes of strings and labels and adds ``__...__`` keys (comments, positions):
:func:`clean` drops both, so ``resource "aws_s3_bucket" "x"`` reads as ``{"aws_s3_bucket": {"x": ...}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Block type -> every block of that type, over all files of a module.
Module = dict[str, list[Any]]


def unquote(value: Any) -> Any:
    """A quoted string literal without its quotes: ``'"x"'`` -> ``'x'``; anything else as is."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(value: Any) -> Any:
    """``value`` with every string unquoted and every ``__...__`` key dropped, recursively."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return unquote(value)


def parse(path: Path) -> dict[str, Any]:
    """One ``.tf`` file as python-hcl2 reads it (quotes kept)."""
    import hcl2

    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def parse_text(text: str) -> dict[str, Any]:
    """The text of one ``.tf`` file as python-hcl2 reads it (quotes kept)."""
    import hcl2

    parsed: dict[str, Any] = hcl2.loads(text)
    return parsed


def load_module(folder: Path) -> Module:
    """Every top-level block of every ``.tf`` file of ``folder``, cleaned, by block type."""
    merged: Module = {}
    for path in sorted(folder.glob("*.tf")):
        for block_type, found in clean(parse(path)).items():
            merged.setdefault(block_type, []).extend(found)
    return merged


def blocks(module: Module, block_type: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, body)`` of every ``block_type "kind" "name"``."""
    for block in module.get(block_type, []):
        yield from block.get(kind, {}).items()


def block(module: Module, block_type: str, kind: str, name: str) -> dict[str, Any]:
    """The body of ``block_type "kind" "name"`` (a resource or a data source)."""
    for found, body in blocks(module, block_type, kind):
        if found == name:
            return dict(body)
    raise AssertionError(f"no {block_type} {kind}.{name}")


def variable_default(module: Module, name: str) -> Any:
    """The default of ``variable "name"``."""
    for found in module.get("variable", []):
        if name in found:
            return found[name].get("default")
    raise AssertionError(f"no variable {name}")


def as_list(value: Any) -> list[Any]:
    """A value HCL allows as one item or a list, as a list."""
    return value if isinstance(value, list) else [value]


def variable_defaults(folder: Path) -> dict[str, Any]:
    """``variable name -> default`` of every ``.tf`` file of ``folder``."""
    return {
        name: body.get("default") for found in load_module(folder).get("variable", []) for name, body in found.items()
    }
