"""Terraform in providers/gcp/deploy, checked offline: it parses, and it agrees with the code it deploys."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.alerts import RUNAWAY
from core.config import SETTINGS
from providers.gcp.events import CLOUD_EVENT_KINDS
from providers.gcp.packaging import DEFAULT_PYTHON, ENTRY_POINTS
from tests.terraform import accepts, as_list, blocks, clean, evaluate, expression_of, load_module, parse, unquote
from tests.terraform_schema import check_stack

DEPLOY = Path(__file__).parents[3] / "providers" / "gcp" / "deploy"
TF_FILES = sorted(DEPLOY.glob("*.tf"))


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    return {path.name: parse(path) for path in TF_FILES}


def resources(parsed: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    found = {}
    for document in parsed.values():
        for block in document.get("resource", []):
            for resource_type, named in block.items():
                if unquote(resource_type) == kind:
                    found.update({unquote(name): body for name, body in named.items()})
    return found


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_every_name_and_reference_is_in_the_pinned_provider_schemas() -> None:
    """The stand-in for ``terraform validate``, whose plugin this machine cannot install (tests/terraform_schema.py;
    tests/test_terraform_schema.py proves it fails on a broken copy)."""
    problems = check_stack(DEPLOY)
    assert not problems, "\n".join(map(str, problems))


def test_every_tf_file_parses(parsed: dict[str, dict[str, Any]]) -> None:
    assert {"functions.tf", "iam.tf", "storage.tf", "variables.tf", "versions.tf"} <= set(parsed)
    assert all(document for document in parsed.values())


def test_entry_point_resolves_to_a_registered_cloud_event_function(
    parsed: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = resources(parsed, "google_cloudfunctions2_function")["thumbnails"]  # serve.tf's: below
    entry_point = unquote(function["build_config"][0]["entry_point"])
    assert entry_point in ENTRY_POINTS
    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbs")  # the module configures itself at import
    module = importlib.import_module("providers.gcp.main")
    target = getattr(module, entry_point)
    assert callable(target) and len(inspect.signature(target).parameters) == 1
    from functions_framework import _function_registry

    assert _function_registry.REGISTRY_MAP[entry_point] == "cloudevent"


def test_triggers_are_the_event_types_the_code_handles(parsed: dict[str, dict[str, Any]]) -> None:
    text = (DEPLOY / "functions.tf").read_text(encoding="utf-8")
    event_types = set(re.findall(r'"(google\.cloud\.storage\.object\.v1\.\w+)"', text))
    assert event_types == set(CLOUD_EVENT_KINDS)
    function = resources(parsed, "google_cloudfunctions2_function")["thumbnails"]
    trigger = function["event_trigger"][0]
    assert unquote(trigger["retry_policy"]) == "RETRY_POLICY_RETRY"
    [bucket_filter] = trigger["event_filters"]
    assert unquote(bucket_filter["attribute"]) == "bucket"
    assert "google_storage_bucket.originals.name" in bucket_filter["value"]


def test_runtime_matches_the_packaged_python(parsed: dict[str, dict[str, Any]]) -> None:
    # Variables live in variables.tf and beside what they configure (budget.tf): every file's are read.
    variables = [block for d in parsed.values() for block in d.get("variable", [])]
    by_name = {unquote(name): body for block in variables for name, body in block.items()}
    runtime = unquote(by_name["runtime"]["default"])
    assert runtime == "python" + DEFAULT_PYTHON.replace(".", "")


def test_every_thumbs_name_is_a_setting_of_the_code(parsed: dict[str, dict[str, Any]]) -> None:
    names = {match for node in walk(parsed) if isinstance(node, str) for match in re.findall(r"THUMBS_[A-Z_]+", node)}
    assert "THUMBS_DEST_BUCKET" in names
    assert names <= set(SETTINGS), names - set(SETTINGS)


def test_function_environment_sets_the_destination(parsed: dict[str, dict[str, Any]]) -> None:
    [locals_block] = [block for d in parsed.values() for block in d.get("locals", []) if "thumbs_environment" in block]
    environment = locals_block["thumbs_environment"]
    assert "THUMBS_DEST_BUCKET = google_storage_bucket.thumbnails.name" in environment


def test_cost_guard_ingress_and_identity(parsed: dict[str, dict[str, Any]]) -> None:
    function = resources(parsed, "google_cloudfunctions2_function")["thumbnails"]
    service = function["service_config"][0]
    assert service["max_instance_count"] == "${var.max_instance_count}"
    assert unquote(service["ingress_settings"]) == "ALLOW_INTERNAL_ONLY"
    assert "google_service_account.runtime.email" in service["service_account_email"]
    assert "google_service_account.trigger.email" in function["event_trigger"][0]["service_account_email"]


def test_buckets_are_private_and_uniform(parsed: dict[str, dict[str, Any]]) -> None:
    buckets = resources(parsed, "google_storage_bucket")
    assert {"originals", "thumbnails", "code", "access_logs"} <= set(buckets)
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert unquote(bucket["public_access_prevention"]) == "enforced", name


def test_object_roles_are_granted_on_buckets_not_on_the_project(parsed: dict[str, dict[str, Any]]) -> None:
    grants = {(unquote(g["role"]), g["bucket"]) for g in resources(parsed, "google_storage_bucket_iam_member").values()}
    assert ("roles/storage.objectViewer", "${google_storage_bucket.originals.name}") in grants
    assert ("roles/storage.objectAdmin", "${google_storage_bucket.thumbnails.name}") in grants
    # Changed by issue 13: the dedicated build account adds its documented roles; its one storage role is
    # conditioned to the gcf-v2-* buckets Cloud Functions creates, so no project grant reaches the images.
    project_grants = resources(parsed, "google_project_iam_member")
    # The automatic brake's custom role (brake.tf, off by default) is checked in test_brake.py.
    project_grants.pop("brake_pauses_subscriptions")
    project_roles = {unquote(g["role"]) for name, g in project_grants.items() if name != "build"}
    assert project_roles == {"roles/pubsub.publisher", "roles/eventarc.eventReceiver", "roles/storage.objectAdmin"}
    storage = [g for g in project_grants.values() if "storage." in unquote(g["role"])]
    assert [unquote(g["member"]) for g in storage] == ["serviceAccount:${google_service_account.build[0].email}"]
    assert 'startsWith(\\"projects/_/buckets/gcf-v2-\\")' in storage[0]["condition"][0]["expression"]
    assert not [r for r in project_roles if re.search(r"editor|owner|\.admin$", r)]
    publisher = next(g for g in resources(parsed, "google_project_iam_member").values() if "pubsub" in g["role"])
    assert "google_storage_project_service_account.gcs.email_address" in publisher["member"]
    invoker = resources(parsed, "google_cloud_run_v2_service_iam_member")["trigger_invokes"]
    assert unquote(invoker["role"]) == "roles/run.invoker"


def test_no_wildcards_or_public_members(parsed: dict[str, dict[str, Any]]) -> None:
    """Changed by issue 23: the one public member there may be is the serve function's invoker (serve_invokers,
    ["allUsers"] by default so <img src> works in any browser), on that function's own service, with serve on."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in TF_FILES if path.name != "serve.tf")
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text
    assert not re.search(r'role\s*=\s*"roles/(owner|editor|viewer)"', text)
    invokers = resources(parsed, "google_cloud_run_v2_service_iam_member")["serve_invokers"]
    assert invokers["for_each"] == "${var.serve ? toset(var.serve_invokers) : toset([])}"
    assert unquote(invokers["role"]) == "roles/run.invoker"
    assert invokers["name"] == "${google_cloudfunctions2_function.serve[0].service_config[0].service}"
    for members, allowed in (('["allUsers"]', True), ('["user:ops@example.com", "serviceAccount:a@b"]', True),
                             ('["allAuthenticatedUsers"]', False), ('["domain:example.com"]', False)):  # fmt: skip
        assert accepts(DEPLOY, "serve_invokers", members) is allowed, members


