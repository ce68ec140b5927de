"""A Terraform provider's schema, read from its CDKTF prebuilt binding (``@cdktf/provider-<name>`` on npm).

The binding is generated from the provider's own schema (``terraform providers schema -json``) at one provider
version, and keeps all of it in two places of the package:

* the jsii assembly (``package/.jsii``, JSON): one class per resource, data source and the provider, whose
  summary links to the registry page named by the Terraform type (``{@link .../docs/resources/sleep
  time_sleep}``); the class's ``...Config`` struct holds the arguments and blocks, each property's
  documentation ending with ``Docs at Terraform Registry: {@link ...#<terraform_name> ...}``, required when
  the property is not ``optional``; a block is a struct (max one) or an array of structs;
* the generated JavaScript (``package/lib/<module>/index.js``): each getter of the resource class and of
  each block's ``...OutputReference`` class reads one Terraform attribute by its name
  (``this.getStringAttribute('md5hash')``, or ``new ...List(this, "secret_volumes", wrapsSet)`` for a
  nested list, ``wrapsSet`` true for a set). A getter that is not an argument is a computed attribute.
  Names come from there, not from the camelCase (``md5hash`` is ``md5Hash``, ``build`` is ``buildAttribute``).

The result uses the shape of ``terraform providers schema -json`` (``attributes`` with ``required``,
``optional`` or ``computed``, ``block_types`` with ``nesting_mode``, ``min_items``, ``max_items``, ``block``),
trimmed to what the checker reads; computed attributes holding objects carry a ``nested_type`` (as
plugin-framework nested attributes do in Terraform's output), so references into them resolve.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: ``{@link <registry url> <text>}`` in a jsii doc string.
LINK = re.compile(r"\{@link (https://registry\.terraform\.io/providers/\S+) ([^}]+)\}")
#: The Terraform name a config property documents: the anchor of its registry link.
PROPERTY_LINK = re.compile(r"Docs at Terraform Registry: \{@link https://registry\.terraform\.io/\S+#(\w+) ")
#: A class of the generated JavaScript, up to its closing brace at column 0.
JS_CLASS = re.compile(r"^class (\w+) extends [\w.]+ \{\n(.*?)^\}$", re.MULTILINE | re.DOTALL)
#: A getter whose body is one ``return``.
JS_GETTER = re.compile(r"^    get (\w+)\(\) \{\n\s+return (.+?);\n    \}$", re.MULTILINE)
#: ``this._x = new SomeList(this, "tf_name", true)``: a complex getter's Terraform name (and set-ness).
JS_COMPLEX = re.compile(r"this\._(\w+) = new [\w.]+\(this, \"(\w+)\"(?:, (true|false))?\)")
#: The Terraform name read by a simple getter (``getStringAttribute('x')``, ``interpolationForAttribute('x')``).
JS_ATTRIBUTE = re.compile(r"this\.(?:get\w*Attribute|interpolationForAttribute)\('(\w+)'\)")

BASES = {
    "cdktf.TerraformResource": "resource",
    "cdktf.TerraformDataSource": "data",
    "cdktf.TerraformProvider": "provider",
}
#: Provider-block meta-arguments cdktf puts among the provider's arguments: checked as meta-arguments instead.
PROVIDER_META = {"alias"}

Schema = dict[str, Any]


@dataclass(frozen=True)
class Getter:
    """One getter of a generated class: the Terraform name it reads, and whether that is a set."""

    terraform_name: str
    wraps_set: bool
    untyped: bool = False  # read with interpolationForAttribute: cdktf did not model its type (``any``)


class Assembly:
    """One CDKTF binding: its jsii types, and its JavaScript read on demand by module file name.

    Args:
        jsii: The parsed ``package/.jsii``.
        javascript: ``"src/<module>/index.ts"`` (a type's ``locationInModule.filename``) -> that module's
            compiled ``index.js`` text.
    """

    def __init__(self, jsii: Mapping[str, Any], javascript: Callable[[str], str]) -> None:
        self.types: Mapping[str, Any] = jsii["types"]
        self._javascript = javascript
        self._getters: dict[str, dict[str, Getter]] = {}
        self._bodies: dict[str, dict[str, str]] = {}

    def classes(self) -> dict[str, dict[str, str]]:
        """``{"resource": {terraform_type: fqn}, "data": {...}, "provider": {local_name: fqn}}``."""
        found: dict[str, dict[str, str]] = {kind: {} for kind in BASES.values()}
        for fqn, spec in self.types.items():
            kind = BASES.get(spec.get("base", ""))
            if kind is None:
                continue
            link = LINK.search(spec.get("docs", {}).get("summary", ""))
            if link is None:
                raise ValueError(f"{fqn}: no registry link names its Terraform type")
            url, name = link.groups()
            expected = {"resource": "/docs/resources/", "data": "/docs/data-sources/", "provider": "/docs"}[kind]
            if expected not in url:
                raise ValueError(f"{fqn}: a {kind} class links to {url}")
            if name in found[kind]:
                raise ValueError(f"{fqn}: {kind} {name} is also {found[kind][name]}")
            found[kind][name.strip()] = fqn
        return found

    def terraform_type(self, fqn: str) -> str:
        """The ``terraformResourceType`` the class's JavaScript passes to cdktf (a cross-check of the link)."""
        text = self._module_js(fqn)
        match = re.search(r"terraformResourceType: '(\w+)'", text)
        if match is None:
            raise ValueError(f"{fqn}: no terraformResourceType in its JavaScript")
        return match.group(1)

    def schema(self, fqn: str) -> Schema:
        """The block schema of a resource, data source or provider class."""
        spec = self.types[fqn]
        [config] = [p for p in spec["initializer"]["parameters"] if p["name"] == "config"]
        block = self._block(config["type"]["fqn"], fqn)
        if spec["base"] == "cdktf.TerraformProvider":
            for name in PROVIDER_META:
                block["attributes"].pop(name, None)
        return block

    # -- blocks ------------------------------------------------------------------------------------------

    def _block(self, struct: str | None, reader: str | None) -> Schema:
        """A block from its config struct (arguments, nested blocks) and its reader class (computed ones)."""
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        getters = self._class_getters(reader) if reader else {}
        by_terraform_name = {g.terraform_name: (name, g) for name, g in getters.items()}
        js_names = self._js_struct_names(struct, reader) if struct else {}
        for prop in self.types[struct].get("properties", []) if struct else []:
            name = self._terraform_name(struct or "", prop, js_names)
            element, many = self._struct_of(prop["type"])
            if element is None:
                attributes[name] = self._argument(prop)
                continue
            getter_name, getter = by_terraform_name.get(name, (None, None))
            nested_reader = self._element_reader(reader, getter_name) if getter_name else None
            block_types[name] = {
                "nesting_mode": self._nesting_mode(getter, nested_reader, many),
                "min_items": 0 if prop.get("optional") else 1,
                "max_items": 0 if many else 1,
                "block": self._block(element, nested_reader),
            }
        for getter_name, getter in getters.items():
            name = getter.terraform_name
            if name in attributes or name in block_types:
                continue
            attribute: dict[str, Any] = {"computed": True}
            if getter.untyped:
                attribute["type"] = "dynamic"
            nested = self._computed_nested(reader or "", getter_name, getter)
            if nested is not None:
                attribute["nested_type"] = nested
            attributes[name] = attribute
        return {"attributes": dict(sorted(attributes.items())), "block_types": dict(sorted(block_types.items()))}

    def _nesting_mode(self, getter: Getter | None, reader: str | None, many: bool) -> str:
        """``set`` for a list class wrapping a set; for one struct, ``single`` when its reader reads the object
        itself (``super(resource, attribute, false)``), ``list`` when it reads element 0 of a one-item list
        (``super(resource, attribute, false, 0)``: an SDKv2 block with ``MaxItems: 1``)."""
        if getter is not None and getter.wraps_set:
            return "set"
        if many or reader is None:
            return "list"
        body = self._class_bodies(reader).get(self.types[reader]["name"], "")
        return "single" if "super(terraformResource, terraformAttribute, false);" in body else "list"

    def _argument(self, prop: Mapping[str, Any]) -> dict[str, Any]:
        """An argument: required or optional; ``dynamic`` when cdktf typed it ``any`` (a value of any shape,
        or a block too deep for cdktf to model); a ``nested_type`` map for a map of objects."""
        argument: dict[str, Any] = {"optional": True} if prop.get("optional") else {"required": True}
        jsii_type = prop["type"]
        for candidate in jsii_type.get("union", {}).get("types", [jsii_type]):
            if candidate.get("primitive") == "any":
                argument["type"] = "dynamic"
            collection = candidate.get("collection", {})
            element = collection.get("elementtype", {}).get("fqn")
            if collection.get("kind") == "map" and element in self.types and self.types[element].get("datatype"):
                attributes = self._block(element, None)["attributes"]
                argument["nested_type"] = {"nesting_mode": "map", "attributes": attributes}
        return argument

    def _computed_nested(self, reader: str, getter_name: str, getter: Getter) -> Schema | None:
        """``nested_type`` of a computed attribute holding objects (a list, set, map or single object)."""
        element = self._element_reader(reader, getter_name)
        if element is None:
            return None
        kind = self._base(self._property_type(reader, getter_name))
        modes = {"cdktf.ComplexList": "set" if getter.wraps_set else "list", "cdktf.ComplexMap": "map"}
        mode = modes.get(kind or "") or self._nesting_mode(getter, element, many=False)
        return {"nesting_mode": mode, "attributes": self._block(None, element)["attributes"]}

    def _element_reader(self, reader: str | None, getter_name: str) -> str | None:
        """The ``...OutputReference`` class that reads one element of a getter's value, if it holds objects."""
        if reader is None:
            return None
        fqn = self._property_type(reader, getter_name)
        if fqn is None or fqn not in self.types:
            return None
        base = self._base(fqn)
        if base == "cdktf.ComplexObject":
            return fqn
        if base in {"cdktf.ComplexList", "cdktf.ComplexMap"}:
            [get] = [m for m in self.types[fqn].get("methods", []) if m["name"] == "get"]
            returned: str = get["returns"]["type"]["fqn"]
            return returned
        return None

    # -- jsii lookups ------------------------------------------------------------------------------------

    def _base(self, fqn: str | None) -> str | None:
        if fqn is None or fqn not in self.types:
            return None
        base: str | None = self.types[fqn].get("base")
        return base

    def _property_type(self, fqn: str, name: str) -> str | None:
        for prop in self.types[fqn].get("properties", []):
            if prop["name"] == name and not prop.get("static"):
                found: str | None = prop["type"].get("fqn")
                return found
        return None

    def _struct_of(self, jsii_type: Mapping[str, Any]) -> tuple[str | None, bool]:
        """``(struct fqn, is_array)`` when a config property is a block, else ``(None, False)``."""
        for candidate in jsii_type.get("union", {}).get("types", [jsii_type]):
            collection = candidate.get("collection")
            if collection and collection["kind"] == "array":
                fqn = collection["elementtype"].get("fqn")
                if fqn in self.types and self.types[fqn].get("datatype"):
                    return fqn, True
            fqn = candidate.get("fqn")
            if fqn in self.types and self.types[fqn].get("datatype"):
                return fqn, False
        return None, False

    @staticmethod
    def _terraform_name(struct: str, prop: Mapping[str, Any], js_names: Mapping[str, str]) -> str:
        """A config property's Terraform name: its registry link's anchor, which the JavaScript must agree with.

        A description holding ``*/`` garbles the doc comment and loses the link: the JavaScript's name stands.
        """
        docs = prop.get("docs", {})
        links = PROPERTY_LINK.findall(f"{docs.get('summary', '')}\n{docs.get('remarks', '')}")
        from_js = js_names.get(prop["name"])
        if links and from_js and links[-1] != from_js:
            raise ValueError(f"{struct}.{prop['name']}: linked as {links[-1]}, written as {from_js}")
        name = links[-1] if links else from_js
        if name is None:
            raise ValueError(f"{struct}.{prop['name']}: neither a registry link nor the JavaScript names it")
        return name

    # -- JavaScript --------------------------------------------------------------------------------------

    def _module_js(self, fqn: str) -> str:
        return self._javascript(self.types[fqn]["locationInModule"]["filename"])

    def _js_struct_names(self, struct: str, reader: str | None) -> dict[str, str]:
        """Property -> Terraform name, as the JavaScript writes a struct out: its ``<struct>ToTerraform``
        function, or for a resource's config struct the resource class's ``synthesizeAttributes``."""
        name = self.types[struct]["name"]
        text = self._module_js(struct)
        function = re.search(rf"^function {name[0].lower()}{name[1:]}ToTerraform\(struct\) \{{\n(.*?)^\}}$", text,
                             re.MULTILINE | re.DOTALL)  # fmt: skip
        if function:
            return {prop: tf for tf, prop in re.findall(r"^\s+(\w+): [^\n]*?\bstruct\.(\w+)", function.group(1), re.M)}
        if reader is None:
            return {}
        body = self._class_bodies(reader).get(self.types[reader]["name"], "")
        synthesize = re.search(r"^    synthesizeAttributes\(\) \{\n(.*?)^    \}$", body, re.MULTILINE | re.DOTALL)
        if synthesize is None:
            return {}
        return {prop: tf for tf, prop in re.findall(r"^\s+(\w+): [^\n]*?\bthis\._(\w+)", synthesize.group(1), re.M)}

    def _class_bodies(self, fqn: str) -> dict[str, str]:
        """Class name -> body, for every class of the module that defines ``fqn``."""
        filename = self.types[fqn]["locationInModule"]["filename"]
        if filename not in self._bodies:
            self._bodies[filename] = {m.group(1): m.group(2) for m in JS_CLASS.finditer(self._javascript(filename))}
        return self._bodies[filename]

    def _class_getters(self, fqn: str) -> dict[str, Getter]:
        """Getter name -> the Terraform attribute it reads, for every attribute getter of a class."""
        if fqn not in self._getters:
            name = self.types[fqn]["name"]
            body = self._class_bodies(fqn)[name]
            complex_fields = {field: Getter(tf, wraps == "true") for field, tf, wraps in JS_COMPLEX.findall(body)}
            getters: dict[str, Getter] = {}
            for getter_name, returned in JS_GETTER.findall(body):
                simple = JS_ATTRIBUTE.search(returned)
                if simple:
                    untyped = "interpolationForAttribute" in returned
                    getters[getter_name] = Getter(simple.group(1), wraps_set=False, untyped=untyped)
                    continue
                field = re.fullmatch(r"this\._(\w+)", returned)
                if field and field.group(1) in complex_fields:
                    getters[getter_name] = complex_fields[field.group(1)]
            self._getters[fqn] = getters
        return self._getters[fqn]
