"""Least privilege in the Terraform of all three providers, read with python-hcl2 (and checkov when present).

* Every ``#checkov:skip`` says why.
* AWS: the function's policy reads only the source bucket's prefix, writes only the destination's, and
  grants nothing on ``*``; no Allow statement anywhere has a wildcard action on a ``*`` resource.
* GCP: object roles only on the two buckets (read-only on the originals), never on the project; the
  only project-level grants are the two Eventarc needs; nothing for ``allUsers``.
* Azure: data-plane roles of the function on the images account are scoped to the source (read) and
  destination (write) containers; no Owner/Contributor control-plane role; shared keys are off; app
  settings hold no account key, connection string or SAS.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2  # python-hcl2, a test dependency
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOYS = {cloud: ROOT / "providers" / cloud / "deploy" for cloud in ("aws", "gcp", "azure")}
SKIP = re.compile(r"#\s*checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>.*))?")


def clean(value: Any) -> Any:
    """python-hcl2 keeps the quotes of strings and labels and adds ``__...__`` keys: drop both."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def terraform(cloud: str) -> dict[str, list[Any]]:
    """Every top-level block of every .tf file of ``cloud``, by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(DEPLOYS[cloud].glob("*.tf")):
        with path.open() as handle:
            for block_type, blocks in clean(hcl2.load(handle)).items():
                merged.setdefault(block_type, []).extend(blocks)
    return merged


def blocks(tf: dict[str, list[Any]], block_type: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, body)`` of every ``block_type "kind" "name"``."""
    for block in tf.get(block_type, []):
        yield from block.get(kind, {}).items()


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- every provider ------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", sorted(DEPLOYS))
def test_every_checkov_skip_is_justified(cloud: str) -> None:
    skips = []
    for path in sorted(DEPLOYS[cloud].glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP.search(line)
            if match:
                skips.append((f"{path.name}:{number}", match["check"], (match["reason"] or "").strip()))
    unjustified = [(where, check) for where, check, reason in skips if len(reason.split()) < 4]
    assert not unjustified, f"checkov skips without a reason: {unjustified}"


@pytest.mark.slow
@pytest.mark.parametrize("cloud", sorted(DEPLOYS))
def test_checkov_passes(cloud: str) -> None:
    """checkov's Terraform checks (as ``nox -s deploy`` runs them); POLYTHUMB_CHECKOV names the binary."""
    checkov = os.environ.get("POLYTHUMB_CHECKOV") or shutil.which("checkov")
    if not checkov:
        pytest.skip("checkov is not installed here; `nox -s deploy` installs and runs it")
    environ = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(
        [checkov, "--directory", str(DEPLOYS[cloud]), "--framework", "terraform", "--quiet", "--compact",
         "--skip-download"],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Failed checks: 0" in done.stdout


# -- AWS ---------------------------------------------------------------------------------------


def _statements(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(as_list(body.get("statement", [])))
    for dynamic in as_list(body.get("dynamic", [])):
        for content in as_list(dynamic.get("statement", {}).get("content", [])):
            found.append(content)
    return found


def test_aws_allow_statements_have_no_wildcards_on_star() -> None:
    tf = terraform("aws")
    for name, body in blocks(tf, "data", "aws_iam_policy_document"):
        for statement in _statements(body):
            if statement.get("effect", "Allow") != "Allow":
                continue  # a Deny may be as broad as it likes (the TLS-only bucket policy is)
            actions, resources = as_list(statement.get("actions", [])), as_list(statement.get("resources", []))
            if not resources:  # a trust policy: who may act, not on what; never anyone
                identifiers = [i for p in as_list(statement.get("principals", [])) for i in as_list(p["identifiers"])]
                assert identifiers and "*" not in identifiers, f"{name}: trust policy for anyone"
            assert "*" not in resources, f"{name}/{statement.get('sid')}: Allow on resource *"
            wildcards = [a for a in actions if a == "*" or a.endswith(":*")]
            assert not wildcards, f"{name}/{statement.get('sid')}: wildcard actions {wildcards}"


def test_aws_function_reads_the_source_prefix_and_writes_only_the_destination_prefix() -> None:
    [(_, body)] = [(n, b) for n, b in blocks(terraform("aws"), "data", "aws_iam_policy_document") if n == "thumbnailer"]
    source, dest = "${aws_s3_bucket.source.arn}", "${aws_s3_bucket.thumbnails.arn}"
    for statement in _statements(body):
        actions = as_list(statement["actions"])
        resources = as_list(statement["resources"])
        s3 = [a for a in actions if a.startswith("s3:")]
        if not s3:
            assert all(r.startswith("${") and "*" not in r.split(":")[0] for r in resources), statement
            continue
        assert all(r.startswith((source, dest)) for r in resources), f"{statement.get('sid')}: {resources}"
        object_actions = [a for a in s3 if "Object" in a]
        if object_actions:
            for resource in resources:
                prefix = "${var.source_prefix}*" if resource.startswith(source) else "${var.dest_prefix}*"
                assert resource.endswith("/" + prefix), f"{statement.get('sid')}: {resource} is not prefix-scoped"
        writes = [a for a in s3 if a in ("s3:PutObject", "s3:DeleteObject")]
        if writes:
            assert all(r.startswith(dest) for r in resources), f"{statement.get('sid')} writes outside the destination"
        assert set(s3) <= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}, s3


# -- GCP ---------------------------------------------------------------------------------------


def test_gcp_object_roles_are_on_the_two_buckets_only() -> None:
    tf = terraform("gcp")
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


def test_gcp_project_level_grants_are_only_what_eventarc_needs() -> None:
    tf = terraform("gcp")
    grants = dict(blocks(tf, "resource", "google_project_iam_member"))
    project_grants = {(body["role"], body["member"]) for body in grants.values()}
    build = "serviceAccount:${google_service_account.build.email}"
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


# -- Azure -------------------------------------------------------------------------------------


def test_azure_data_plane_roles_are_scoped_to_the_right_containers() -> None:
    tf = terraform("azure")
    function = "${local.function_principal}"
    assignments = {name: body for name, body in blocks(tf, "resource", "azurerm_role_assignment")}
    for name, body in assignments.items():
        role = body["role_definition_name"]
        assert role not in ("Owner", "Contributor", "User Access Administrator"), f"{name}: control-plane role {role}"
        if body["principal_id"] == function and role.startswith("Storage Blob Data"):
            assert "azurerm_storage_account.images" not in body["scope"], f"{name}: blob role on the images account"
    function_roles = {
        (b["scope"], b["role_definition_name"]) for b in assignments.values() if b["principal_id"] == function
    }
    outside_runtime = {g for g in function_roles if "runtime" not in g[0] and "application_insights" not in g[0]}
    blob = {g for g in outside_runtime if g[1].startswith("Storage Blob Data")}
    assert blob == {
        ("${azurerm_storage_container.source.resource_manager_id}", "Storage Blob Data Reader"),
        ("${azurerm_storage_container.dest.resource_manager_id}", "Storage Blob Data Contributor"),
    }, "the function reads the source container and writes the destination container, nothing else"
    for scope, role in outside_runtime - blob:
        assert role.startswith("Storage Queue Data"), f"unexpected role {role} on {scope}"
        # A named queue, or (blob-trigger route only) the images account, where that trigger keeps its poison queue.
        assert scope.startswith("${azurerm_storage_queue.") or (
            scope == "${azurerm_storage_account.images.id}" and role == "Storage Queue Data Contributor"
        ), f"{role} on {scope}"


def test_azure_has_no_keys_in_settings_and_no_shared_keys() -> None:
    tf = terraform("azure")
    secret_shapes = re.compile(
        r"AccountKey=|SharedAccessSignature=|DefaultEndpointsProtocol=|[?&]sig=|primary_access_key|"
        r"secondary_access_key|primary_connection_string|primary_blob_connection_string"
    )
    [app_settings] = [block["app_settings"] for block in tf["locals"] if "app_settings" in block]
    for setting, value in app_settings.items():
        assert not secret_shapes.search(f"{setting}={value}"), f"app setting {setting} holds a secret: {value}"
    # Changed by issue 13: no AzureWebJobsStorage entry at all (an empty one made every plan differ).
    assert "AzureWebJobsStorage" not in app_settings, "host storage is identity-based"
    assert app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for name, body in blocks(tf, "resource", "azurerm_function_app_flex_consumption"):
        settings = body.get("app_settings")
        for setting, value in settings.items() if isinstance(settings, dict) else []:
            assert not secret_shapes.search(f"{setting}={value}"), f"{name}: {setting}"
        assert body["storage_authentication_type"] == "SystemAssignedIdentity"
    for name, body in blocks(tf, "resource", "azurerm_storage_account"):
        assert body["shared_access_key_enabled"] is False, f"{name} accepts account keys"
    # The App Insights connection string in site_config is an ingestion address, useless without a token:
    for name, body in blocks(tf, "resource", "azurerm_application_insights"):
        assert body["local_authentication_disabled"] is True, f"{name} accepts its instrumentation key alone"
