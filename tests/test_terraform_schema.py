"""The offline schema check of the GCP and Azure stacks (tests/terraform_schema.py), and proof that it can fail.

The stacks must pass it; a copy of a stack with one thing broken must fail it with exactly that problem;
the extracts must be the pinned versions, hold the types the stacks use, and name every type of their
provider; the builtin provider's extract must agree with the local Terraform. No network: the extracts are
committed (tests/terraform_schemas/regenerate.py rewrites them, outside the tests).
"""

from __future__ import annotations

import json
import os
import re
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


# -- it fails: one thing broken in a copy of a stack, exactly that problem reported --------------------------


def mutated(tmp_path: Path, stack: str, file: str, old: str, new: str) -> list[str]:
    """The problems of a copy of ``stack`` whose ``file`` has its first ``old`` replaced by ``new`` (lines left
    out: they move when the stacks are edited; test_problems_name_the_line_of_their_block checks them)."""
    copy = tmp_path / stack
    shutil.copytree(STACKS[stack], copy)
    path = copy / file
    text = path.read_text(encoding="utf-8")
    assert re.search(old, text, re.MULTILINE), f"{file} no longer has {old!r}: update this test"
    path.write_text(re.sub(old, new, text, count=1, flags=re.MULTILINE), encoding="utf-8")
    return [f"{p.file}: {p.address}: {p.path}: {p.message}" if p.path else f"{p.file}: {p.address}: {p.message}"
            for p in check_stack(copy)]  # fmt: skip


