"""Terraform stacks checked against their providers' schemas, offline (issue 21).

``terraform validate`` needs each provider's plugin, and this machine kind has only the AWS one: the GCP and
Azure stacks are checked here instead, against trimmed extracts of their providers' schemas pinned in
tests/terraform_schemas/ (made by ``python -m tests.terraform_schemas.regenerate`` from the CDKTF prebuilt
bindings, whose jsii assemblies carry each provider's full schema at one version). The check reads every
``.tf`` file with python-hcl2 (the reader of tests/terraform.py, raw: it keeps ``__is_block__``, so
``x { }`` and ``x = { }`` differ) and reports, with ``file:line: address: path``:

* a resource or data source type its provider does not have, or that the extract lacks (run regenerate);
* an argument or block a schema does not have -- in resources, data sources, ``provider`` blocks, nested
  blocks, ``dynamic "x"`` blocks and their ``content`` -- or a computed (read-only) attribute being set;
  meta-arguments (``count``, ``for_each``, ``depends_on``, ``provider``, ``lifecycle``, provisioners) are
  checked against Terraform's own rules;
* a required argument or block missing (a ``dynamic`` block counts as the block it generates);
* a reference ``type.name.attr...`` or ``data.type.name.attr...`` (also through ``each.value``, ``self``
  and ``for`` symbols bound to a resource) to an undeclared resource, to an attribute or nested block the
  type does not have, into a set by index, or to an instance of a ``count``/``for_each`` resource without
  its key.

It does not type-check values, evaluate expressions or check cross-argument constraints (``ExactlyOneOf``,
``ConflictsWith``, value validations): those need the provider plugin.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.hcl_references import Expression, Traversal, references
from tests.terraform import ROOT, parse_text, unquote

SCHEMA_DIR = ROOT / "tests" / "terraform_schemas"
REGENERATE = "python -m tests.terraform_schemas.regenerate"
#: The stacks no test applies with a real plugin (no ``tests/providers/<cloud>/test_deploy_apply.py``, as their
#: plugins cannot be installed here): this check stands in for ``terraform validate``. Found, not listed, so
#: deleting a provider's folders removes its stack from the check.
STACKS = {
    folder.parent.name: folder
    for folder in sorted((ROOT / "providers").glob("*/deploy"))
    if not (ROOT / "tests" / "providers" / folder.parent.name / "test_deploy_apply.py").is_file()
}
#: The provider of ``terraform_data`` (and ``terraform_remote_state``), built into Terraform itself.
BUILTIN = "terraform.io/builtin/terraform"

Schema = Mapping[str, Any]

#: Meta-arguments and their blocks (https://developer.hashicorp.com/terraform/language/meta-arguments).
RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
PROVIDER_META = {"alias", "version"}
LIFECYCLE = {
    "resource": {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by",
                 "precondition", "postcondition"},
    "data": {"precondition", "postcondition"},
}  # fmt: skip
CONDITION: Schema = {"attributes": {"condition": {"required": True}, "error_message": {"required": True}}}
#: Provisioners' arguments (https://developer.hashicorp.com/terraform/language/resources/provisioners/...).
PROVISIONER_COMMON = {"when": {"optional": True}, "on_failure": {"optional": True}}
PROVISIONERS: dict[str, dict[str, Any]] = {
    "local-exec": {"command": {"required": True}, "working_dir": {"optional": True},
                   "interpreter": {"optional": True}, "environment": {"optional": True}, "quiet": {"optional": True}},
    "remote-exec": {"inline": {"optional": True}, "script": {"optional": True}, "scripts": {"optional": True}},
    "file": {"source": {"optional": True}, "content": {"optional": True}, "destination": {"required": True}},
}  # fmt: skip
#: Roots of references that are not resources (``each`` and ``self`` are resolved when bound).
NOT_RESOURCES = {"var", "local", "module", "path", "terraform", "count", "each", "self", "data"}


@dataclass(frozen=True)
class Extract:
    """One provider's schema extract: every type name it has, and the full schema of the types the stacks use."""

    path: Path
    source: str
    version: str
    binding: str
    resource_types: frozenset[str]
    data_source_types: frozenset[str]
    provider: Schema
    resources: Mapping[str, Schema]
    data_sources: Mapping[str, Schema]

    def __str__(self) -> str:
        return f"{self.source} {self.version}"

    def types(self, kind: str) -> tuple[frozenset[str], Mapping[str, Schema]]:
        """``(every type name, the extracted schemas)`` of ``resource`` or ``data``."""
        if kind == "resource":
            return self.resource_types, self.resources
        return self.data_source_types, self.data_sources


