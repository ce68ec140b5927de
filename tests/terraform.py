"""Terraform read with python-hcl2 (a test dependency), the same way in every test that reads a deploy folder.

python-hcl2 keeps the quotes of strings and labels and adds ``__...__`` keys (comments, positions):
:func:`clean` drops both, so ``resource "aws_s3_bucket" "x"`` reads as ``{"aws_s3_bucket": {"x": ...}}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


def expression_of(value: str, **stand_ins: str) -> str:
    """The HCL source of a value as :func:`parse` returns it (quotes kept), with references replaced.

    python-hcl2 gives an expression as ``${...}`` and a string template as its quoted source; each
    ``stand_ins`` key (``"google_cloudfunctions2_function.thumbnails"``) becomes its value (``"local.functions"``).
    """
    source = value[2:-1] if value.startswith("${") and value.endswith("}") else value
    for reference, replacement in stand_ins.items():
        source = source.replace(reference, replacement)
    return source


def evaluate(expression: str, *, locals_: Mapping[str, str] | None = None, variables: Mapping[str, str] | None = None
             ) -> Any:  # fmt: skip
    """The value of an HCL ``expression``, computed by ``terraform console`` in a scratch module.

    ``locals_`` and ``variables`` map names to HCL sources (what the expression refers to; resources must be
    replaced by locals standing in for them, see :func:`expression_of`). No provider is involved, so nothing
    is downloaded; without the terraform CLI the calling test is skipped.
    """
    import json
    import os
    import shutil
    import subprocess
    import tempfile

    import pytest

    if shutil.which("terraform") is None:
        pytest.skip("the terraform CLI is not installed")
    lines = [f"variable {json.dumps(name)} {{\n  default = {source}\n}}" for name, source in (variables or {}).items()]
    lines.append("locals {\n" + "".join(f"  {name} = {source}\n" for name, source in (locals_ or {}).items()) + "}")
    with tempfile.TemporaryDirectory(prefix="polythumb-hcl-") as scratch:
        Path(scratch, "main.tf").write_text("\n".join(lines) + "\n", encoding="utf-8")
        done = subprocess.run(
            ["terraform", f"-chdir={scratch}", "console"], input=f"jsonencode({expression})\n",
            capture_output=True, text=True, check=False, timeout=60,
            env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"},
        )  # fmt: skip
    assert done.returncode == 0, f"terraform console: {done.stderr.strip()}\n{expression}"
    return json.loads(json.loads(done.stdout))


def accepts(folder: Path, variable: str, value: str) -> bool:
    """Whether every ``validation`` of ``variable "<variable>"`` in ``folder`` passes for ``value`` (HCL source)."""
    for path in sorted(folder.glob("*.tf")):
        for found in parse(path).get("variable", []):
            body = found.get(f'"{variable}"')
            if body is None:
                continue
            conditions = [expression_of(rule["condition"]) for rule in body.get("validation", [])]
            assert conditions, f"variable {variable} has no validation"
            return all(evaluate(condition, variables={variable: value}) for condition in conditions)
    raise AssertionError(f"no variable {variable} in {folder}")
