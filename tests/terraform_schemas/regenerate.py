"""Rewrite the schema extracts of tests/terraform_schemas/ for the types the stacks use now.

    python -m tests.terraform_schemas.regenerate           # rewrite the extracts
    python -m tests.terraform_schemas.regenerate --check   # exit 1 if they are not what it would write

Run it after adding a resource or data source type to a stack (the schema test says so). It scans the
stacks of tests/terraform_schema.py's STACKS for the providers and types they use; for each provider it packs
the pinned CDKTF prebuilt binding (``npm pack``, from the npm registry: run it where npm can reach it),
checks the tarball against the pinned integrity and its ``package.json`` against the pinned provider
version, and reads the schemas from the binding (tests/terraform_schemas/jsii.py). The builtin provider
(``terraform_data``) has no binding: its schema comes from ``terraform providers schema -json`` of the local
Terraform, which needs no download for it. Nothing here runs at test time.

Each extract keeps every type name of its provider, so that the test can tell a type the extract lacks
("run regenerate") from a type the provider does not have.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.terraform_schema import BUILTIN, SCHEMA_DIR, STACKS, types_used
from tests.terraform_schemas.jsii import Assembly


@dataclass(frozen=True)
class Pin:
    """One provider's pinned CDKTF binding: the npm package, its version and integrity, the provider version."""

    package: str
    version: str
    integrity: str
    provider_version: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


#: Provider source -> its pinned binding. A binding is generated from one provider version (its
#: package.json says which: ``cdktf.provider.version``). State the provider version next to the stack's
#: ``required_providers`` entry ("schema-checked against X"): tests/test_terraform_schema.py checks it.
PINS: dict[str, Pin] = {
    "hashicorp/google": Pin(
        "@cdktf/provider-google", "16.12.1",
        "sha512-KqNA/5RiFT07r0PSZ6/07cJ2zESUgbj1JchVj21iBFBZVUbD+578xA/k8eq/r0cbyEgLmg9eYWeVslaYah4DCQ==", "6.50.0",
    ),
    "hashicorp/azurerm": Pin(
        "@cdktf/provider-azurerm", "14.23.1",
        "sha512-3H20Ozj7dOKmIj6mqorHZEjLNo5wO/MBEVHwu6k53fln/0EciGQa9sDLWBYSb0o40Ycpih9lFp/k6SGRbFlQVg==", "4.55.0",
    ),
    "hashicorp/time": Pin(
        "@cdktf/provider-time", "11.0.1",
        "sha512-FI0xFIcfF7U0t+pk7NNNJujiCxIOw6wL0I61/LEgPC59WWcGVrRPdj5F7YvEEpgcWkse6YrYc9soumsTQa5WYg==", "0.13.1",
    ),
    "hashicorp/random": Pin(
        "@cdktf/provider-random", "12.0.1",
        "sha512-yE9fteVRxekOl6MhJeM6sac1VkljCwGFrZxozq0aE11zTBmB4oQBr3nk9Z1A2C5C3IB/0jKmabYDNPqgrZDfNw==", "3.7.2",
    ),
    "hashicorp/archive": Pin(
        "@cdktf/provider-archive", "11.0.1",
        "sha512-2Plwhj1hVUOYmQrxNbBvy2nrw/gyHZKnQFauPCwjhQX+MpRImF7cceKgX8zZgBPvB5YEP75MIFPbr4sjxDWeHw==", "2.7.1",
    ),
    "hashicorp/null": Pin(
        "@cdktf/provider-null", "11.0.1",
        "sha512-Ky4unO3BiquQkQnsiJSZZX9qJ/JuTt8bitr3GEFK7XX39bP5VHnKWZQA8hah4FnTEeu8AiONPjbN6vnN3u177g==", "3.2.4",
    ),
}  # fmt: skip
# Azure/azapi has no CDKTF prebuilt binding on npm: a stack using it fails the check with that reason
# until someone writes and checks its extract by hand.

#: Top-level provider arguments the bindings mark optional (cdktf makes every top-level provider argument
#: optional) but the provider requires: azurerm's ``features`` block, ``Required: true, MinItems: 1``
#: (terraform-provider-azurerm internal/provider/features.go, schemaFeatures; "features - (Required)" in
#: https://registry.terraform.io/providers/hashicorp/azurerm/4.55.0/docs#features).
PROVIDER_REQUIRED = {"hashicorp/azurerm": {"features"}}


# -- the CDKTF bindings ------------------------------------------------------------------------------------