def test_every_checkov_skip_says_why() -> None:
    for path in TF_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_GCP_\d+:\S.{10,}", line), f"{path.name}: {line.strip()}"


# -- least privilege ------------------------------------------------------------------------------


def test_policy_object_roles_are_on_the_two_buckets_only() -> None:
    tf = load_module(DEPLOY)
    runtime = "serviceAccount:${google_service_account.runtime.email}"
    grants = {name: body for name, body in blocks(tf, "resource", "google_storage_bucket_iam_member")}
    runtime_grants = {(g["bucket"], g["role"]) for g in grants.values() if g["member"] == runtime}
    assert runtime_grants == {
        ("${google_storage_bucket.originals.name}", "roles/storage.objectViewer"),
        ("${google_storage_bucket.thumbnails.name}", "roles/storage.objectAdmin"),
    }
    for kind in ("google_storage_bucket_iam_member", "google_storage_bucket_iam_binding",
                 "google_project_iam_member", "google_project_iam_binding"):  # fmt: skip
        for name, body in blocks(tf, "resource", kind):
            members = as_list(body.get("member", body.get("members", [])))
            assert not {"allUsers", "allAuthenticatedUsers"} & set(members), f"{kind}.{name} is public"


def test_policy_project_level_grants_are_only_what_eventarc_needs() -> None:
    tf = load_module(DEPLOY)
    grants = dict(blocks(tf, "resource", "google_project_iam_member"))
    # The automatic brake's custom role (brake.tf, brake_on_runaway, off by default): tests/providers/gcp/test_brake.py
    # checks it holds only the three permissions the brake uses.
    brake = grants.pop("brake_pauses_subscriptions")
    assert brake["role"] == "${google_project_iam_custom_role.brake[0].id}"
    assert brake["count"] == "${var.brake_on_runaway ? 1 : 0}"
    project_grants = {(body["role"], body["member"]) for body in grants.values()}
    build = "serviceAccount:${google_service_account.build[0].email}"  # issue 21: made only when none is given
    # Changed by issue 13: the dedicated build account (new projects give the default one no roles) adds the
    # roles Cloud Functions documents for it; its storage role is conditioned to the gcf-v2-* buckets.
    assert project_grants == {
        ("roles/pubsub.publisher", "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"),
        ("roles/eventarc.eventReceiver", "serviceAccount:${google_service_account.trigger.email}"),
        ("${each.value}", build),
        ("roles/storage.objectAdmin", build),
    }
    assert set(grants["build"]["for_each"].split('"')[1::2]) == {
        "roles/logging.logWriter",
        "roles/artifactregistry.writer",
    }
    assert "gcf-v2-" in grants["build_storage"]["condition"][0]["expression"]
    assert not list(blocks(tf, "resource", "google_project_iam_binding"))
    assert not list(blocks(tf, "resource", "google_project_iam_policy"))


