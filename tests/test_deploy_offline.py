"""Which Terraform providers this machine can validate offline, said out loud.

``terraform validate`` needs each stack's provider plugin, and nothing may be downloaded here. A stack
whose plugin this machine kind ships is validated (and applied on an emulator) by
tests/providers/<cloud>/test_deploy_apply.py; for every other stack this test records, in the test
report, that its provider is not available offline and therefore that only the offline checks
(python-hcl2 parsing, checkov, the per-provider test_deploy.py) ran for it. It fails if a stack's
plugins all appear without a validate test being added, so the report cannot go stale.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from core import registry

PLUGIN_DIR = Path(os.environ.get("POLYTHUMB_TF_PLUGIN_DIR", "/opt/tf-plugins"))
PROVIDER_TESTS = Path(__file__).parent / "providers"


def required_providers(spec: registry.ProviderSpec) -> list[str]:
    text = (spec.folder / spec.deploy_dir / "versions.tf").read_text()
    return re.findall(r'source\s*=\s*"([\w-]+/[\w-]+)"', text)


@pytest.mark.parametrize("name", registry.names())
def test_offline_validation_status_is_reported(name: str, record_property: pytest.RecordProperty) -> None:
    spec = registry.get(name)
    sources = required_providers(spec)
    assert sources, f"{name}: versions.tf names no provider"
    available = {s: any(PLUGIN_DIR.glob(f"registry.terraform.io/{s}/*/*/terraform-provider-*")) for s in sources}
    missing = sorted(s for s, found in available.items() if not found)
    status = "validated offline" if not missing else f"NOT validated offline: no plugin for {', '.join(missing)}"
    record_property("terraform_validate", status)
    print(f"{name}: terraform validate {status} (plugin dir {PLUGIN_DIR})")
    if (PROVIDER_TESTS / name / "test_deploy_apply.py").is_file():
        return  # its validate/apply tests fail, not skip, under POLYTHUMB_REQUIRE_ALL_PROVIDERS=1
    assert missing, f"{name}: every plugin is available offline now; add a terraform validate test for it"


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
    assert (spec.folder / spec.deploy_dir / "example.tfvars").is_file()
