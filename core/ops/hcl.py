"""A small writer of Terraform's native syntax, laid out as ``terraform fmt`` lays it out.

The observability generators (``python -m core.ops.observability``) write each cloud's dashboards, metric
definitions and alerts as a ``.tf`` file, committed next to the hand-written ones: read by ``terraform`` and
by the offline schema check alike, and reviewable in a diff. Values are either expressions given as text
(:class:`Raw`), strings (quoted; ``${...}`` kept when asked: :func:`template`), numbers, booleans, lists and
maps of these, or heredocs (:class:`Heredoc`, for JSON documents).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INDENT = "  "


@dataclass(frozen=True)
class Raw:
    """An expression written as is (``var.name``, ``aws_sns_topic.alarms.arn``)."""

    text: str


@dataclass(frozen=True)
class Heredoc:
    """A multi-line string (a JSON document); ``${...}`` in it are Terraform's interpolations."""

    text: str


@dataclass(frozen=True)
class Block:
    """A block: ``kind "label" ... { body }``; the body's items are ``(name, value)`` pairs or blocks."""

    kind: str
    labels: tuple[str, ...] = ()
    body: Sequence[tuple[str, Any] | Block] = field(default_factory=tuple)


def template(text: str) -> Raw:
    """A quoted string whose ``${...}`` are interpolations (the rest is escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("%{", "%%{")
    return Raw(f'"{escaped}"')


def string(text: str) -> str:
    """A quoted string, every character literal."""
    return template(text.replace("${", "$${")).text


def json_heredoc(document: Any) -> Heredoc:
    """A JSON document as a heredoc (strings in it may hold ``${...}`` interpolations)."""
    return Heredoc(json.dumps(document, indent=2, ensure_ascii=False).replace("%{", "%%{"))


def render(blocks: Sequence[Block], *, header: str = "") -> str:
    """The file: ``header`` (comment lines), then the blocks, one blank line apart."""
    parts = [header.rstrip("\n") + "\n"] if header else []
    parts.extend("\n".join(_block(block, 0)) + "\n" for block in blocks)
    return "\n".join(parts)


def _block(block: Block, depth: int) -> list[str]:
    pad = INDENT * depth
    labels = "".join(f" {json.dumps(label)}" for label in block.labels)
    lines = [f"{pad}{block.kind}{labels} {{"]
    group: list[tuple[str, list[str]]] = []  # consecutive single-line attributes, aligned together

    def flush() -> None:
        width = max((len(name) for name, _ in group), default=0)
        for name, value_lines in group:
            lines.append(f"{pad}{INDENT}{name.ljust(width)} = {value_lines[0]}")
            lines.extend(value_lines[1:])
        group.clear()

    previous: str | None = None
    for item in block.body:
        if isinstance(item, Block):
            flush()
            if previous is not None:
                lines.append("")
            lines.extend(_block(item, depth + 1))
            previous = "block"
            continue
        name, value = item
        value_lines = _value(value, depth + 1)
        if previous == "block":
            lines.append("")
        if len(value_lines) == 1 or isinstance(value, Heredoc):
            group.append((name, value_lines))
        else:  # a multi-line object or list stands alone: it ends the group above and starts none
            flush()
            lines.append(f"{pad}{INDENT}{name} = {value_lines[0]}")
            lines.extend(value_lines[1:])
        previous = "attribute"
    flush()
    lines.append(f"{pad}}}")
    return lines


def _value(value: Any, depth: int) -> list[str]:
    """The lines of one value; the first continues its attribute's line."""
    pad = INDENT * depth
    if isinstance(value, Raw):
        return [value.text]
    if isinstance(value, Heredoc):
        return ["<<EOT", *value.text.splitlines(), "EOT"]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float):
        return [json.dumps(value)]
    if isinstance(value, str):
        return [string(value)]
    if isinstance(value, Mapping):
        if not value:
            return ["{}"]
        width = max(len(_key(key)) for key in value)
        lines = ["{"]
        for key, item in value.items():
            item_lines = _value(item, depth + 1)
            lines.append(f"{pad}{INDENT}{_key(key).ljust(width)} = {item_lines[0]}")
            lines.extend(item_lines[1:])
        lines.append(f"{pad}}}")
        return lines
    if isinstance(value, Sequence):
        items = [_value(item, depth + 1) for item in value]
        if all(len(item) == 1 for item in items):
            return ["[" + ", ".join(item[0] for item in items) + "]"]
        lines = ["["]
        for item in items:
            lines.append(f"{pad}{INDENT}{item[0]}")
            lines.extend(item[1:])
            lines[-1] += ","
        lines.append(f"{pad}]")
        return lines
    raise TypeError(f"no Terraform form for {type(value).__name__}")


def _key(key: str) -> str:
    return key if key.replace("_", "a").replace("-", "a").isalnum() and not key[0].isdigit() else json.dumps(key)
