"""The provider-specific concepts each provider needs, read from its code and Terraform (never imported).

* **event types**: the event-type and source names the provider's ``events.py`` recognises (string
  constants such as ``google.cloud.storage.object.v1.finalized``, ``Microsoft.Storage.BlobCreated``,
  ``<source>:<service>`` pairs, and the names in its kind/family tables);
* **IAM**: the identity and permission resources of its Terraform, and the actions or roles granted;
* **settings**: the ``THUMBS_*`` names its Terraform sets, the provider-only ``THUMBS_*`` names (not in
  :data:`core.config.SETTINGS`), and the platform settings its code or Terraform reads;
* **deploy**: the files a move to or from this provider swaps, and the instance size it deploys.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core import registry
from core.config import SETTINGS

_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[.:][A-Za-z0-9*]+)+$")
_TABLE_NAME = re.compile(r"KIND|FAMIL|TYPE|API|SCHEMA")
_RESOURCE = re.compile(r'^\s*resource\s+"([a-z0-9_]+)"\s+"([A-Za-z0-9_-]+)"', re.MULTILINE)
_IAM_RESOURCE = re.compile(r"iam|role|policy|service_account|identity|assignment|member|binding")
_THUMBS = re.compile(r"\bTHUMBS_[A-Z][A-Z_]*[A-Z]\b")
_SETTING_BLOCK = re.compile(
    r"\b(app_settings|environment|environment_variables|thumbs_environment|thumbs_defaults)\s*=\s*(?:merge\([^{)\n]*)?\{"
)
_SETTING_KEY = re.compile(r'^\s*"?([A-Za-z$][A-Za-z0-9_.${}]*)"?\s*=\s*(.*?)\s*$', re.MULTILINE)
_ENV_READ = re.compile(r'environ(?:\.get)?[(\[]\s*"([A-Za-z_][A-Za-z0-9_]*)"')
_ENV_CONSTANT = re.compile(r'^[A-Z_]*_ENV\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', re.MULTILINE)
_DEFAULT = r'variable\s+"{name}"\s*\{{[^}}]*?default\s*=\s*"?([0-9A-Za-z.]+)"?'


@dataclass(frozen=True)
class TerraformFacts:
    """What the lock-in report reads from a provider's Terraform (its descriptor's ``terraform_facts`` path).

    Attributes:
        permission_pattern: A regular expression whose first group is one permission the stack grants (an
            IAM action, a role name).
        instance_variables: Label (``memory_mb``, ``memory``, ``cpu``) -> the variable that sizes an instance.
    """

    permission_pattern: str
    instance_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Concepts:
    """What a team has to know about one provider to run polythumb there."""

    provider: str
    event_names: list[str] = field(default_factory=list)
    iam_resources: list[str] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)
    thumbs_settings: list[str] = field(default_factory=list)
    terraform_settings: dict[str, str] = field(default_factory=dict)
    settings_variable: bool = False
    provider_only_settings: list[str] = field(default_factory=list)
    platform_settings: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    deploy_files: list[str] = field(default_factory=list)
    instance: dict[str, str] = field(default_factory=dict)


def event_names(source: str) -> list[str]:
    """Event-type names a provider's events module recognises.

    Dotted or colon names (``<source>:<service>``, ``google.cloud.storage.object.v1.finalized``) that the module
    compares against or binds to a module-level name, and every string of its module-level
    kind/family/type/API/schema tables (``ObjectCreated``, ``PutBlob``).
    """
    tree = ast.parse(source)
    candidates: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            candidates += [n for n in (node.left, *node.comparators) if isinstance(n, ast.Constant)]
    tables: list[ast.AST] = []
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        value = getattr(node, "value", None)
        if value is None:
            continue
        if isinstance(value, ast.Constant):
            candidates.append(value)
        if any(isinstance(t, ast.Name) and _TABLE_NAME.search(t.id) for t in targets):
            tables.append(value)
    found: dict[str, None] = {}
    for constant in candidates:
        if isinstance(constant.value, str) and _EVENT_NAME.match(constant.value) and len(constant.value) <= 80:
            found[constant.value] = None
    for table in tables:
        for item in ast.walk(table):
            if isinstance(item, ast.Constant) and isinstance(item.value, str) and item.value:
                found[item.value] = None
    return list(found)


def terraform_text(folder: Path) -> str:
    """Every ``.tf`` file of ``folder``, concatenated."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.tf")))


def setting_keys(terraform: str) -> dict[str, str]:
    """Names set in the Terraform's app-settings / environment blocks, with the expression they are set to."""
    keys: dict[str, str] = {}
    for match in _SETTING_BLOCK.finditer(terraform):
        depth, start = 1, match.end()
        end = start
        while end < len(terraform) and depth:
            depth += {"{": 1, "}": -1}.get(terraform[end], 0)
            end += 1
        block = terraform[start : end - 1]
        # Only the block's own keys (nested blocks' keys are not settings).
        for key, value in _SETTING_KEY.findall(block):
            keys[key] = value
    return keys


def terraform_default(terraform: str, name: str) -> str | None:
    """The default of ``variable "<name>"``, if it is a literal."""
    match = re.search(_DEFAULT.format(name=re.escape(name)), terraform, re.DOTALL)
    return match.group(1) if match else None


def terraform_facts(provider: str) -> TerraformFacts | None:
    """What the provider's descriptor says about its Terraform, if this install has it and it says anything."""
    spec = registry.providers().get(provider)
    if spec is None or not spec.terraform_facts:
        return None
    facts: TerraformFacts = registry.resolve(spec.terraform_facts, hint=spec.install_hint)
    return facts


def provider_concepts(root: Path, provider: str) -> Concepts:
    """Read the concepts of ``provider`` from ``root/providers/<provider>``."""
    folder = root / "providers" / provider
    deploy = folder / "deploy"
    terraform = terraform_text(deploy)
    code = "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py")) if p.name != "packaging.py")
    events_file = folder / "events.py"
    names = event_names(events_file.read_text(encoding="utf-8")) if events_file.exists() else []
    resources = sorted({kind for kind, _ in _RESOURCE.findall(terraform)})
    facts = terraform_facts(provider)
    permissions = sorted(set(re.findall(facts.permission_pattern, terraform))) if facts else []
    set_keys = setting_keys(terraform)
    thumbs = sorted({*(_THUMBS.findall(code)), *(k for k in set_keys if k.startswith("THUMBS_"))})
    platform_keys = {re.sub(r"\$\{[^}]*\}", "<connection>", k) for k in set_keys if not k.startswith("THUMBS_")}
    platform = sorted({*_ENV_READ.findall(code), *_ENV_CONSTANT.findall(code), *platform_keys} - set(SETTINGS))
    files = sorted(str(p.relative_to(root)) for p in deploy.glob("*.tf"))
    files += [
        str((folder / n).relative_to(root))
        for n in ("packaging.py", "host.json", "requirements.txt")
        if (folder / n).exists()
    ]
    instance = {
        label: value
        for label, variable in (facts.instance_variables if facts else {}).items()
        if (value := terraform_default(terraform, variable)) is not None
    }
    return Concepts(
        provider=provider,
        event_names=names,
        iam_resources=[r for r in resources if _IAM_RESOURCE.search(r)],
        permissions=permissions,
        thumbs_settings=[name for name in thumbs if name in SETTINGS],
        terraform_settings=dict(set_keys),
        settings_variable='variable "thumbs_settings"' in terraform,
        provider_only_settings=[name for name in thumbs if name not in SETTINGS],
        platform_settings=platform,
        resources=resources,
        deploy_files=files,
        instance=instance,
    )
