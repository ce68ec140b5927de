"""Prove the CDKTF-binding reading (jsii.py) against a real provider schema, where one is available offline.

    python -m tests.terraform_schemas.crosscheck [--plugin-dir /opt/tf-plugins]

This machine kind ships the hashicorp/aws 5.100.0 plugin, and ``@cdktf/provider-aws@20.1.0`` is generated
from that version. This script reads every resource and data source of the binding the way regenerate.py
reads the google and azurerm ones, asks ``terraform providers schema -json`` for the plugin's real schema,
and compares names, required/optional/computed flags, nesting modes and min/max items. Differences the
binding cannot express are counted by kind (it cannot tell a plugin-framework nested attribute from a
block, it types a few very deep blocks ``any``, and it models the computed blocks of framework data sources
as computed objects); anything else is printed and fails the run. Not a test: it packs a 30 MB binding from
npm and needs the plugin.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.terraform_schemas.jsii import Assembly
from tests.terraform_schemas.regenerate import Pin, pack, read_binding, terraform_schemas, trim

SOURCE = "hashicorp/aws"
PIN = Pin(
    package="@cdktf/provider-aws",
    version="20.1.0",
    integrity="sha512-ONRJFu5qz/4nqis5f9OxRk8rOZQnuOiDoRtOu3z53fiFxzow0vvA2afnkfntoZGOsynDerqyWPX4/y8A6k6+8g==",
    provider_version="5.100.0",
)

#: Differences the binding cannot express: (kind of difference) -> why it is not a defect of the reading.
EXPLAINED = {
    "nested attribute read as a block": "plugin-framework nested attributes and blocks share one jsii shape",
    "block typed any": "cdktf types blocks too deep to model as `any`: the check accepts anything there",
    "value typed any": "the same for a computed value: references into it are not checked",
    "computed block read as a computed object": "framework data sources' computed blocks: same names",
    "single block required by a validator": "framework single blocks cannot be Required; cdktf marks them so",
    "provider block nesting": "provider blocks have no reader class, so list and set look alike (never indexed)",
}


def compare(expected: Mapping[str, Any], got: Mapping[str, Any], where: str, found: collections.Counter[str],
            unexplained: list[str]) -> None:  # fmt: skip
    """Count each difference between Terraform's (trimmed) block and the binding's, by kind."""
    attributes, blocks = expected["attributes"], expected["block_types"]
    got_attributes, got_blocks = got["attributes"], got["block_types"]
    for name in sorted(set(attributes) | set(got_attributes) | set(blocks) | set(got_blocks)):
        path = f"{where}.{name}"
        if name in attributes and name in got_attributes:
            a, b = attributes[name], got_attributes[name]
            if b.get("type") == "dynamic" and a.get("type") != "dynamic" and _flag(a) == _flag(b):
                found["value typed any"] += 1
            elif _flag(a) != _flag(b) or ("nested_type" in a) != ("nested_type" in b):
                unexplained.append(f"{path}: {a} != {b}")
            elif "nested_type" in a and _shape(a["nested_type"]) != _shape(b["nested_type"]):
                unexplained.append(f"{path}: nested {a['nested_type']} != {b['nested_type']}")
            found["attribute"] += 1
        elif name in blocks and name in got_blocks:
            a, b = blocks[name], got_blocks[name]
            if a["nesting_mode"] != b["nesting_mode"]:
                kind = "provider block nesting" if where == "provider" else None
                _note(found, unexplained, kind, f"{path}: nesting {a['nesting_mode']} != {b['nesting_mode']}")
            elif (a["min_items"] > 0) != (b["min_items"] > 0):
                kind = "single block required by a validator" if a["nesting_mode"] == "single" else None
                _note(found, unexplained, kind, f"{path}: min_items {a['min_items']} != {b['min_items']}")
            elif (a["max_items"] == 1) != (b["max_items"] == 1):
                unexplained.append(f"{path}: max_items {a['max_items']} != {b['max_items']}")
            found["block"] += 1
            compare(a["block"], b["block"], path, found, unexplained)
        elif name in attributes and name in got_blocks and "nested_type" in attributes[name]:
            found["nested attribute read as a block"] += 1
        elif name in blocks and got_attributes.get(name, {}).get("type") == "dynamic":
            found["block typed any"] += 1
        elif name in blocks and "nested_type" in got_attributes.get(name, {}):
            found["computed block read as a computed object"] += 1
        else:
            unexplained.append(f"{path}: only in {'Terraform' if name in attributes or name in blocks else 'binding'}")


def _shape(nested: Mapping[str, Any]) -> tuple[str, set[str]]:
    return nested["nesting_mode"], set(nested["attributes"])


def _flag(attribute: Mapping[str, Any]) -> str:
    return "required" if attribute.get("required") else "optional" if attribute.get("optional") else "computed"


def _note(found: collections.Counter[str], unexplained: list[str], kind: str | None, text: str) -> None:
    if kind is None:
        unexplained.append(text)
    else:
        found[kind] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--plugin-dir", type=Path, default=Path("/opt/tf-plugins"))
    args = parser.parse_args(argv)
    requirement = f'aws = {{ source = "{SOURCE}", version = "{PIN.provider_version}" }}'
    module = f"terraform {{\n  required_providers {{\n    {requirement}\n  }}\n}}\n"
    _, schemas = terraform_schemas(module, args.plugin_dir)
    real = schemas[f"registry.terraform.io/{SOURCE}"]
    classes: dict[str, dict[str, str]] = {}

    def everything(assembly: Assembly) -> set[str]:
        classes.update(assembly.classes())
        return {fqn for named in classes.values() for fqn in named.values()}

    with tempfile.TemporaryDirectory() as folder:
        assembly = read_binding(pack(PIN, Path(folder)), SOURCE, PIN, everything)
    found: collections.Counter[str] = collections.Counter()
    unexplained: list[str] = []
    for kind, key in (("resource", "resource_schemas"), ("data", "data_source_schemas")):
        if set(classes[kind]) != set(real[key]):
            unexplained.append(f"{kind} types differ: {sorted(set(classes[kind]) ^ set(real[key]))}")
        for name in sorted(set(classes[kind]) & set(real[key])):
            compare(trim(real[key][name]["block"]), assembly.schema(classes[kind][name]), name, found, unexplained)
            found[f"{kind} types"] += 1
    [provider] = classes["provider"].values()
    compare(trim(real["provider"]["block"]), assembly.schema(provider), "provider", found, unexplained)
    for kind, count in sorted(found.items()):
        print(f"{count:6d}  {kind}" + (f"  ({EXPLAINED[kind]})" if kind in EXPLAINED else ""))
    for line in unexplained:
        print(f"UNEXPLAINED {line}")
    print(f"{len(unexplained)} unexplained differences")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
