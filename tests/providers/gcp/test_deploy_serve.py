"""serve.tf on GCP read offline (issue 23): off by default, its own function, service account and instance cap,
and the serve account granted the two buckets (and its own signing, topic, keys secret) and nothing else.

This machine has no Google provider plugin to apply it (tests/providers/gcp/test_deploy.py checks every name
against the pinned provider schema instead); the function itself is run through functions-framework on
fake-gcs-server in test_serve_http.py.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from providers.gcp.packaging import ENTRY_POINTS
from tests.terraform import accepts, block, blocks, load_module, variable_default

DEPLOY = Path(__file__).parents[3] / "providers" / "gcp" / "deploy"
SERVE = DEPLOY / "serve.tf"
SERVE_MEMBER = "serviceAccount:${google_service_account.serve[0].email}"


@pytest.fixture(scope="module")
def terraform() -> dict[str, list[Any]]:
    return load_module(DEPLOY)


def local_value(terraform: dict[str, list[Any]], name: str) -> Any:
    for values in terraform["locals"]:
        if name in values:
            return values[name]
    raise AssertionError(f"no local {name}")


def test_serve_is_off_by_default_and_everything_of_it_hangs_on_it(terraform: dict[str, list[Any]]) -> None:
    assert variable_default(terraform, "serve") is False
    assert variable_default(terraform, "serve_adhoc") is False
    declared = re.findall(r'^(resource|data) "(\w+)" "(\w+)"', SERVE.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(declared) >= 7
    for kind, type_, name in declared:
        body = block(terraform, kind, type_, name)
        switch = str(body.get("count", body.get("for_each", "")))
        assert re.search(r"local\.serve(_keys)?\b|var\.serve\b", switch), f"{kind}.{type_}.{name}: {switch!r}"
    assert local_value(terraform, "serve") == "${var.serve ? 1 : 0}"
    assert local_value(terraform, "serve_keys") == "${var.serve && var.serve_keys_secret != null}"


def test_the_serve_function_is_the_registered_http_entry_point_with_its_own_cap_and_account(
    terraform: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = block(terraform, "resource", "google_cloudfunctions2_function", "serve")
    [build] = function["build_config"]
    assert build["entry_point"] == "serve_http" and "serve_http" in ENTRY_POINTS
    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbs")  # the module configures itself at import
    importlib.import_module("providers.gcp.main")
    from functions_framework import _function_registry

    assert _function_registry.REGISTRY_MAP["serve_http"] == "http"  # an HTTP function, not an event one
    [service] = function["service_config"]
    assert service["service_account_email"] == "${google_service_account.serve[0].email}"  # not the runtime's
    assert service["max_instance_count"] == "${var.serve_max_instance_count}"  # its own cap
    assert service["max_instance_request_concurrency"] == 1
    assert variable_default(terraform, "serve_max_instance_count") == 10
    for value, valid in (("10", True), ("0", False), ("1001", False)):
        assert accepts(DEPLOY, "serve_max_instance_count", value) is valid, value
    thumbnails = block(terraform, "resource", "google_cloudfunctions2_function", "thumbnails")
    assert thumbnails["service_config"][0]["max_instance_count"] == "${var.max_instance_count}"  # the events'
    # The event functions' settings plus the serve ones: both render the same outputs.
    assert local_value(terraform, "serve_environment") == "${merge(local.thumbs_environment, local.serve_settings)}"
    assert "local.serve_environment" in service["environment_variables"]
    # The signing keys arrive from Secret Manager as THUMBS_SERVE_KEYS, never as a plain variable.
    [dynamic] = service["dynamic"]
    assert dynamic["secret_environment_variables"]["for_each"] == "${local.serve_keys ? [var.serve_keys_secret] : []}"
    [secret] = dynamic["secret_environment_variables"]["content"]
    assert secret["key"] == "THUMBS_SERVE_KEYS" and secret["version"] == "latest"
    assert "THUMBS_SERVE_KEYS" not in str(local_value(terraform, "serve_shared_settings"))


def test_the_serve_account_reads_originals_and_writes_thumbnails_only(terraform: dict[str, list[Any]]) -> None:
    """Every grant to the serve account, by resource: the two buckets, signing as itself, the completion topic, the
    keys secret. No project-level role, and no grant of the event functions' account reaches it."""
    granted: dict[str, tuple[str, str, str]] = {}
    for kind in ("google_storage_bucket_iam_member", "google_service_account_iam_member",
                 "google_pubsub_topic_iam_member", "google_project_iam_member",
                 "google_secret_manager_secret_iam_member"):  # fmt: skip
        for name, body in blocks(terraform, "resource", kind):
            member = str(body.get("member", ""))
            if "google_service_account.serve" in member or (kind.startswith("google_secret") and "serve" in name):
                target = body.get("bucket") or body.get("service_account_id") or body.get("topic") or body.get(
                    "secret_id") or body.get("project")  # fmt: skip
                granted[f"{kind}.{name}"] = (body["role"], str(target), member)
    assert granted == {
        "google_storage_bucket_iam_member.serve_reads_originals": (
            "roles/storage.objectViewer", "${google_storage_bucket.originals.name}", SERVE_MEMBER),
        "google_storage_bucket_iam_member.serve_writes_thumbnails": (
            "roles/storage.objectUser", "${google_storage_bucket.thumbnails.name}", SERVE_MEMBER),
        "google_service_account_iam_member.serve_signs_as_itself": (
            "roles/iam.serviceAccountTokenCreator", "${google_service_account.serve[0].name}", SERVE_MEMBER),
        "google_pubsub_topic_iam_member.serve_publishes": (
            "roles/pubsub.publisher", "${google_pubsub_topic.completion[0].name}", SERVE_MEMBER),
        "google_secret_manager_secret_iam_member.reads_serve_keys": (
            "roles/secretmanager.secretAccessor", "${var.serve_keys_secret}", "serviceAccount:${each.value}"),
    }  # fmt: skip
    # The keys secret is read by the serve account and the event functions' account, nobody else.
    keys = block(terraform, "resource", "google_secret_manager_secret_iam_member", "reads_serve_keys")
    assert keys["for_each"] == (
        "${local.serve_keys ? {serve = google_service_account.serve[0].email, "
        "runtime = google_service_account.runtime.email} : {}}"
    )


def test_outputs_name_the_serve_url_and_are_null_with_serve_off(terraform: dict[str, list[Any]]) -> None:
    outputs = {name: body for found in terraform["output"] for name, body in found.items()}
    assert outputs["serve_url"]["value"] == (
        '${var.serve ? "${google_cloudfunctions2_function.serve[0].service_config[0].uri}/" : null}'
    )
    assert outputs["serve_public"]["value"] == '${var.serve ? contains(var.serve_invokers, "allUsers") : null}'
