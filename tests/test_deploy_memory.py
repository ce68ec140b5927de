"""Every deploy folder derives THUMBS_MAX_PIXELS from the function's memory with the documented one table."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from core import registry
from core.config import Config

#: The one memory/pixel table, in the deploy documentation (docs/deploy/index.md).
DEPLOY_DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy" / "index.md"
_ROW = re.compile(r"^\| (\d+) MB \| ([\d,]+) \|", re.MULTILINE)


def documented_table() -> dict[int, int]:
    section = DEPLOY_DOC.read_text().split("## Memory and the pixel limit", 1)[1].split("\n## ", 1)[0]
    return {int(memory): int(pixels.replace(",", "")) for memory, pixels in _ROW.findall(section)}


def deploy_table(spec: registry.ProviderSpec) -> dict[int, int]:
    path = spec.deploy_folder / "memory.tf"
    assert path.is_file(), f"{spec.name}: no {path.name} deriving THUMBS_MAX_PIXELS from memory"
    with path.open() as handle:
        [block] = [b for b in hcl2.load(handle)["locals"] if "max_pixels_by_memory" in b]
    return {int(str(memory).strip('"')): int(pixels) for memory, pixels in block["max_pixels_by_memory"].items()}


def test_the_docs_have_one_table_and_its_largest_row_holds_the_default_limit() -> None:
    table = documented_table()
    assert sorted(table) == [512, 1024, 2048, 4096]
    assert list(table.values()) == sorted(table.values())  # more memory never accepts less
    assert table[2048] >= Config().max_pixels


@pytest.mark.parametrize("name", registry.names())
def test_each_deploy_folder_uses_the_documented_table(name: str) -> None:
    spec = registry.get(name)
    assert deploy_table(spec) == documented_table()
    text = "\n".join(p.read_text() for p in (spec.deploy_folder).glob("*.tf"))
    assert "precondition" in text and "local.max_pixels_for_memory" in text  # a larger THUMBS_MAX_PIXELS is refused