MUTATIONS = {
    "unknown resource type": (
        "gcp", "storage.tf",
        r'resource "google_storage_bucket_iam_member" "access_logs_writer"',
        'resource "google_storage_bucket_iam_membr" "access_logs_writer"',
        ["storage.tf: google_storage_bucket_iam_membr.access_logs_writer: resource type "
         "google_storage_bucket_iam_membr does not exist in provider hashicorp/google 6.50.0 "
         "(did you mean google_storage_bucket_iam_member?)"],
    ),
    "a type the extract lacks": (
        "gcp", "storage.tf",
        r'resource "google_storage_bucket_iam_member" "access_logs_writer"',
        'resource "google_storage_bucket_iam_binding" "access_logs_writer"',
        ["storage.tf: google_storage_bucket_iam_binding.access_logs_writer: resource type "
         f"google_storage_bucket_iam_binding is not in the extract google-6.50.0.json: run `{REGENERATE}`"],
    ),
    "unknown data source type": (
        "gcp", "iam.tf", r'data "google_project" "this"', 'data "google_projects_list" "this"',
        ["iam.tf: data.google_projects_list.this: data source type google_projects_list does not exist in "
         "provider hashicorp/google 6.50.0 (did you mean google_projects?)",
         "iam.tf: locals: reference to undeclared data data.google_project.this in data.google_project.this.number"],
    ),
    "misspelled argument in a nested block": (
        "gcp", "functions.tf", r"entry_point(\s+)=", r"entrypoint\1 =",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: build_config.entrypoint: unsupported argument: "
         "google_cloudfunctions2_function build_config has no entrypoint (did you mean entry_point?)"],
    ),
    "missing required argument": (
        "azure", "function.tf", r"^\s*service_plan_id\s*=.*\n", "",
        ["function.tf: azurerm_function_app_flex_consumption.this: missing required argument service_plan_id"],
    ),
    "missing required argument in a nested block": (
        "gcp", "functions.tf", r'^\s*attribute = "bucket"\n', "",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: event_trigger.event_filters: "
         "missing required argument attribute"],
    ),
    "unknown nested block inside a dynamic block": (
        "azure", "eventgrid.tf", r"(function_id = .*\n)",
        r'\1      delivery_property {\n        header_name = "x"\n      }\n',
        ["eventgrid.tf: azurerm_eventgrid_system_topic_event_subscription.thumbnails: "
         'dynamic "azure_function_endpoint".content.delivery_property: unsupported block: '
         'azurerm_eventgrid_system_topic_event_subscription dynamic "azure_function_endpoint".content has no '
         "delivery_property"],
    ),
    "unknown block type of a dynamic block": (
        "azure", "alerts.tf", r'dynamic "email_receiver"', 'dynamic "email_reciever"',
        ['alerts.tf: azurerm_monitor_action_group.alerts: dynamic "email_reciever": no block type email_reciever '
         "in azurerm_monitor_action_group (did you mean email_receiver?)",
         # the iterator is named after the label: the content's email_receiver.value now names nothing
         'alerts.tf: azurerm_monitor_action_group.alerts: dynamic "email_reciever".content.email_address: '
         "reference to undeclared resource email_receiver.value in email_receiver.value"],
    ),
    "missing required argument in a dynamic block's content": (
        "azure", "alerts.tf", r"^\s*email_address\s*=.*\n", "",
        ['alerts.tf: azurerm_monitor_action_group.alerts: dynamic "email_receiver".content: '
         "missing required argument email_address"],
    ),
    "unknown attribute reference": (
        "gcp", "backfill.tf", r"service_config\[0\]\.uri", "service_config[0].url",
        ['backfill.tf: output.backfill_url: google_cloudfunctions2_function.thumbnails["finalized"]'
         ".service_config[0].url: google_cloudfunctions2_function.service_config has no attribute or block url"],
    ),
    "attribute of a one-block list without its index": (
        "gcp", "backfill.tf", r"service_config\[0\]\.uri", "service_config.uri",
        ['backfill.tf: output.backfill_url: google_cloudfunctions2_function.thumbnails["finalized"]'
         ".service_config.uri: service_config is a list of objects: index it (service_config[0]) or splat it "
         "(service_config[*]) before .uri"],
    ),
    "instance of a for_each resource without its key": (
        "gcp", "backfill.tf", r'thumbnails\["finalized"\]\.service_config\[0\]\.uri',
        "thumbnails.service_config[0].uri",
        ["backfill.tf: output.backfill_url: google_cloudfunctions2_function.thumbnails.service_config[0].uri: "
         "the resource has count or for_each: give its instance key first ([key], [index] or [*])"],
    ),
    "unknown attribute through each.value": (
        "gcp", "iam.tf", r"each\.value\.service_config\[0\]\.service", "each.value.service_config[0].sevice",
        ["iam.tf: google_cloud_run_v2_service_iam_member.trigger_invokes: name: each.value.service_config[0].sevice: "
         "each.service_config has no attribute or block sevice (did you mean service?)"],
    ),
    "unknown attribute through a for symbol inside a template": (
        "gcp", "logging.tf", r"f\.service_config\[0\]\.service", "f.service_config[0].servce",
        ["logging.tf: locals: f.service_config[0].servce: "
         "f.service_config has no attribute or block servce (did you mean service?)"],
    ),
    "unknown attribute of a data source": (
        "azure", "eventgrid.tf", r"blobs_extension_key", "blob_extension_key",
        ["eventgrid.tf: azurerm_eventgrid_system_topic_event_subscription.thumbnails: "
         'dynamic "webhook_endpoint".content.url: data.azurerm_function_app_host_keys.this[0].blob_extension_key: '
         "azurerm_function_app_host_keys has no attribute or block blob_extension_key "
         "(did you mean blobs_extension_key?)"],
    ),
    "index into a set": (
        "gcp", "outputs.tf", r"\Z",
        '\noutput "bucket_filter" {\n  value = google_cloudfunctions2_function.thumbnails["finalized"]'
        ".event_trigger[0].event_filters[0].value\n}\n",
        ['outputs.tf: output.bucket_filter: google_cloudfunctions2_function.thumbnails["finalized"]'
         ".event_trigger[0].event_filters[0].value: event_trigger.event_filters is a set: it has no index "
         "(use one(), a for expression or a splat)"],
    ),
    "reference to an undeclared resource": (
        "gcp", "functions.tf", r"time_sleep\.iam_propagation\]", "time_sleep.iam_propagaton]",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: depends_on: reference to undeclared resource "
         "time_sleep.iam_propagaton in time_sleep.iam_propagaton"],
    ),
    "computed attribute set": (
        "gcp", "iam.tf", r'(account_id   = "\$\{var\.name_prefix\}-runtime"\n)', r'\1  email        = "x@y.z"\n',
        ["iam.tf: google_service_account.runtime: email: is read-only: the provider computes it"],
    ),
    "argument written as a block": (
        "azure", "main.tf", r"tags     = var\.tags", 'tags {\n    owner = "x"\n  }',
        ["main.tf: azurerm_resource_group.this: tags: is an argument: write tags = ..., not a tags { } block"],
    ),
    "misspelled lifecycle block": (
        "gcp", "functions.tf", r"precondition \{", "precondtion {",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: lifecycle.precondtion: lifecycle of a resource "
         "has no precondtion (did you mean precondition?)"],
    ),
    "misspelled provisioner argument": (
        "gcp", "deadletter.tf", r"interpreter =", "interpretter =",
        ['deadletter.tf: terraform_data.attach_dead_letter: provisioner "local-exec".interpretter: unsupported '
         'argument: terraform_data provisioner "local-exec" has no interpretter (did you mean interpreter?)'],
    ),
    "misspelled builtin terraform_data argument": (
        "gcp", "deadletter.tf", r"triggers_replace =", "trigger_replace =",
        ["deadletter.tf: terraform_data.attach_dead_letter: trigger_replace: unsupported argument: terraform_data "
         "has no trigger_replace (did you mean triggers_replace?)"],
    ),
    "misspelled time_sleep argument": (
        "gcp", "functions.tf", r"create_duration =", "create_durations =",
        ["functions.tf: time_sleep.service_agents: create_durations: unsupported argument: time_sleep has no "
         "create_durations (did you mean create_duration?)"],
    ),
    "a provider alias no provider block defines": (
        "gcp", "iam.tf", r'(resource "google_service_account" "runtime" \{\n)', r"\1  provider     = google.beta\n",
        ['iam.tf: google_service_account.runtime: provider: no provider "google" block has alias = "beta"'],
    ),
    "unknown provider-block argument": (
        "gcp", "versions.tf", r"region  = var\.region", "regoin  = var.region",
        ["versions.tf: provider.google: regoin: unsupported argument: google has no regoin (did you mean region?)"],
    ),
    "unknown argument in a provider's nested block": (
        "azure", "versions.tf", r"data_plane_available =", "data_plane_availabe =",
        ["versions.tf: provider.azurerm: features.storage.data_plane_availabe: unsupported argument: "
         "azurerm features.storage has no data_plane_availabe (did you mean data_plane_available?)"],
    ),
    "missing required provider block": (
        "azure", "versions.tf", r"features \{", "feature {",
        ["versions.tf: provider.azurerm: feature: unsupported block: azurerm has no feature (did you mean features?)",
         "versions.tf: provider.azurerm: missing required block features"],
    ),
    "a provider without an extract": (
        "azure", "versions.tf", r"(required_providers \{\n)",
        r'\1    azapi = {\n      source  = "Azure/azapi"\n      version = "~> 2.0"\n    }\n',
        ["versions.tf: terraform: required_providers.azapi: Azure/azapi has no schema extract in "
         "tests/terraform_schemas: pin its CDKTF binding in PINS of tests/terraform_schemas/regenerate.py and run "
         f"`{REGENERATE}` (a provider with no binding on npm, such as Azure/azapi, needs a hand-checked extract, "
         "as terraform-builtin is checked against Terraform itself)"],
    ),
    "a range that excludes the checked version": (
        "azure", "versions.tf", r'version = "~> 4\.30"', 'version = "~> 4.30.0"',
        ["versions.tf: terraform: required_providers.azurerm: '~> 4.30.0' does not allow 4.55.0, the version "
         "the schema check uses"],
    ),
    "the checked version not stated": (
        "gcp", "versions.tf", r"Schema-checked against 0\.13\.1", "Checked",
        ['versions.tf: terraform: required_providers.time: state the schema-checked version next to the range: '
         'a comment "schema-checked against 0.13.1" (time-0.13.1.json)'],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_one_defect_in_a_copy_of_a_stack_is_reported_exactly(case: str, tmp_path: Path) -> None:
    stack, file, old, new, expected = MUTATIONS[case]
    assert sorted(mutated(tmp_path, stack, file, old, new)) == sorted(expected)  # the problems, in any order


def test_problems_name_the_line_of_their_block(tmp_path: Path) -> None:
    copy = tmp_path / "gcp"
    shutil.copytree(STACKS["gcp"], copy)
    path = copy / "functions.tf"
    path.write_text(path.read_text().replace("entry_point     =", "entrypoint =", 1))
    [problem] = check_stack(copy)
    lines = path.read_text().splitlines()
    assert lines[problem.line - 1] == 'resource "google_cloudfunctions2_function" "thumbnails" {'


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
    assert len(extracts["hashicorp/google"].resource_types) > 1000
    assert len(extracts["hashicorp/azurerm"].resource_types) > 1000
    google_types = extracts["hashicorp/google"].resource_types
    assert {"google_cloudfunctions2_function", "google_workflows_workflow"} <= google_types
    assert extracts["hashicorp/time"].resource_types == {"time_offset", "time_rotating", "time_sleep", "time_static"}


def test_the_schema_of_a_nested_block_is_complete() -> None:
    """Spot check of the mapping against the provider's documented schema (google 6.50.0 cloudfunctions2)."""
    function = load_extracts()["hashicorp/google"].resources["google_cloudfunctions2_function"]
    assert function["attributes"]["name"] == {"required": True}
    assert function["attributes"]["url"] == {"computed": True}
    service = function["block_types"]["service_config"]
    assert (service["nesting_mode"], service["max_items"]) == ("list", 1)
    assert service["block"]["attributes"]["uri"] == {"computed": True}
    filters = function["block_types"]["event_trigger"]["block"]["block_types"]["event_filters"]
    assert filters["nesting_mode"] == "set"
    assert filters["block"]["attributes"]["attribute"] == {"required": True}
    assert function["block_types"]["timeouts"]["nesting_mode"] == "single"
    azurerm = load_extracts()["hashicorp/azurerm"]
    assert azurerm.provider["block_types"]["features"]["min_items"] == 1


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