@cache
def load_extracts(folder: Path = SCHEMA_DIR) -> dict[str, Extract]:
    """The extracts in ``folder``, by provider source (``hashicorp/google``, ``terraform.io/builtin/terraform``)."""
    extracts: dict[str, Extract] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        extract = Extract(
            path=path, source=data["source"], version=data["version"], binding=data["binding"],
            resource_types=frozenset(data["resource_types"]), data_source_types=frozenset(data["data_source_types"]),
            provider=data["provider_schema"], resources=data["resource_schemas"],
            data_sources=data["data_source_schemas"],
        )  # fmt: skip
        if extract.source in extracts:
            raise ValueError(f"{path.name} and {extracts[extract.source].path.name} both hold {extract.source}")
        extracts[extract.source] = extract
    return extracts


@dataclass(frozen=True)
class Problem:
    """One finding: where (file, line of the enclosing top-level block, its address, the path inside it) and what."""

    file: str
    line: int
    address: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: {self.address}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True)
class TopBlock:
    """One top-level block of a stack, as python-hcl2 reads it (quotes and ``__is_block__`` kept)."""

    file: str
    line: int
    kind: str
    labels: tuple[str, ...]
    body: Mapping[str, Any]

    @property
    def address(self) -> str:
        if self.kind == "resource":
            return ".".join(self.labels)
        if self.kind in {"data", "provider", "output", "variable", "module"}:
            return ".".join((self.kind, *self.labels))
        return self.kind


def read_stack(folder: Path) -> list[TopBlock]:
    """Every top-level block of every ``.tf`` file of ``folder``."""
    found: list[TopBlock] = []
    for path in sorted(folder.glob("*.tf")):
        text = path.read_text(encoding="utf-8")
        for kind, entries in _parse(text).items():
            if kind.startswith("__"):
                continue
            for entry in entries:
                for labels, body in _labelled(entry, {"resource": 2, "data": 2}.get(kind, 1 if kind in {
                        "provider", "output", "variable", "module", "check"} else 0)):  # fmt: skip
                    found.append(TopBlock(path.name, _line(text, kind, labels), kind, labels, body))
    return found


@cache
def _parse(text: str) -> dict[str, Any]:
    """One file's text as python-hcl2 reads it, parsed once per distinct text (the mutation tests check many
    copies of a stack that differ in one file). Callers never modify the result."""
    _require_block_markers()
    return parse_text(text)


@cache
def _require_block_markers() -> None:
    if parse_text("probe {}\n") != {"probe": [{"__is_block__": True}]}:
        raise RuntimeError("the schema check needs python-hcl2 >= 8.0, which marks blocks with __is_block__")


def _labelled(entry: Mapping[str, Any], depth: int) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    if depth == 0:
        yield (), entry
        return
    for label, inner in entry.items():
        if not str(label).startswith("__"):
            for labels, body in _labelled(inner, depth - 1):
                yield (unquote(label), *labels), body


