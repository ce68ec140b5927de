"""The offline schema check (tests/terraform_schema.py) of the stacks no test applies with a real plugin.

The stacks must pass it (each provider's tests/providers/<cloud>/test_terraform_schema.py also proves, on a
copy of its stack with one thing broken, that it fails with exactly that problem); the extracts must be the
pinned versions, hold the types the stacks use, and name every type of their provider; the builtin
provider's extract must agree with the local Terraform. No network: the extracts are committed
(tests/terraform_schemas/regenerate.py rewrites them, outside the tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.hcl_references import references
from tests.terraform_schema import (
    BUILTIN,
    REGENERATE,
    STACKS,
    check_stack,
    load_extracts,
    types_used,
    version_allows,
)
from tests.terraform_schemas.regenerate import PINS, trim


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_the_stack_matches_its_pinned_provider_schemas(stack: str) -> None:
    problems = check_stack(STACKS[stack])
    assert not problems, "\n".join(map(str, problems))


# -- the extracts ----------------------------------------------------------------------------------------------


def test_each_extract_holds_exactly_the_types_the_stacks_use() -> None:
    """What regenerate would write for the stacks as they are (a type added or dropped: run it)."""
    extracts = load_extracts()
    for source, used in types_used(list(STACKS.values())).items():
        extract = extracts[source]
        assert set(extract.resources) == used["resource"] & extract.resource_types, f"{source}: run `{REGENERATE}`"
        assert set(extract.data_sources) == used["data"] & extract.data_source_types, f"{source}: run `{REGENERATE}`"


def test_each_extract_is_its_pinned_binding_and_names_every_type_of_its_provider() -> None:
    extracts = load_extracts()
    for source, extract in extracts.items():
        if source == BUILTIN:
            continue
        pin = PINS[source]
        assert (extract.version, extract.binding) == (pin.provider_version, f"{pin.spec} ({pin.integrity})")
        assert extract.path.name == f"{source.split('/')[1]}-{pin.provider_version}.json"
        assert set(extract.resources) <= extract.resource_types
        assert len(extract.resource_types) >= 4  # every type of the provider, not only those the stacks use
    if "hashicorp/time" in extracts:
        time_types = {"time_offset", "time_rotating", "time_sleep", "time_static"}
        assert extracts["hashicorp/time"].resource_types == time_types


def test_the_builtin_extract_is_what_the_local_terraform_says(tmp_path: Path) -> None:
    """terraform_data's schema comes from Terraform itself; the builtin provider needs no download."""
    terraform = shutil.which("terraform")
    if terraform is None:
        if os.environ.get("POLYTHUMB_REQUIRE_ALL_PROVIDERS") == "1":
            pytest.fail("terraform is not on PATH")
        pytest.skip("terraform is not on PATH")
    (tmp_path / "main.tf").write_text('resource "terraform_data" "probe" {}\n')
    (tmp_path / "cli.tfrc").write_text('provider_installation {\n  direct { exclude = ["*/*"] }\n}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc"), "TF_IN_AUTOMATION": "1"}
    subprocess.run([terraform, "init", "-input=false", "-backend=false"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    schema = subprocess.run([terraform, "providers", "schema", "-json"], cwd=tmp_path, env=env, check=True,
                            capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    builtin = json.loads(schema)["provider_schemas"][BUILTIN]["resource_schemas"]["terraform_data"]["block"]
    assert load_extracts()[BUILTIN].resources["terraform_data"] == trim(builtin)


@pytest.mark.parametrize(
    ("constraint", "version", "allowed"),
    [("~> 4.30", "4.55.0", True), ("~> 4.30", "5.0.0", False), ("~> 4.30.1", "4.30.9", True),
     ("~> 4.30.1", "4.31.0", False), (">= 5.40, < 8.0", "6.50.0", True), (">= 5.40, < 8.0", "8.0.0", False),
     (">= 0.9, < 1.0", "0.13.1", True), ("6.50.0", "6.50.0", True), ("!= 6.50.0", "6.50.0", False)],
)  # fmt: skip
def test_version_constraints_read_as_terraform_does(constraint: str, version: str, allowed: bool) -> None:
    assert version_allows(constraint, version) is allowed


# -- the expression reader ---------------------------------------------------------------------------------------


def test_only_expression_text_names_things() -> None:
    """Template and heredoc text, and ``$${...}`` escapes, are not references; interpolations are."""
    value = '"<<-EOT\n  x=$(gcloud a "$TRIGGER" --format=\'value(a.b)\') $${google_x.escaped} ${google_y.z.id}\nEOT"'
    assert [str(t) for t in references(value).traversals] == ["google_y.z.id"]
    template = '"resource.type=\\"cloud_run_revision\\" AND name=${join(" OR ", [for f in a_b.c : "\\"${f.x}\\""])}"'
    found = references(template)
    assert [str(t) for t in found.traversals] == ["f", "a_b.c", "f.x"]
    assert str(found.for_symbols["f"]) == "a_b.c"


def test_function_calls_and_provider_functions_are_not_references() -> None:
    found = references("${provider::time::rfc3339_parse(coalesce(var.a, google_b.c.id))}")
    assert [str(t) for t in found.traversals] == ["var.a", "google_b.c.id"]