# -- issue 13: a fresh project, dead letters, alerts, retention, settings precedence ---------------------------


def top_level(parsed: dict[str, dict[str, Any]], block_type: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for document in parsed.values():
        for block in document.get(block_type, []):
            found.update(clean(block))
    return found


def one(parsed: dict[str, dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return dict(clean(resources(parsed, kind)[name]))


def test_a_fresh_project_enables_every_api_it_uses_before_using_it(parsed: dict[str, dict[str, Any]]) -> None:
    apis = one(parsed, "google_project_service", "apis")["for_each"]
    for api in ("iam.googleapis.com", "cloudresourcemanager.googleapis.com", "eventarc.googleapis.com",
                "pubsub.googleapis.com", "monitoring.googleapis.com", "logging.googleapis.com"):  # fmt: skip
        assert api in apis, api
    for name, account in resources(parsed, "google_service_account").items():
        assert account.get("depends_on") == ["${google_project_service.apis}"], name


def test_service_agent_bindings_wait_for_the_agents(parsed: dict[str, dict[str, Any]]) -> None:
    sleep = one(parsed, "time_sleep", "service_agents")
    assert sleep["depends_on"] == ["${google_project_service.apis}"]
    assert sleep["create_duration"] == "${var.service_agent_wait}"
    assert "hashicorp/time" in (DEPLOY / "versions.tf").read_text()
    for kind, name in (("google_project_iam_member", "gcs_publishes_events"),
                       ("google_project_iam_member", "trigger_receives_events"),
                       ("google_service_account_iam_member", "pubsub_mints_trigger_tokens")):  # fmt: skip
        assert one(parsed, kind, name)["depends_on"] == ["${time_sleep.service_agents}"], name
    # Changed by issue 21: the functions wait for the grants to apply, which wait for the agents.
    function = one(parsed, "google_cloudfunctions2_function", "thumbnails")
    assert function["depends_on"] == ["${time_sleep.iam_propagation}"]


def test_pubsub_agent_mints_tokens_for_the_trigger_account_only(parsed: dict[str, dict[str, Any]]) -> None:
    grant = one(parsed, "google_service_account_iam_member", "pubsub_mints_trigger_tokens")
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert grant["service_account_id"] == "${google_service_account.trigger.name}"
    assert grant["member"] == "${local.pubsub_agent}"
    agent = top_level(parsed, "locals")["pubsub_agent"]
    assert agent == "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"


def test_builds_run_as_a_dedicated_account_with_the_documented_roles(parsed: dict[str, dict[str, Any]]) -> None:
    function = one(parsed, "google_cloudfunctions2_function", "thumbnails")
    build = function["build_config"][0]["service_account"]
    assert build == "${coalesce(var.build_service_account, one(google_service_account.build[*].id))}"
    roles = one(parsed, "google_project_iam_member", "build")["for_each"]
    for role in ("roles/logging.logWriter", "roles/artifactregistry.writer"):
        assert role in roles
    assert one(parsed, "google_project_iam_member", "build_storage")["role"] == "roles/storage.objectAdmin"
    reads = one(parsed, "google_storage_bucket_iam_member", "build_reads_code")
    assert reads["bucket"] == "${google_storage_bucket.code.name}" and reads["role"] == "roles/storage.objectViewer"


def test_poison_events_are_dead_lettered_kept_and_alerted_on(parsed: dict[str, dict[str, Any]]) -> None:
    topic = one(parsed, "google_pubsub_topic", "dead_letters")
    subscription = one(parsed, "google_pubsub_subscription", "dead_letters")
    assert subscription["topic"] == "${google_pubsub_topic.dead_letters.id}"
    assert subscription["message_retention_duration"] == "604800s" and topic
    publisher = one(parsed, "google_pubsub_topic_iam_member", "agent_publishes_dead_letters")
    assert publisher["role"] == "roles/pubsub.publisher" and publisher["member"] == "${local.pubsub_agent}"
    attach = one(parsed, "terraform_data", "attach_dead_letter")
    command = attach["provisioner"][0]["local-exec"]["command"]
    assert "--dead-letter-topic" in command and "--max-delivery-attempts" in command
    assert "roles/pubsub.subscriber" in command  # the agent acknowledges on Eventarc's subscription
    assert attach["for_each"] == "${var.configure_dead_letter ? google_cloudfunctions2_function.thumbnails : {}}"
    policy = one(parsed, "google_monitoring_alert_policy", "dead_letters")
    condition = policy["conditions"][0]["condition_threshold"][0]
    assert "num_undelivered_messages" in condition["filter"]
    assert "${google_pubsub_subscription.dead_letters.name}" in condition["filter"]
    errors = one(parsed, "google_monitoring_alert_policy", "function_errors")["conditions"][0]["condition_threshold"][0]
    assert "run.googleapis.com/request_count" in errors["filter"] and "5xx" in errors["filter"]
    # The runaway detector's policies also notify the automatic brake's channel, an empty list unless
    # brake_on_runaway (brake.tf; tests/providers/gcp/test_brake.py).
    runaway = {detector.name for detector in RUNAWAY}
    for name, policy in resources(parsed, "google_monitoring_alert_policy").items():
        expected = "concat(local.notification_channels, local.brake_channels)" if name in runaway else None
        assert policy["notification_channels"] == "${" + (expected or "local.notification_channels") + "}", name


def test_logs_are_kept_for_an_explicit_retention(parsed: dict[str, dict[str, Any]]) -> None:
    bucket = one(parsed, "google_logging_project_bucket_config", "functions")
    assert bucket["retention_days"] == "${var.log_retention_days}"
    assert top_level(parsed, "variable")["log_retention_days"]["default"] == 30
    sink = one(parsed, "google_logging_project_sink", "functions")
    assert "google_logging_project_bucket_config.functions.id" in sink["destination"]


def test_thumbs_settings_win_over_the_convenience_variables(parsed: dict[str, dict[str, Any]]) -> None:
    local_values = top_level(parsed, "locals")
    # merge() keeps the last value: defaults, the completion switches (notify.tf), the serve path's shared settings
    # (serve.tf, issue 23: empty unless serve_adhoc), then the user's settings, then the destination (refused in them).
    assert local_values["thumbs_environment"].startswith(
        "${merge(local.thumbs_defaults, local.completion_settings, local.serve_shared_settings, var.thumbs_settings, {"
    )
    assert local_values["thumbs_environment"].endswith("{THUMBS_DEST_BUCKET = google_storage_bucket.thumbnails.name})}")
    assert local_values["thumbs_defaults"] == {
        "THUMBS_SIZES": "${var.thumbs_sizes}",
        "THUMBS_CACHE_CONTROL": "${var.thumbs_cache_control}",
        "THUMBS_LOG_LEVEL": "${var.thumbs_log_level}",
        "THUMBS_MAX_PIXELS": "${tostring(local.max_pixels_for_memory)}",
    }


def test_memory_default_holds_every_image_the_default_pixel_limit_accepts(parsed: dict[str, dict[str, Any]]) -> None:
    from core.config import Config

    variables = top_level(parsed, "variable")
    assert variables["available_memory"]["default"] == "2Gi"
    table = top_level(parsed, "locals")["max_pixels_by_memory"]
    assert table["2048"] >= Config().max_pixels
    assert "local.max_pixels_for_memory" in top_level(parsed, "locals")["thumbs_defaults"]["THUMBS_MAX_PIXELS"]
    function = one(parsed, "google_cloudfunctions2_function", "thumbnails")
    assert "local.max_pixels_for_memory" in function["lifecycle"][0]["precondition"][0]["condition"]


# -- issue 21: the stack does what the README says ----------------------------------------------------------------


def raw(parsed: dict[str, dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """A resource as python-hcl2 reads it, quotes kept: string templates are then valid HCL source."""
    return resources(parsed, kind)[name]


def raw_local(parsed: dict[str, dict[str, Any]], name: str) -> str:
    [value] = [block[name] for d in parsed.values() for block in d.get("locals", []) if name in block]
    return str(value)


def test_the_log_sink_selects_the_functions_by_the_service_name_their_log_entries_carry(
    parsed: dict[str, dict[str, Any]],
) -> None:
    """Evaluated by Terraform with the functions' service_config as the provider reports it (full paths)."""
    path = "projects/acme/locations/europe-west1/services/polythumb-"
    kinds = ("finalized", "deleted", "archived")
    functions = {kind: f'{{ service_config = [{{ service = "{path}{kind}" }}] }}' for kind in kinds}
    stand_in = {"google_cloudfunctions2_function.thumbnails": "local.thumbnails"}
    locals_ = {
        "thumbnails": "{ " + ", ".join(f"{kind} = {value}" for kind, value in functions.items()) + " }",
        "function_services": expression_of(raw_local(parsed, "function_services"), **stand_in),
    }
    sink = raw(parsed, "google_logging_project_sink", "functions")
    log_filter = evaluate(expression_of(sink["filter"], **stand_in), locals_=locals_)
    # A log entry of the finalized function carries resource.labels.service_name = "polythumb-finalized".
    selected = set(re.findall(r'"([^"]+)"', log_filter.split("resource.labels.service_name=", 1)[1]))
    assert selected == {"polythumb-finalized", "polythumb-deleted", "polythumb-archived"}, log_filter
    assert log_filter.startswith('resource.type="cloud_run_revision" AND ')


def test_destroy_can_delete_the_access_log_bucket_and_usage_logs_can_be_off(parsed: dict[str, dict[str, Any]]) -> None:
    logs = one(parsed, "google_storage_bucket", "access_logs")
    assert logs["force_destroy"] is True  # Cloud Storage keeps writing logs there: it is never empty
    assert logs["count"] == "${var.bucket_usage_logs ? 1 : 0}"
    assert one(parsed, "google_storage_bucket_iam_member", "access_logs_writer")["count"] == logs["count"]
    assert top_level(parsed, "variable")["bucket_usage_logs"]["default"] is True
    for name in ("originals", "thumbnails", "code"):
        [logging] = [d["logging"] for d in one(parsed, "google_storage_bucket", name)["dynamic"] if "logging" in d]
        assert logging["for_each"] == "${google_storage_bucket.access_logs}", name  # none when the bucket is off
    # The user's buckets keep the user's choice: destroy refuses them while they hold objects.
    assert one(parsed, "google_storage_bucket", "originals")["force_destroy"] == "${var.force_destroy}"


@pytest.mark.parametrize(("signed_urls", "serve", "signs"), [(True, False, True), (False, False, False),
                                                             (False, True, True)])  # fmt: skip
def test_signed_urls_enable_the_iam_credentials_api_they_sign_through(
    parsed: dict[str, dict[str, Any]], signed_urls: bool, serve: bool, signs: bool
) -> None:
    """Changed by issue 23: serving (serve.tf) signs its redirects, so it turns signed URLs on too."""
    values = top_level(parsed, "locals")
    apis = evaluate(
        expression_of(raw(parsed, "google_project_service", "apis")["for_each"]),
        locals_={name: expression_of(values[name]) for name in ("signed_urls", "serve_signs", "serve_keys")},
        variables={
            "signed_urls": str(signed_urls).lower(), "serve": str(serve).lower(), "thumbs_settings": "{}",
            "serve_keys_secret": "null",
        },
    )  # fmt: skip
    assert ("iamcredentials.googleapis.com" in apis) is signs
    assert "secretmanager.googleapis.com" not in apis  # no keys secret named
    assert {"pubsub.googleapis.com", "iam.googleapis.com", "cloudfunctions.googleapis.com"} <= set(apis)


def test_the_completion_topic_waits_for_the_pubsub_api(parsed: dict[str, dict[str, Any]]) -> None:
    assert one(parsed, "google_pubsub_topic", "completion")["depends_on"] == ["${google_project_service.apis}"]


def test_the_functions_are_made_after_the_grants_they_use_have_applied(parsed: dict[str, dict[str, Any]]) -> None:
    wait = one(parsed, "time_sleep", "iam_propagation")
    assert wait["create_duration"] == "${var.iam_propagation_wait}"
    assert top_level(parsed, "variable")["iam_propagation_wait"]["default"] == "120s"
    for value, bounded in (('"120s"', True), ('"600s"', True), ('"601s"', False), ('"soon"', False)):
        assert accepts(DEPLOY, "iam_propagation_wait", value) is bounded, value
    waited = set(re.findall(r"(google_\w+_iam_member)\.(\w+)", wait["triggers"]["grants"]))
    grants = {(kind, name) for kind in ("google_project_iam_member", "google_storage_bucket_iam_member",
                                        "google_service_account_iam_member", "google_pubsub_topic_iam_member",
                                        "google_secret_manager_secret_iam_member")  # the serve keys (issue 23)
              for name in resources(parsed, kind)}  # fmt: skip
    # Not waited for: the invoker grants on the functions' own services (made after them, Eventarc retries a
    # refused push) and Cloud Storage's usage-log writer (nothing waits on a log).
    later = {("google_storage_bucket_iam_member", "access_logs_writer")}
    assert waited == grants - later
    function = one(parsed, "google_cloudfunctions2_function", "thumbnails")
    assert function["depends_on"] == ["${time_sleep.iam_propagation}"]
    for kind, name in (("google_project_iam_member", "gcs_publishes_events"),
                       ("google_service_account_iam_member", "pubsub_mints_trigger_tokens")):  # fmt: skip
        assert one(parsed, kind, name)["depends_on"] == ["${time_sleep.service_agents}"]  # grants wait for agents


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, "polythumb-build@acme.iam.gserviceaccount.com"),
     ("projects/acme/serviceAccounts/builder@acme.iam.gserviceaccount.com", "builder@acme.iam.gserviceaccount.com")],
    ids=["ours", "the-users"],
)  # fmt: skip
def test_a_build_account_is_made_and_granted_only_when_the_user_brings_none(
    parsed: dict[str, dict[str, Any]], given: str | None, expected: str
) -> None:
    for kind, name in (("google_service_account", "build"), ("google_project_iam_member", "build_storage")):
        assert one(parsed, kind, name)["count"] == "${var.build_service_account == null ? 1 : 0}", name
    assert "var.build_service_account == null" in one(parsed, "google_project_iam_member", "build")["for_each"]
    # The one grant every build account needs, on the code bucket made here: to whichever account builds.
    reads = one(parsed, "google_storage_bucket_iam_member", "build_reads_code")
    assert reads["member"] == "serviceAccount:${local.build_account_email}"
    made = '[{ email = "polythumb-build@acme.iam.gserviceaccount.com" }]' if given is None else "[]"
    email = evaluate(
        expression_of(raw_local(parsed, "build_account_email"), **{"google_service_account.build": "local.build"}),
        locals_={"build": made}, variables={"build_service_account": json.dumps(given) if given else "null"},
    )  # fmt: skip
    assert email == expected