def _line(text: str, kind: str, labels: tuple[str, ...]) -> int:
    header = r"\s+".join([re.escape(kind), *(rf'"?{re.escape(label)}"?' for label in labels)])
    match = re.search(rf"^[ \t]*{header}\s*\{{", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 0


def required_providers(blocks: list[TopBlock]) -> dict[str, str]:
    """Provider local name -> source, from ``terraform { required_providers { ... } }`` (plus the builtin)."""
    found = {"terraform": BUILTIN}
    for block in blocks:
        if block.kind == "terraform":
            for requirements in block.body.get("required_providers", []):
                for name, spec in requirements.items():
                    if not name.startswith("__") and isinstance(spec, dict):
                        found[name] = unquote(spec.get("source", f'"hashicorp/{name}"'))
    return found


def provider_of(block: TopBlock, providers: Mapping[str, str]) -> str:
    """The source of a resource's or data source's provider: its ``provider`` argument, else its type's prefix."""
    local = block.labels[0].split("_", 1)[0]
    explicit = block.body.get("provider")
    if isinstance(explicit, str):
        local = explicit.removeprefix("${").removesuffix("}").split(".", 1)[0]
    return providers.get(local, f"hashicorp/{local}")  # Terraform's implied source for an undeclared local name


def types_used(folders: list[Path]) -> dict[str, dict[str, set[str]]]:
    """Source -> ``{"resource": types, "data": types}`` used by the stacks in ``folders`` (regenerate reads it)."""
    used: dict[str, dict[str, set[str]]] = {}
    for folder in folders:
        blocks = read_stack(folder)
        providers = required_providers(blocks)
        for source in providers.values():
            used.setdefault(source, {"resource": set(), "data": set()})
        for block in _resources_and_data(blocks):
            used.setdefault(provider_of(block, providers), {"resource": set(), "data": set()})[block.kind].add(
                block.labels[0]
            )
    return used


def _resources_and_data(blocks: list[TopBlock]) -> Iterator[TopBlock]:
    """Resources and data sources, including the data sources scoped to ``check`` blocks."""
    for block in blocks:
        if block.kind in {"resource", "data"}:
            yield block
        elif block.kind == "check":
            for entry in block.body.get("data", []):
                for labels, body in _labelled(entry, 2):
                    yield TopBlock(block.file, block.line, "data", labels, body)


def check_stack(folder: Path, extracts: Mapping[str, Extract] | None = None) -> list[Problem]:
    """Every problem of the stack in ``folder`` against ``extracts`` (default: tests/terraform_schemas)."""
    return _StackChecker(read_stack(folder), load_extracts() if extracts is None else extracts, folder).run()


def version_allows(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint (``">= 5.40, < 8.0"``, ``"~> 4.30"``) allows ``version``."""
    candidate = _version(version)
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(~>|>=|<=|!=|=|>|<)?\s*v?([0-9][0-9.]*)\s*", clause)
        if match is None:
            raise ValueError(f"not a version constraint: {constraint!r}")
        operator, bound = match.group(1) or "=", _version(match.group(2))
        parts = match.group(2).count(".") + 1
        if operator == "~>":  # only the right-most given part may grow
            upper = (bound[0] + 1, 0, 0) if parts == 1 else (*bound[: parts - 2], bound[parts - 2] + 1, 0, 0)[:3]
            allowed = bound <= candidate < upper
        else:
            allowed = {
                "=": candidate == bound, "!=": candidate != bound, ">": candidate > bound,
                ">=": candidate >= bound, "<": candidate < bound, "<=": candidate <= bound,
            }[operator]  # fmt: skip
        if not allowed:
            return False
    return True


def _version(text: str) -> tuple[int, int, int]:
    numbers = [int(part) for part in text.split(".")] + [0, 0]
    return numbers[0], numbers[1], numbers[2]


# -- the checker -----------------------------------------------------------------------------------------------


@dataclass
class _Scope:
    """What names mean where an expression is read: the block's own type (``self``), ``each.value``, iterators."""

    self_node: Schema | None = None
    each_node: Schema | None = None
    symbols: set[str] = field(default_factory=set)


@dataclass
class _Declared:
    """A declared resource or data source: its schema (None when unknown) and whether it has instances."""

    schema: Schema | None
    instances: bool


class _StackChecker:
    def __init__(self, blocks: list[TopBlock], extracts: Mapping[str, Extract], folder: Path | None = None) -> None:
        self.folder = folder
        self.blocks = blocks
        self.extracts = extracts
        self.providers = required_providers(blocks)
        self.problems: list[Problem] = []
        self.declared: dict[tuple[str, str, str], _Declared] = {}
        for block in _resources_and_data(blocks):
            schema = self._schema(block)
            instances = "count" in block.body or "for_each" in block.body
            self.declared[(block.kind, block.labels[0], block.labels[1])] = _Declared(schema, instances)
        self.block: TopBlock = blocks[0] if blocks else TopBlock("", 0, "", (), {})

    def run(self) -> list[Problem]:
        self._check_pins()
        for block in self.blocks:
            self.block = block
            if block.kind in {"resource", "data"}:
                self._check_resource(block)
            elif block.kind == "provider":
                self._check_provider(block)
            elif block.kind == "check":
                for inner in _resources_and_data([block]):
                    self.block = inner
                    self._check_resource(inner)
                self.block = block
                for key, value in block.body.items():
                    if key != "data":
                        self._scan(value, _Scope(), key)
            elif block.kind in {"locals", "output", "module"}:
                self._scan(dict(block.body), _Scope(), "")
            elif block.kind == "variable":
                self._scan({k: v for k, v in block.body.items() if k != "type"}, _Scope(), "")
        return self.problems

    def _check_pins(self) -> None:
        """Each required provider has an extract, whose version its entry states and its range allows."""
        terraform = next((b for b in self.blocks if b.kind == "terraform"), None)
        if terraform is None:
            return
        self.block = terraform
        text = (self.folder / terraform.file).read_text(encoding="utf-8") if self.folder else ""
        for local, source in sorted(self.providers.items()):
            if source == BUILTIN:
                continue
            extract = self.extracts.get(source)
            if extract is None:
                self._report(
                    f"required_providers.{local}",
                    f"{source} has no schema extract in tests/terraform_schemas: pin its CDKTF binding in PINS of "
                    f"tests/terraform_schemas/regenerate.py and run `{REGENERATE}` (a provider with no binding on "
                    "npm, such as Azure/azapi, needs a hand-checked extract, as terraform-builtin is checked "
                    "against Terraform itself)",
                )
                continue
            entry = re.search(rf"^\s*{re.escape(local)}\s*=\s*\{{(.*?)\}}", text, re.MULTILINE | re.DOTALL)
            body = entry.group(1) if entry else ""
            stated = re.search(r"schema-checked against (\S+?)[\s:;,)]", body, re.IGNORECASE)
            constraint = re.search(r'^\s*version\s*=\s*"([^"]*)"', body, re.MULTILINE)
            where = f"required_providers.{local}"
            if stated is None or stated.group(1) != extract.version:
                self._report(where, f"state the schema-checked version next to the range: a comment "
                             f'"schema-checked against {extract.version}" ({extract.path.name})')  # fmt: skip
            if constraint is None or not version_allows(constraint.group(1), extract.version):
                found = constraint.group(1) if constraint else "no version constraint"
                self._report(where, f"{found!r} does not allow {extract.version}, the version the schema check uses")

    # -- reporting and lookups ---------------------------------------------------------------------------------

    def _report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.block.file, self.block.line, self.block.address, path, message))

    def _schema(self, block: TopBlock) -> Schema | None:
        extract = self.extracts.get(provider_of(block, self.providers))
        if extract is None:
            return None
        return extract.types(block.kind)[1].get(block.labels[0])

    # -- resources, data sources, providers --------------------------------------------------------------------

    def _check_resource(self, block: TopBlock) -> None:
        kind, type_name = block.kind, block.labels[0]
        source = provider_of(block, self.providers)
        extract = self.extracts.get(source)
        noun = "resource type" if kind == "resource" else "data source type"
        schema = self._schema(block)
        if extract is not None and schema is None:
            names, _ = extract.types(kind)
            if type_name in names:
                self._report("", f"{noun} {type_name} is not in the extract {extract.path.name}: run `{REGENERATE}`")
            else:
                suggestion = _did_you_mean(type_name, names)
                self._report("", f"{noun} {type_name} does not exist in provider {extract}{suggestion}")
        body = dict(block.body)
        if "count" in body and "for_each" in body:
            self._report("", "count and for_each cannot both be set")
        scope = _Scope(self_node=schema, each_node=self._each_node(body.get("for_each")))
        meta = RESOURCE_META if kind == "resource" else DATA_META
        for key in sorted(meta & set(body)):
            self._check_meta(kind, key, body.pop(key), scope, schema)
        if schema is not None:
            self._check_body(body, schema, "", scope)
        else:
            self._scan(body, scope, "")

    def _check_provider(self, block: TopBlock) -> None:
        local = block.labels[0]
        extract = self.extracts.get(self.providers.get(local, f"hashicorp/{local}"))
        body = {key: value for key, value in block.body.items() if key not in PROVIDER_META}
        if extract is None:
            self._scan(body, _Scope(), "")
            return
        self._check_body(body, extract.provider, "", _Scope())

    def _each_node(self, for_each: Any) -> Schema | None:
        """The schema ``each.value`` has when ``for_each`` iterates one whole resource or data source."""
        if for_each is None:
            return None
        whole = [t for t in references(for_each).traversals if self._declared(t) and self._is_whole(t)]
        schemas = {id(d.schema): d.schema for t in whole if (d := self._declared(t)) is not None}
        return next(iter(schemas.values())) if len(schemas) == 1 else None

    def _check_meta(self, kind: str, key: str, value: Any, scope: _Scope, schema: Schema | None) -> None:
        if key == "provider":
            local, _, alias = str(value).removeprefix("${").removesuffix("}").partition(".")
            if local not in self.providers:
                self._report(key, f"provider {local} is not in required_providers")
            elif alias and alias not in self._aliases(local):
                self._report(key, f'no provider "{local}" block has alias = "{alias}"')
        elif key == "lifecycle":
            for lifecycle in _blocks(value):
                for name, item in lifecycle.items():
                    if name.startswith("__"):
                        continue
                    if name not in LIFECYCLE[kind]:
                        self._report(f"lifecycle.{name}", f"lifecycle of a {kind} has no {name}"
                                     f"{_did_you_mean(name, LIFECYCLE[kind])}")  # fmt: skip
                    elif name in {"precondition", "postcondition"}:
                        for condition in _blocks(item):
                            self._check_body(condition, CONDITION, f"lifecycle.{name}", scope)
                    elif name == "ignore_changes":
                        self._check_ignore_changes(item, schema)
                    else:
                        self._scan(item, scope, f"lifecycle.{name}")
        elif key == "provisioner":
            for provisioner, body in _labelled_blocks(value):
                arguments = PROVISIONERS.get(provisioner)
                if arguments is None:
                    self._report(f'provisioner "{provisioner}"', f"no provisioner {provisioner}"
                                 f"{_did_you_mean(provisioner, PROVISIONERS)}")  # fmt: skip
                    continue
                arguments_only = {k: v for k, v in body.items() if k != "connection"}
                schema_ = {"attributes": {**arguments, **PROVISIONER_COMMON}}
                self._check_body(arguments_only, schema_, f'provisioner "{provisioner}"', scope)
        else:  # count, for_each, depends_on, connection: references only
            self._scan(value, scope, key)

    def _aliases(self, local: str) -> set[str]:
        return {
            unquote(str(block.body.get("alias")))
            for block in self.blocks
            if block.kind == "provider" and block.labels[0] == local and "alias" in block.body
        }

    def _check_ignore_changes(self, value: Any, schema: Schema | None) -> None:
        if schema is None:
            return
        for item in value if isinstance(value, list) else [value]:
            text = str(item).removeprefix("${").removesuffix("}")
            name = re.split(r"[.\[]", text, maxsplit=1)[0]
            if name != "all" and name not in schema.get("attributes", {}) and name not in schema.get("block_types", {}):
                self._report("lifecycle.ignore_changes", f"{self.block.labels[0]} has no argument {name}"
                             f"{_did_you_mean(name, _names(schema))}")  # fmt: skip

    # -- bodies --------------------------------------------------------------------------------------------

    def _check_body(self, body: Mapping[str, Any], schema: Schema, path: str, scope: _Scope) -> None:
        """Names, required arguments and blocks, and references of one block body against its schema."""
        attributes = schema.get("attributes", {})
        block_types = schema.get("block_types", {})
        present = {key for key in body if not key.startswith("__")}
        for key in sorted(present):
            value = body[key]
            where = _join(path, key)
            if key == "dynamic":
                present |= self._check_dynamic(value, block_types, path, scope)
            elif key in block_types:
                nested = block_types[key]
                items = _blocks(value) or [v for v in _as_list(value) if isinstance(v, dict)]
                if nested.get("max_items") == 1 and len(items) > 1:
                    self._report(where, f"at most one {key} block")
                for item in items:
                    self._check_body(item, nested["block"], where, scope)
            elif key in attributes:
                attribute = attributes[key]
                if not attribute.get("required") and not attribute.get("optional"):
                    self._report(where, "is read-only: the provider computes it")
                elif _is_block(value) and attribute.get("type") != "dynamic":
                    self._report(where, f"is an argument: write {key} = ..., not a {key} {{ }} block")
                self._scan(value, scope, where)
            else:
                kind = "block" if _is_block(value) else "argument"
                self._report(where, f"unsupported {kind}: {self._owner(path)} has no {key}"
                             f"{_did_you_mean(key, _names(schema))}")  # fmt: skip
                self._scan(value, scope, where)
        for name, attribute in attributes.items():
            if attribute.get("required") and name not in present:
                self._report(path, f"missing required argument {name}")
        for name, nested in block_types.items():
            if nested.get("min_items", 0) > 0 and name not in present:
                self._report(path, f"missing required block {name}")

    def _check_dynamic(self, value: Any, block_types: Schema, path: str, scope: _Scope) -> set[str]:
        """``dynamic "label" { for_each, iterator, labels, content { } }`` blocks; returns the labels generated."""
        generated: set[str] = set()
        for name, body in _labelled_blocks(value):
            where = _join(path, f'dynamic "{name}"')
            generated.add(name)
            for key in sorted(k for k in body if not k.startswith("__")):
                if key not in {"for_each", "iterator", "labels", "content"}:
                    self._report(_join(where, key), f"unsupported argument: a dynamic block has no {key}")
            if "for_each" not in body:
                self._report(where, "missing required argument for_each")
            else:
                self._scan(body["for_each"], scope, _join(where, "for_each"))
            iterator = unquote(str(body.get("iterator", name))).removeprefix("${").removesuffix("}")
            inner = _Scope(scope.self_node, scope.each_node, scope.symbols | {iterator})
            contents = _blocks(body.get("content", []))
            if not contents:
                self._report(where, "missing required block content")
            if name not in block_types:
                self._report(where, f"no block type {name} in {self._owner(path)}"
                             f"{_did_you_mean(name, block_types)}")  # fmt: skip
                for content in contents:
                    for key, item in content.items():
                        if not key.startswith("__"):
                            self._scan(item, inner, _join(where, f"content.{key}"))
                continue
            for content in contents:
                self._check_body(content, block_types[name]["block"], _join(where, "content"), inner)
        return generated

    def _owner(self, path: str) -> str:
        owner = self.block.labels[0] if self.block.labels else self.block.kind
        return f"{owner} {path}" if path else owner

    # -- references ----------------------------------------------------------------------------------------

    def _scan(self, value: Any, scope: _Scope, path: str) -> None:
        """Check every reference in ``value`` (any nesting of python-hcl2 values)."""
        if _is_block(value):
            for item in _blocks(value):
                for key, inner in item.items():
                    if not key.startswith("__"):
                        self._scan(inner, scope, _join(path, key))
            return
        expression = references(value)
        for traversal in expression.traversals:
            self._check_reference(traversal, scope, expression, path)

    def _check_reference(self, traversal: Traversal, scope: _Scope, expression: Expression, path: str) -> None:
        root, steps = traversal.root, list(traversal.steps)
        if root in scope.symbols:
            return
        if root in expression.for_symbols:
            iterated = expression.for_symbols[root]
            element = self._element_of(iterated, scope) if iterated is not None else None
            if element is not None:
                self._resolve(element, steps, traversal, path, indexed=True)
            return
        if root == "each":
            if scope.each_node is not None and steps and steps[0].name == "value":
                self._resolve(scope.each_node, steps[1:], traversal, path, indexed=True)
            return
        if root == "self":
            if scope.self_node is not None:
                self._resolve(scope.self_node, steps, traversal, path, indexed=True)
            return
        if root in NOT_RESOURCES - {"data"} or not steps or steps[0].kind != "attribute":
            return
        declared = self._declared(traversal)
        kind, type_name, name = self._address(traversal)
        if not name:
            return
        if declared is None:
            prefix = "data." if kind == "data" else ""
            self._report(path, f"reference to undeclared {kind} {prefix}{type_name}.{name} in {traversal}")
            return
        if declared.schema is not None:
            rest = steps[2:] if kind == "data" else steps[1:]
            self._resolve(declared.schema, rest, traversal, path, indexed=not declared.instances)

    def _address(self, traversal: Traversal) -> tuple[str, str, str]:
        steps = traversal.steps
        if traversal.root == "data":
            names = [s.name for s in steps[:2] if s.kind == "attribute"]
            return ("data", names[0], names[1]) if len(names) == 2 else ("data", "", "")
        return "resource", traversal.root, steps[0].name if steps and steps[0].kind == "attribute" else ""

    def _declared(self, traversal: Traversal) -> _Declared | None:
        kind, type_name, name = self._address(traversal)
        return self.declared.get((kind, type_name, name)) if name else None

    def _is_whole(self, traversal: Traversal) -> bool:
        """Whether a traversal names a whole resource or data source (all its instances), nothing inside."""
        return len(traversal.steps) == (3 if traversal.root == "data" else 1)

    def _element_of(self, iterated: Traversal, scope: _Scope) -> Schema | None:
        """The schema of one element a ``for`` iterates, when it iterates a resource's instances."""
        declared = self._declared(iterated)
        if declared is not None and self._is_whole(iterated):
            return declared.schema
        return None

    def _resolve(self, node: Schema, steps: list[Any], traversal: Traversal, path: str, *, indexed: bool) -> None:
        """Walk ``steps`` through a schema node, reporting a name it lacks or an index or name it cannot take.

        ``indexed`` is False for a resource with ``count``/``for_each`` until its instance key is given. A
        list or set of blocks or objects (an SDKv2 ``MaxItems: 1`` block too) needs an index or splat before
        an attribute; a set takes no index; a single block or object takes no numeric index.
        """
        collection: str | None = None if indexed else "instances"
        where: list[str] = []
        for step in steps:
            here = ".".join(where)
            if step.kind in {"index", "splat"}:
                if collection == "set" and step.kind == "index":
                    self._report(path, f"{traversal}: {here} is a set: it has no index "
                                 "(use one(), a for expression or a splat)")  # fmt: skip
                    return
                if collection is None and step.kind == "index" and (step.literal or "").isdigit() and where:
                    self._report(path, f"{traversal}: {here} is a single object: it has no index [{step.literal}]")
                    return
                collection = None
                continue
            if collection == "instances":
                self._report(path, f"{traversal}: the resource has count or for_each: give its instance key "
                             "first ([key], [index] or [*])")  # fmt: skip
                return
            if collection in {"list", "set"}:
                self._report(path, f"{traversal}: {here} is a {collection} of objects: index it ({here}[0]) or "
                             f"splat it ({here}[*]) before .{step.name}")  # fmt: skip
                return
            if collection == "map":
                collection = None  # .key of a map of objects
                continue
            attributes = node.get("attributes", {})
            block_types = node.get("block_types", {})
            if step.name in block_types:
                nested = block_types[step.name]
                node = nested["block"]
                collection = None if nested["nesting_mode"] == "single" else nested["nesting_mode"]
            elif step.name in attributes:
                nested_type = attributes[step.name].get("nested_type")
                if nested_type is None:
                    return  # a value: what follows indexes a map, list or dynamic value
                node = nested_type
                collection = None if nested_type["nesting_mode"] == "single" else nested_type["nesting_mode"]
            else:
                owner = ".".join([self._type_of(traversal), *where])
                self._report(path, f"{traversal}: {owner} has no attribute or block {step.name}"
                             f"{_did_you_mean(step.name, _names(node))}")  # fmt: skip
                return
            where.append(step.name)

    def _type_of(self, traversal: Traversal) -> str:
        _, type_name, _ = self._address(traversal)
        if traversal.root in {"each", "self"} or not self._declared(traversal):
            return traversal.root
        return type_name


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _names(schema: Schema) -> set[str]:
    return set(schema.get("attributes", {})) | set(schema.get("block_types", {}))


