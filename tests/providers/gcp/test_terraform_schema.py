"""The offline schema check can fail on the GCP stack: a copy with one thing broken reports exactly that problem.

Each case replaces the first match of a pattern in one file of a copy of ``providers/gcp/deploy`` (see
``tests/terraform_schema.py``); the stack itself passing is ``tests/test_terraform_schema.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.terraform_schema import REGENERATE, STACKS, check_stack, load_extracts, mutations_test

STACK = STACKS["gcp"]

MUTATIONS = {
    # The automatic brake (brake.tf, brake_on_runaway): its function's Pub/Sub trigger and its custom role.
    "misspelled argument of the brake function's Pub/Sub trigger": (
        "brake.tf", r"pubsub_topic(\s+)= google_pubsub_topic", r"pubsub_topics\1= google_pubsub_topic",
        ["brake.tf: google_cloudfunctions2_function.brake: event_trigger.pubsub_topics: unsupported argument: "
         "google_cloudfunctions2_function event_trigger has no pubsub_topics (did you mean pubsub_topic?)"],
    ),
    "misspelled argument of the brake's custom role": (
        "brake.tf", r'^(\s*)permissions = \["eventarc', r'\1permission = ["eventarc',
        ["brake.tf: google_project_iam_custom_role.brake: permission: unsupported argument: "
         "google_project_iam_custom_role has no permission (did you mean permissions?)",
         "brake.tf: google_project_iam_custom_role.brake: missing required argument permissions"],
    ),
    "unknown resource type": (
        "storage.tf",
        r'resource "google_storage_bucket_iam_member" "access_logs_writer"',
        'resource "google_storage_bucket_iam_membr" "access_logs_writer"',
        ["storage.tf: google_storage_bucket_iam_membr.access_logs_writer: resource type "
         "google_storage_bucket_iam_membr does not exist in provider hashicorp/google 6.50.0 "
         "(did you mean google_storage_bucket_iam_member?)"],
    ),
    "a type the extract lacks": (
        "storage.tf",
        r'resource "google_storage_bucket_iam_member" "access_logs_writer"',
        'resource "google_storage_bucket_iam_binding" "access_logs_writer"',
        ["storage.tf: google_storage_bucket_iam_binding.access_logs_writer: resource type "
         f"google_storage_bucket_iam_binding is not in the extract google-6.50.0.json: run `{REGENERATE}`"],
    ),
    "unknown data source type": (
        "iam.tf", r'data "google_project" "this"', 'data "google_projects_list" "this"',
        ["iam.tf: data.google_projects_list.this: data source type google_projects_list does not exist in "
         "provider hashicorp/google 6.50.0 (did you mean google_projects?)",
         "iam.tf: locals: reference to undeclared data data.google_project.this in data.google_project.this.number",
         # the automatic brake's grant to Cloud Monitoring's notification agent names the project number too
         "brake.tf: locals: reference to undeclared data data.google_project.this in data.google_project.this.number",
         "budget.tf: google_billing_budget.deployment: budget_filter.projects: reference to undeclared data "
         "data.google_project.this in data.google_project.this.number"],
    ),
    "misspelled argument in a nested block": (
        "functions.tf", r"entry_point(\s+)=", r"entrypoint\1 =",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: build_config.entrypoint: unsupported argument: "
         "google_cloudfunctions2_function build_config has no entrypoint (did you mean entry_point?)"],
    ),
    "missing required argument in a nested block": (
        "functions.tf", r'^\s*attribute = "bucket"\n', "",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: event_trigger.event_filters: "
         "missing required argument attribute"],
    ),
    "unknown attribute reference": (
        "backfill.tf", r"service_config\[0\]\.uri", "service_config[0].url",
        ['backfill.tf: output.backfill_url: google_cloudfunctions2_function.thumbnails["finalized"]'
         ".service_config[0].url: google_cloudfunctions2_function.service_config has no attribute or block url"],
    ),
    "attribute of a one-block list without its index": (
        "backfill.tf", r"service_config\[0\]\.uri", "service_config.uri",
        ['backfill.tf: output.backfill_url: google_cloudfunctions2_function.thumbnails["finalized"]'
         ".service_config.uri: service_config is a list of objects: index it (service_config[0]) or splat it "
         "(service_config[*]) before .uri"],
    ),
    "instance of a for_each resource without its key": (
        "backfill.tf", r'thumbnails\["finalized"\]\.service_config\[0\]\.uri',
        "thumbnails.service_config[0].uri",
        ["backfill.tf: output.backfill_url: google_cloudfunctions2_function.thumbnails.service_config[0].uri: "
         "the resource has count or for_each: give its instance key first ([key], [index] or [*])"],
    ),
    "unknown attribute through each.value": (
        "iam.tf", r"each\.value\.service_config\[0\]\.service", "each.value.service_config[0].sevice",
        ["iam.tf: google_cloud_run_v2_service_iam_member.trigger_invokes: name: each.value.service_config[0].sevice: "
         "each.service_config has no attribute or block sevice (did you mean service?)"],
    ),
    "unknown attribute through a for symbol inside a template": (
        "logging.tf", r"f\.service_config\[0\]\.service", "f.service_config[0].servce",
        ["logging.tf: locals: f.service_config[0].servce: "
         "f.service_config has no attribute or block servce (did you mean service?)"],
    ),
    "index into a set": (
        "outputs.tf", r"\Z",
        '\noutput "bucket_filter" {\n  value = google_cloudfunctions2_function.thumbnails["finalized"]'
        ".event_trigger[0].event_filters[0].value\n}\n",
        ['outputs.tf: output.bucket_filter: google_cloudfunctions2_function.thumbnails["finalized"]'
         ".event_trigger[0].event_filters[0].value: event_trigger.event_filters is a set: it has no index "
         "(use one(), a for expression or a splat)"],
    ),
    "reference to an undeclared resource": (
        "functions.tf", r"time_sleep\.iam_propagation\]", "time_sleep.iam_propagaton]",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: depends_on: reference to undeclared resource "
         "time_sleep.iam_propagaton in time_sleep.iam_propagaton"],
    ),
    "computed attribute set": (
        "iam.tf", r'(account_id   = "\$\{var\.name_prefix\}-runtime"\n)', r'\1  email        = "x@y.z"\n',
        ["iam.tf: google_service_account.runtime: email: is read-only: the provider computes it"],
    ),
    "misspelled lifecycle block": (
        "functions.tf", r"precondition \{", "precondtion {",
        ["functions.tf: google_cloudfunctions2_function.thumbnails: lifecycle.precondtion: lifecycle of a resource "
         "has no precondtion (did you mean precondition?)"],
    ),
    "misspelled provisioner argument": (
        "deadletter.tf", r"interpreter =", "interpretter =",
        ['deadletter.tf: terraform_data.attach_dead_letter: provisioner "local-exec".interpretter: unsupported '
         'argument: terraform_data provisioner "local-exec" has no interpretter (did you mean interpreter?)'],
    ),
    "misspelled builtin terraform_data argument": (
        "deadletter.tf", r"triggers_replace =", "trigger_replace =",
        ["deadletter.tf: terraform_data.attach_dead_letter: trigger_replace: unsupported argument: terraform_data "
         "has no trigger_replace (did you mean triggers_replace?)"],
    ),
    "misspelled time_sleep argument": (
        "functions.tf", r"create_duration =", "create_durations =",
        ["functions.tf: time_sleep.service_agents: create_durations: unsupported argument: time_sleep has no "
         "create_durations (did you mean create_duration?)"],
    ),
    "a provider alias no provider block defines": (
        "iam.tf", r'(resource "google_service_account" "runtime" \{\n)', r"\1  provider     = google.beta\n",
        ['iam.tf: google_service_account.runtime: provider: no provider "google" block has alias = "beta"'],
    ),
    "unknown provider-block argument": (
        "versions.tf", r"region  = var\.region", "regoin  = var.region",
        ["versions.tf: provider.google: regoin: unsupported argument: google has no regoin (did you mean region?)"],
    ),
    "the checked version not stated": (
        "versions.tf", r"Schema-checked against 0\.13\.1", "Checked",
        ['versions.tf: terraform: required_providers.time: state the schema-checked version next to the range: '
         'a comment "schema-checked against 0.13.1" (time-0.13.1.json)'],
    ),
}  # fmt: skip


test_one_defect_in_a_copy_of_the_stack_is_reported_exactly = mutations_test(STACK, MUTATIONS)


def test_problems_name_the_line_of_their_block(tmp_path: Path) -> None:
    copy = tmp_path / "gcp"
    shutil.copytree(STACK, copy)
    path = copy / "functions.tf"
    path.write_text(path.read_text().replace("entry_point     =", "entrypoint =", 1))
    [problem] = check_stack(copy)
    lines = path.read_text().splitlines()
    assert lines[problem.line - 1] == 'resource "google_cloudfunctions2_function" "thumbnails" {'


def test_the_extract_names_every_type_of_the_provider_and_the_nested_blocks_are_complete() -> None:
    """Spot check of the mapping against the provider's documented schema (google 6.50.0 cloudfunctions2)."""
    google = load_extracts()["hashicorp/google"]
    assert len(google.resource_types) > 1000
    assert {"google_cloudfunctions2_function", "google_workflows_workflow"} <= google.resource_types
    function = google.resources["google_cloudfunctions2_function"]
    assert function["attributes"]["name"] == {"required": True}
    assert function["attributes"]["url"] == {"computed": True}
    service = function["block_types"]["service_config"]
    assert (service["nesting_mode"], service["max_items"]) == ("list", 1)
    assert service["block"]["attributes"]["uri"] == {"computed": True}
    filters = function["block_types"]["event_trigger"]["block"]["block_types"]["event_filters"]
    assert filters["nesting_mode"] == "set"
    assert filters["block"]["attributes"]["attribute"] == {"required": True}
    assert function["block_types"]["timeouts"]["nesting_mode"] == "single"