def pack(pin: Pin, folder: Path) -> Path:
    """``npm pack`` the pinned binding into ``folder``, checked against the pinned integrity."""
    subprocess.run(["npm", "pack", pin.spec, "--pack-destination", str(folder), "--silent"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    [tarball] = folder.glob(f"{pin.package.lstrip('@').replace('/', '-')}-{pin.version}.tgz")
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != pin.integrity:
        raise SystemExit(f"{pin.spec}: integrity {digest}, pinned {pin.integrity}")
    return tarball


def read_binding(tarball: Path, source: str, pin: Pin, wanted: Callable[[Assembly], set[str]]) -> Assembly:
    """The binding's assembly, with the JavaScript of the modules ``wanted`` names (two passes over the tarball).

    Args:
        tarball: The packed binding.
        source: The provider source the pin is for (checked against the binding's package.json).
        pin: The pin (its provider version is checked against the binding's package.json).
        wanted: Assembly -> the jsii type fqns whose modules' JavaScript is needed.
    """
    with tarfile.open(tarball) as archive:
        jsii = json.load(_member(archive, "package/.jsii"))
        package = json.load(_member(archive, "package/package.json"))
    provider = package.get("cdktf", {}).get("provider", {})
    if provider.get("name") != f"registry.terraform.io/{source}" or provider.get("version") != pin.provider_version:
        raise SystemExit(f"{pin.spec} is generated from {provider}, not {source} {pin.provider_version}")
    scripts: dict[str, str] = {}
    assembly = Assembly(jsii, lambda filename: scripts[filename])
    folders = {_module_folder(assembly, fqn) for fqn in wanted(assembly)}
    with tarfile.open(tarball) as archive:
        for member in archive:
            name = member.name.removeprefix("package/")
            if name.endswith(".js") and name.startswith(tuple(folders)):
                source_name = "src/" + name.removeprefix("lib/").removesuffix(".js") + ".ts"
                handle = archive.extractfile(member)
                if handle is not None:
                    scripts[source_name] = handle.read().decode("utf-8")
    return assembly


def _member(archive: tarfile.TarFile, name: str) -> Any:
    handle = archive.extractfile(name)
    if handle is None:
        raise SystemExit(f"{name} missing from the binding")
    return handle


def _module_folder(assembly: Assembly, fqn: str) -> str:
    """``lib/<module>/`` of a type: its class and its structs live under it (``index.js``, ``index-structs/``)."""
    filename: str = assembly.types[fqn]["locationInModule"]["filename"]
    return "lib/" + filename.removeprefix("src/").rsplit("/", 1)[0] + "/"


def binding_extract(source: str, pin: Pin, used: Mapping[str, set[str]], folder: Path) -> dict[str, Any]:
    """The extract of one provider: every type name, the provider's schema and the used types' schemas."""
    classes: dict[str, dict[str, str]] = {}

    def wanted(assembly: Assembly) -> set[str]:
        classes.update(assembly.classes())
        pairs = [(kind, name) for kind in ("resource", "data") for name in used[kind]]
        missing = sorted(f"{kind} {name}" for kind, name in pairs if name not in classes[kind])
        if missing:
            # Not an error here: the test reports each as a type the provider does not have.
            print(f"{source} {pin.provider_version} has no {', '.join(missing)}", file=sys.stderr)
        found = {classes[kind][name] for kind, name in pairs if name in classes[kind]}
        return found | set(classes["provider"].values())

    assembly = read_binding(pack(pin, folder), source, pin, wanted)
    [provider_class] = classes["provider"].values()
    provider_schema = assembly.schema(provider_class)
    for name in PROVIDER_REQUIRED.get(source, set()):
        provider_schema["block_types"][name]["min_items"] = 1
    schemas: dict[str, dict[str, Any]] = {"resource": {}, "data": {}}
    for kind in ("resource", "data"):
        for name in sorted(used[kind]):
            if name in classes[kind]:
                fqn = classes[kind][name]
                written = assembly.terraform_type(fqn)
                if written != name:
                    raise SystemExit(f"{fqn}: its registry link says {name}, its JavaScript {written}")
                schemas[kind][name] = assembly.schema(fqn)
    return {
        "source": source,
        "version": pin.provider_version,
        "binding": f"{pin.spec} ({pin.integrity})",
        "resource_types": sorted(classes["resource"]),
        "data_source_types": sorted(classes["data"]),
        "provider_schema": provider_schema,
        "resource_schemas": schemas["resource"],
        "data_source_schemas": schemas["data"],
    }


# -- Terraform's own schemas --------------------------------------------------------------------------------


def trim(block: Mapping[str, Any]) -> dict[str, Any]:
    """A block of ``terraform providers schema -json`` in the extracts' trimmed shape (names, flags, nesting)."""
    attributes: dict[str, Any] = {}
    for name, spec in block.get("attributes", {}).items():
        flag = "required" if spec.get("required") else "optional" if spec.get("optional") else "computed"
        attribute: dict[str, Any] = {flag: True}
        if spec.get("type") == "dynamic":
            attribute["type"] = "dynamic"
        nested = _nested(spec, flag)
        if nested is not None:
            attribute["nested_type"] = nested
        attributes[name] = attribute
    block_types = {
        name: {
            "nesting_mode": spec["nesting_mode"],
            "min_items": spec.get("min_items", 0),
            "max_items": 1 if spec["nesting_mode"] == "single" else spec.get("max_items", 0),
            "block": trim(spec["block"]),
        }
        for name, spec in block.get("block_types", {}).items()
    }
    return {"attributes": dict(sorted(attributes.items())), "block_types": dict(sorted(block_types.items()))}


def _nested(spec: Mapping[str, Any], flag: str) -> dict[str, Any] | None:
    """``nested_type`` of an attribute holding objects: a framework nested attribute, or an object-typed one."""
    if "nested_type" in spec:
        nested = spec["nested_type"]
        return {"nesting_mode": nested["nesting_mode"], "attributes": trim(nested)["attributes"]}
    kind = spec.get("type")
    if not isinstance(kind, list):
        return None
    if kind[0] in {"list", "set", "map"} and isinstance(kind[1], list) and kind[1][0] == "object":
        return {"nesting_mode": kind[0], "attributes": {name: {flag: True} for name in sorted(kind[1][1])}}
    if kind[0] == "object":
        return {"nesting_mode": "single", "attributes": {name: {flag: True} for name in sorted(kind[1])}}
    return None


def terraform_schemas(module: str, plugin_dir: Path | None = None) -> tuple[str, dict[str, Any]]:
    """``(terraform version, providers schema -json)`` of a throwaway module, with no download allowed."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise SystemExit("terraform is not on PATH: it gives the builtin provider's schema")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "main.tf").write_text(module)
        mirror = f'filesystem_mirror {{ path = "{plugin_dir}" }}' if plugin_dir else ""
        (work / "cli.tfrc").write_text(f'provider_installation {{\n{mirror}\ndirect {{ exclude = ["*/*"] }}\n}}\n')
        env = {"TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"), "PATH": "/usr/bin:/bin", "HOME": folder}

        def run(*args: str) -> str:
            done = subprocess.run([terraform, *args], cwd=work, env=env, check=True, capture_output=True, text=True)
            return done.stdout

        run("init", "-input=false", "-backend=false", "-no-color")
        schemas = json.loads(run("providers", "schema", "-json"))
        version = json.loads(run("version", "-json"))["terraform_version"]
    return version, schemas["provider_schemas"]


def builtin_extract(used: Mapping[str, set[str]]) -> dict[str, Any]:
    """The extract of Terraform's builtin provider (``terraform_data``), from the local Terraform itself."""
    version, schemas = terraform_schemas('resource "terraform_data" "probe" {}\n')
    builtin = schemas[BUILTIN]
    return {
        "source": BUILTIN,
        "version": version,
        "binding": f"terraform providers schema -json (Terraform {version})",
        "resource_types": sorted(builtin["resource_schemas"]),
        "data_source_types": sorted(builtin["data_source_schemas"]),
        "provider_schema": {"attributes": {}, "block_types": {}},
        "resource_schemas": {n: trim(builtin["resource_schemas"][n]["block"]) for n in sorted(used["resource"])
                             if n in builtin["resource_schemas"]},
        "data_source_schemas": {n: trim(builtin["data_source_schemas"][n]["block"]) for n in sorted(used["data"])
                                if n in builtin["data_source_schemas"]},
    }  # fmt: skip


# -- the extracts ---------------------------------------------------------------------------------------------


def file_name(source: str, version: str) -> str:
    """``google-6.50.0.json``; ``terraform-builtin.json`` for Terraform's own provider (its version is Terraform's)."""
    return "terraform-builtin.json" if source == BUILTIN else f"{source.rsplit('/', 1)[1]}-{version}.json"


def render(extract: Mapping[str, Any]) -> str:
    """An extract as written: sorted keys, one-space indent, so regenerating twice gives the same bytes."""
    return json.dumps(extract, indent=1, sort_keys=True) + "\n"


def build(folder: Path) -> dict[str, str]:
    """File name -> text of every extract the stacks need; ``folder`` receives the packed bindings."""
    files: dict[str, str] = {}
    for source, used in sorted(types_used(list(STACKS.values())).items()):
        if source == BUILTIN:
            extract = builtin_extract(used)
        elif source in PINS:
            extract = binding_extract(source, PINS[source], used, folder)
        else:
            print(f"{source}: no pinned binding in PINS; the schema test will say so", file=sys.stderr)
            continue
        files[file_name(source, extract["version"])] = render(extract)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed extracts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        files = build(Path(folder))
    current = {path.name: path.read_text(encoding="utf-8") for path in SCHEMA_DIR.glob("*.json")}
    if args.check:
        stale = sorted(name for name in files.keys() | current.keys() if files.get(name) != current.get(name))
        print("\n".join(f"differs: {name}" for name in stale) or "extracts are up to date")
        return 1 if stale else 0
    for name in current.keys() - files.keys():
        (SCHEMA_DIR / name).unlink()
        print(f"removed {name}")
    for name, text in sorted(files.items()):
        (SCHEMA_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {name} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