def _did_you_mean(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _blocks(value: Any) -> list[dict[str, Any]]:
    """The bodies of ``name { }`` blocks (python-hcl2: a list of dicts marked ``__is_block__``)."""
    return [dict(v) for v in value] if _is_block(value) else []


def _labelled_blocks(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(label, body)`` of labelled blocks such as ``dynamic "x" { }`` and ``provisioner "local-exec" { }``."""
    for entry in value if isinstance(value, list) else []:
        for label, body in entry.items() if isinstance(entry, dict) else []:
            if not str(label).startswith("__") and isinstance(body, dict):
                yield unquote(label), dict(body)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def mutated_problems(tmp_path: Path, stack: Path, file: str, old: str, new: str) -> list[str]:
    """The problems of a copy of ``stack`` whose ``file`` has its first match of ``old`` replaced by ``new``.

    Lines are left out: they move when the stacks are edited (each provider's tests check them once).
    """
    copy = tmp_path / stack.parent.name
    shutil.copytree(stack, copy)
    path = copy / file
    text = path.read_text(encoding="utf-8")
    assert re.search(old, text, re.MULTILINE), f"{file} no longer has {old!r}: update this test"
    path.write_text(re.sub(old, new, text, count=1, flags=re.MULTILINE), encoding="utf-8")
    return [f"{p.file}: {p.address}: {p.path}: {p.message}" if p.path else f"{p.file}: {p.address}: {p.message}"
            for p in check_stack(copy)]  # fmt: skip


def mutations_test(stack: Path, mutations: Mapping[str, tuple[str, str, str, list[str]]]) -> Callable[..., None]:
    """The test that each of a provider's ``mutations`` (file, pattern, replacement, the problems expected) of a
    copy of ``stack`` is reported exactly; the provider's test module binds it to a ``test_...`` name."""

    @pytest.mark.parametrize("case", sorted(mutations))
    def test(case: str, tmp_path: Path) -> None:
        file, old, new, expected = mutations[case]
        assert sorted(mutated_problems(tmp_path, stack, file, old, new)) == sorted(expected)  # in any order

    return test
