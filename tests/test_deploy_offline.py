"""Which Terraform providers this machine can validate offline, said out loud.

``terraform validate`` needs each stack's provider plugin, and nothing may be downloaded here. A stack
whose plugin this machine kind ships is validated (and applied on an emulator) by
tests/providers/<cloud>/test_deploy_apply.py; for every other stack this test records, in the test
report, that its provider is not available offline and therefore that the offline checks ran for it
instead: python-hcl2 parsing, checkov, the per-provider test_deploy.py, and the schema check against the
pinned provider schemas (tests/test_terraform_schema.py), whose versions it records too. It fails if a
stack's plugins all appear without a validate test being added, and if a stack that cannot be validated
is not schema-checked, so the report cannot go stale.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from core import registry
from tests.terraform_schema import BUILTIN, STACKS, load_extracts, types_used

PLUGIN_DIR = Path(os.environ.get("POLYTHUMB_TF_PLUGIN_DIR", "/opt/tf-plugins"))
PROVIDER_TESTS = Path(__file__).parent / "providers"


def provider_sources(spec: registry.ProviderSpec) -> list[str]:
    text = (spec.deploy_folder / "versions.tf").read_text()
    return re.findall(r'source\s*=\s*"([\w-]+/[\w-]+)"', text)


@pytest.mark.parametrize("name", registry.names())
def test_offline_validation_status_is_reported(name: str, record_property: pytest.RecordProperty) -> None:
    spec = registry.get(name)
    sources = provider_sources(spec)
    assert sources, f"{name}: versions.tf names no provider"
    available = {s: any(PLUGIN_DIR.glob(f"registry.terraform.io/{s}/*/*/terraform-provider-*")) for s in sources}
    missing = sorted(s for s, found in available.items() if not found)
    status = "validated offline" if not missing else f"NOT validated offline: no plugin for {', '.join(missing)}"
    record_property("terraform_validate", status)
    print(f"{name}: terraform validate {status} (plugin dir {PLUGIN_DIR})")
    schema_check = schema_check_status(name)
    record_property("terraform_schema_check", schema_check)
    print(f"{name}: {schema_check}")
    if (PROVIDER_TESTS / name / "test_deploy_apply.py").is_file():
        return  # its validate/apply tests fail, not skip, under POLYTHUMB_REQUIRE_ALL_PROVIDERS=1
    assert missing, f"{name}: every plugin is available offline now; add a terraform validate test for it"
    assert name in STACKS, f"{name}: neither terraform validate nor the schema check covers it: add it to STACKS"


def schema_check_status(name: str) -> str:
    """Which provider versions the offline schema check (tests/test_terraform_schema.py) checks a stack against."""
    if name not in STACKS:
        return "not schema-checked offline"
    extracts = load_extracts()
    used = types_used([STACKS[name]])
    sources = sorted(s for s, kinds in used.items() if s != BUILTIN or kinds["resource"] or kinds["data"])
    checked = ", ".join(str(extracts[s]) if s in extracts else f"{s} (no extract: fails)" for s in sources)
    return f"schema-checked offline against {checked} (tests/test_terraform_schema.py)"


@pytest.mark.parametrize("name", registry.names())
def test_each_provider_readme_says_how_to_deploy_verify_watch_and_tear_down(name: str) -> None:
    spec = registry.get(name)
    readme = (spec.folder / "README.md").read_text()
    assert "pip install 'polythumb[" not in readme  # the package is installed from the checkout
    assert f"pip install '.[{spec.extra}]'" in readme
    section = readme.split("## Deploy in 10 minutes", 1)[1].split("\n## ", 1)[0]
    for step in ("**Install**", "**Authenticate", "**Configure**", "**Deploy**", "**Verify**", "**Watch**",
                 "**Tear down**"):  # fmt: skip
        assert step in section, step
    assert f"polythumb deploy {name} --var-file my.tfvars" in section
    assert f"polythumb verify {name}" in section
    assert (spec.deploy_folder / "example.tfvars").is_file()
