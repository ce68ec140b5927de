"""Terraform in providers/gcp/deploy, checked offline: it parses, and it agrees with the code it deploys."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import SETTINGS
from providers.gcp.events import CLOUD_EVENT_KINDS
from providers.gcp.packaging import DEFAULT_PYTHON, ENTRY_POINTS
from tests.terraform import as_list, blocks, load_module, parse, unquote

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


def test_every_tf_file_parses(parsed: dict[str, dict[str, Any]]) -> None:
    assert {"functions.tf", "iam.tf", "storage.tf", "variables.tf", "versions.tf"} <= set(parsed)
    assert all(document for document in parsed.values())


def test_entry_point_resolves_to_a_registered_cloud_event_function(
    parsed: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    [function] = resources(parsed, "google_cloudfunctions2_function").values()
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
    [function] = resources(parsed, "google_cloudfunctions2_function").values()
    trigger = function["event_trigger"][0]
    assert unquote(trigger["retry_policy"]) == "RETRY_POLICY_RETRY"
    [bucket_filter] = trigger["event_filters"]
    assert unquote(bucket_filter["attribute"]) == "bucket"
    assert "google_storage_bucket.originals.name" in bucket_filter["value"]


def test_runtime_matches_the_packaged_python(parsed: dict[str, dict[str, Any]]) -> None:
    [variables] = [d["variable"] for d in parsed.values() if "variable" in d]
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
    [function] = resources(parsed, "google_cloudfunctions2_function").values()
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
    project_roles = {unquote(g["role"]) for g in resources(parsed, "google_project_iam_member").values()}
    assert project_roles == {"roles/pubsub.publisher", "roles/eventarc.eventReceiver"}
    assert not [r for r in project_roles if re.search(r"admin|Admin|editor|owner|storage\.", r)]
    publisher = next(g for g in resources(parsed, "google_project_iam_member").values() if "pubsub" in g["role"])
    assert "google_storage_project_service_account.gcs.email_address" in publisher["member"]
    invoker = resources(parsed, "google_cloud_run_v2_service_iam_member")["trigger_invokes"]
    assert unquote(invoker["role"]) == "roles/run.invoker"


def test_no_wildcards_or_public_members(parsed: dict[str, dict[str, Any]]) -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in TF_FILES)
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text
    assert not re.search(r'role\s*=\s*"roles/(owner|editor|viewer)"', text)


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
    project_grants = {(body["role"], body["member"]) for _, body in blocks(tf, "resource", "google_project_iam_member")}
    assert project_grants == {
        ("roles/pubsub.publisher", "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"),
        ("roles/eventarc.eventReceiver", "serviceAccount:${google_service_account.trigger.email}"),
    }
    assert not list(blocks(tf, "resource", "google_project_iam_binding"))
    assert not list(blocks(tf, "resource", "google_project_iam_policy"))
