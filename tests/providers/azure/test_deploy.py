"""The Terraform in providers/azure/deploy, checked offline against the code it deploys.

Every ``.tf`` parses (python-hcl2); the app settings it writes boot the real entrypoint (config,
Azure settings, identity-based connection, function names); the Event Grid subscription targets a
function that exists and only the source container; roles are data-plane roles on the narrowest
scope; no account key appears anywhere.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest

from core.config import SETTINGS, load_config
from providers.azure import PROVIDER
from providers.azure.connection import resolve_connection
from providers.azure.settings import load_azure_settings
from tests.terraform import accepts, blocks, clean, load_module, parse
from tests.terraform import block as resource_block
from tests.terraform_schema import check_stack

DEPLOY = Path(__file__).resolve().parents[3] / "providers" / "azure" / "deploy"
TF_FILES = sorted(DEPLOY.glob("*.tf"))
_REFERENCE = re.compile(r"\$\{([^}]*)\}")


class Terraform:
    """All files of the module, merged, with a resolver for the simple references the tests need."""

    def __init__(self, files: list[Path]) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[str, Any] = {}
        self.locals: dict[str, Any] = {}
        for path in files:
            parsed = parse(path)
            for block in parsed.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        self.resources[(clean(rtype), clean(name))] = clean(body)
            for block in parsed.get("data", []):
                for dtype, named in block.items():
                    for name, body in named.items():
                        self.data[(clean(dtype), clean(name))] = clean(body)
            for block in parsed.get("variable", []):
                for name, body in block.items():
                    self.variables[clean(name)] = clean(body).get("default")
            for block in parsed.get("locals", []):
                self.locals.update(clean(block))

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources[(rtype, name)]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == rtype}

    def resolve(self, value: str) -> str:
        """Substitute var.* defaults, local.* and <resource>.<name>.name; leave other references as is."""

        def one(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            parts = expression.split(".")
            if parts[0] == "var" and len(parts) == 2 and isinstance(self.variables.get(parts[1]), str):
                return str(self.variables[parts[1]])
            if parts[0] == "local" and len(parts) == 2 and isinstance(self.locals.get(parts[1]), str):
                return self.resolve(self.locals[parts[1]])
            if len(parts) == 3 and parts[2] == "name" and (parts[0], parts[1]) in self.resources:
                return self.resolve(str(self.resources[(parts[0], parts[1])]["name"]))
            return match.group(0)

        previous = None
        while previous != value:
            previous, value = value, _REFERENCE.sub(one, value)
        return value


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform(TF_FILES)


@pytest.fixture(scope="module")
def app_settings(tf: Terraform) -> dict[str, str]:
    """The function app's settings as Terraform writes them with default variables."""
    function = tf.resource("azurerm_function_app_flex_consumption", "this")
    # local.completion_settings (notify.tf), local.serve_app_settings (serve.tf) and local.brake_app_settings
    # (brake.tf) are empty with the default variables (events, manifest, signed URLs, serve, automatic brake off).
    assert function["app_settings"] == "${local.function_app_settings}"
    merged = ("${merge(local.app_settings, local.completion_settings, local.serve_app_settings, "
              "local.brake_app_settings, var.thumbs_settings)}")  # fmt: skip
    assert tf.locals["function_app_settings"] == merged
    off = ("completion_events", "manifest", "signed_urls", "serve", "brake_on_runaway")
    assert not any(tf.variables[name] for name in off)
    assert tf.variables["thumbs_settings"] == {}
    return {tf.resolve(k): tf.resolve(str(v)) for k, v in tf.locals["app_settings"].items()}


def test_every_name_and_reference_is_in_the_pinned_provider_schemas() -> None:
    """The stand-in for ``terraform validate``, whose plugin this machine cannot install (tests/terraform_schema.py;
    tests/test_terraform_schema.py proves it fails on a broken copy)."""
    problems = check_stack(DEPLOY)
    assert not problems, "\n".join(map(str, problems))


def test_every_tf_file_parses() -> None:
    assert {p.name for p in TF_FILES} >= {"versions.tf", "variables.tf", "main.tf", "storage.tf", "function.tf",
                                          "identity.tf", "eventgrid.tf", "outputs.tf"}  # fmt: skip
    for path in TF_FILES:
        with path.open() as handle:
            assert hcl2.load(handle)


def test_app_settings_boot_the_real_entrypoint(
    tf: Terraform, app_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    thumbs = {k: v for k, v in app_settings.items() if k.startswith("THUMBS_")}
    assert set(thumbs) <= set(SETTINGS) | {setting.name for setting in PROVIDER.function_settings}
    assert {"THUMBS_DEST_BUCKET", "THUMBS_SOURCE_CONTAINER", "THUMBS_STORAGE_CONNECTION"} <= set(thumbs)
    assert thumbs["THUMBS_SOURCE_CONTAINER"] == "images" and thumbs["THUMBS_DEST_BUCKET"] == "thumbnails"

    # Resource attributes (endpoints, account names) are only known at apply time: stand-ins.
    environ = {k: (v if "${" not in v else "https://account.blob.core.windows.net/") for k, v in app_settings.items()}
    # ... except the pixel limit, which memory.tf derives from the default instance memory.
    environ["THUMBS_MAX_PIXELS"] = str(tf.locals["max_pixels_by_memory"][str(tf.variables["instance_memory_mb"])])
    config = load_config(environ, require_dest=True, extra_settings=PROVIDER.function_settings)
    assert config.dest_bucket == "thumbnails"
    azure = load_azure_settings(environ)
    connection = resolve_connection(azure.connection_name, environ=environ)
    assert connection.identity_based and connection.credential_kind == "managedidentity"

    # Cold-start the entrypoint with exactly these settings; the functions Terraform names must exist.
    for name in [n for n in os.environ if n.startswith(("THUMBS_", "AzureWebJobs"))]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("providers.azure.function_app", None)
    module = importlib.import_module("providers.azure.function_app")
    functions = {f.get_function_name(): f for f in module.app.get_functions()}
    disabled = {m.group(1) for k in app_settings if (m := re.fullmatch(r"AzureWebJobs\.(\w+)\.Disabled", k))}
    assert disabled == {"on_event_grid", "on_blob", "serve_http"}
    assert set(functions) == disabled | {"on_backfill_queue"}  # the backfill queue is never switched off
    blob_binding = functions["on_blob"].get_bindings_dict()["bindings"][0]
    assert blob_binding["connection"] == thumbs["THUMBS_STORAGE_CONNECTION"]
    assert blob_binding["path"] == "%THUMBS_SOURCE_CONTAINER%/{name}"  # resolved by the host from the setting


def test_host_storage_is_identity_based_and_no_key_appears_anywhere(app_settings: dict[str, str]) -> None:
    assert "AzureWebJobsStorage" not in app_settings  # changed by issue 13: the empty entry made every plan differ
    assert "AzureWebJobsStorage__accountName" in app_settings
    assert app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    text = "\n".join(p.read_text() for p in TF_FILES)
    for forbidden in ("primary_access_key", "secondary_access_key", "primary_connection_string",
                      "storage_access_key", "storage_account_access_key", "AccountKey", "SharedAccessSignature",
                      "sas_token"):  # fmt: skip
        assert forbidden not in text, forbidden


def test_storage_accounts_are_hardened(tf: Terraform) -> None:
    accounts = tf.of_type("azurerm_storage_account")
    assert set(accounts) == {"images", "runtime"}
    for body in accounts.values():
        assert body["shared_access_key_enabled"] is False
        assert body["min_tls_version"] == "TLS1_2"
        assert body["allow_nested_items_to_be_public"] is False
        assert body["https_traffic_only_enabled"] is True
        assert body["local_user_enabled"] is False
        assert body["blob_properties"][0]["delete_retention_policy"]
    for container in tf.of_type("azurerm_storage_container").values():
        assert container["container_access_type"] == "private"
    provider = TF_FILES[[p.name for p in TF_FILES].index("versions.tf")].read_text()
    assert re.search(r"storage_use_azuread\s*=\s*true", provider)


def test_function_app_runs_python_with_a_system_assigned_identity(tf: Terraform) -> None:
    function = tf.resource("azurerm_function_app_flex_consumption", "this")
    assert function["runtime_name"] == "python"
    assert tf.resolve(function["runtime_version"]) in ("3.11", "3.12")
    assert function["identity"][0]["type"] == "SystemAssigned"
    assert function["storage_authentication_type"] == "SystemAssignedIdentity"
    assert function["https_only"] is True
    assert tf.resource("azurerm_service_plan", "this")["sku_name"] == "FC1"


def test_data_plane_roles_are_scoped_to_the_containers(tf: Terraform) -> None:
    roles = tf.of_type("azurerm_role_assignment")
    # A built-in role by name, or the automatic brake's custom role (brake.tf) by id.
    scopes = {name: (body.get("role_definition_name") or body["role_definition_id"], body["scope"])
              for name, body in roles.items()}  # fmt: skip
    assert scopes["source_reader"] == (
        "Storage Blob Data Reader", "${azurerm_storage_container.source.id}",
    )  # fmt: skip
    assert scopes["dest_contributor"] == (
        "Storage Blob Data Contributor", "${azurerm_storage_container.dest.id}",
    )  # fmt: skip
    for name, (role, scope) in scopes.items():
        assert role not in ("Owner", "Contributor", "Storage Account Contributor"), name
        assert "resource_group" not in scope and "subscription" not in scope, name
        if "azurerm_storage_account.images" in scope:  # account-wide rights on the images: both optional
            # the blob route's queue; signed URLs' user delegation key (an account-level action that reads nothing)
            assert role in ("Storage Queue Data Contributor", "Storage Blob Delegator") and roles[name]["count"], name


def test_event_subscription_targets_the_code_and_only_the_source_container(tf: Terraform) -> None:
    topic = tf.resource("azurerm_eventgrid_system_topic", "images")
    assert topic["topic_type"] == "Microsoft.Storage.StorageAccounts"
    assert topic["source_arm_resource_id"] == "${azurerm_storage_account.images.id}"

    subscription = tf.resource("azurerm_eventgrid_system_topic_event_subscription", "thumbnails")
    assert subscription["included_event_types"] == (
        '${var.trigger == "blob" ? local.blob_trigger_event_types : local.event_grid_event_types}'
    )
    from providers.azure.events import BLOB_CREATED, BLOB_DELETED, BLOB_RENAMED, DIRECTORY_DELETED

    # Every type the Event Grid route acts on is subscribed (issue 17 added the Data Lake rename and delete).
    assert tf.locals["event_grid_event_types"] == [BLOB_CREATED, BLOB_DELETED, BLOB_RENAMED, DIRECTORY_DELETED]
    assert tf.locals["blob_trigger_event_types"] == [BLOB_CREATED, BLOB_DELETED]
    prefix = tf.resolve(subscription["subject_filter"][0]["subject_begins_with"])
    assert prefix == "/blobServices/default/containers/images/blobs/"

    function_endpoint = subscription["dynamic"][0]["azure_function_endpoint"]["content"][0]
    assert function_endpoint["function_id"].endswith("/functions/on_event_grid")
    assert function_endpoint["max_events_per_batch"] == 1
    webhook = subscription["dynamic"][1]["webhook_endpoint"]["content"][0]
    assert "/runtime/webhooks/blobs?functionName=Host.Functions.on_blob&code=" in webhook["url"]
    assert tf.data[("azurerm_function_app_host_keys", "this")]

    assert subscription["retry_policy"][0] == {"max_delivery_attempts": 10, "event_time_to_live": 1440}
    assert subscription["dead_letter_identity"][0]["type"] == "SystemAssigned"
    destination = subscription["storage_blob_dead_letter_destination"][0]
    assert destination["storage_blob_container_name"] == "${azurerm_storage_container.deadletter.name}"


def test_every_checkov_skip_gives_a_reason() -> None:
    skips = [line.strip() for p in TF_FILES for line in p.read_text().splitlines() if "checkov:skip" in line]
    assert skips
    for skip in skips:
        assert re.fullmatch(r"#checkov:skip=CKV2?_AZURE_\d+:.{30,}", skip), skip


# -- least privilege ------------------------------------------------------------------------------


def test_policy_data_plane_roles_are_scoped_to_the_right_containers() -> None:
    tf = load_module(DEPLOY)
    function = "${local.function_principal}"
    assignments = {name: body for name, body in blocks(tf, "resource", "azurerm_role_assignment")}
    # The automatic brake's custom role (brake.tf: exactly its management calls, tests/providers/azure/
    # test_brake_on_runaway.py) on the event subscription and the app only: no data-plane role.
    brake = assignments.pop("brake_function")
    assert brake["role_definition_id"] == "${azurerm_role_definition.brake[0].role_definition_resource_id}"
    assert brake["for_each"] == "${local.brake_function_scopes}" and brake["principal_id"] == function
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
        ("${azurerm_storage_container.source.id}", "Storage Blob Data Reader"),
        ("${azurerm_storage_container.dest.id}", "Storage Blob Data Contributor"),
    }, "the function reads the source container and writes the destination container, nothing else"
    # Completion (notify.tf, each optional): send to its own Event Grid topic; a user delegation key for signed URLs.
    completion = {
        ("${azurerm_eventgrid_topic.completion[0].id}", "EventGrid Data Sender"),
        ("${azurerm_storage_account.images.id}", "Storage Blob Delegator"),
    }
    assert all(assignments[name]["count"] for name in ("completion_sender", "url_delegator"))
    # Serving with signed ad-hoc URLs (serve.tf, issue 23): read the one Key Vault secret holding their keys.
    keys = {("${var.serve_keys_key_vault_id}/secrets/${element(split(\"/\", trimsuffix(var.serve_keys_secret_uri, "
             "\"/\")), 4)}", "Key Vault Secrets User")}  # fmt: skip
    assert keys <= outside_runtime and assignments["serve_keys_reader"]["count"] == "${local.serve_keys ? 1 : 0}"
    for scope, role in outside_runtime - blob - completion - keys:
        assert role.startswith("Storage Queue Data"), f"unexpected role {role} on {scope}"
        # A named queue, or (blob-trigger route only) the images account, where that trigger keeps its poison queue.
        assert scope.startswith("${azurerm_storage_queue.") or (
            scope == "${azurerm_storage_account.images.id}" and role == "Storage Queue Data Contributor"
        ), f"{role} on {scope}"


def test_policy_has_no_keys_in_settings_and_no_shared_keys() -> None:
    tf = load_module(DEPLOY)
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


# -- issue 13: a deployer without data-plane roles, stable plans, alerts, retention, regions -----------------


def provider_block() -> dict[str, Any]:
    with (DEPLOY / "versions.tf").open() as handle:
        parsed = clean(hcl2.load(handle))
    return dict(parsed["provider"][0]["azurerm"])


def test_the_provider_never_needs_a_data_plane_role_of_the_deployer() -> None:
    provider = provider_block()
    assert provider["features"][0]["storage"][0]["data_plane_available"] is False
    assert provider["storage_use_azuread"] is True


def test_the_subscription_is_wired_as_azurerm_4_requires(tf: Terraform) -> None:
    assert provider_block()["subscription_id"] == "${var.subscription_id}"
    assert "subscription_id" in tf.variables and tf.variables["subscription_id"] is None  # null: ARM_SUBSCRIPTION_ID


def test_no_app_setting_the_provider_drops_from_state(tf: Terraform) -> None:
    settings = tf.locals["app_settings"]
    assert "AzureWebJobsStorage" not in settings  # an empty value is dropped from state: a diff on every plan
    assert all(value != "" for value in settings.values())
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"


def test_deploy_command_points_at_the_package_polythumb_builds(tf: Terraform) -> None:
    from providers.azure.packaging import DEFAULT_OUT

    outputs = {}
    for path in TF_FILES:
        with path.open() as handle:
            for block in hcl2.load(handle).get("output", []):
                outputs.update(clean(block))
    command = outputs["deploy_command"]["value"]
    assert "--src ${abspath(local.package_path)}" in command and "--src dist/" not in command
    assert (
        tf.locals["package_path"]
        == f'${{coalesce(var.package_path, "${{path.module}}/../../../{DEFAULT_OUT.as_posix()}")}}'
    )
    assert {"thumbs_environment", "blob_endpoint", "source_container", "dest_container"} <= outputs.keys()


def test_redundancy_is_a_variable_with_a_default_every_region_offers(tf: Terraform) -> None:
    runtime = tf.resource("azurerm_storage_account", "runtime")
    assert runtime["account_replication_type"] == "${var.runtime_storage_replication}"
    assert tf.variables["runtime_storage_replication"] == "LRS"
    images = tf.resource("azurerm_storage_account", "images")
    assert images["account_replication_type"] == "${var.storage_replication}"
    assert tf.variables["storage_replication"] in ("LRS", "GRS")  # not a zone-redundant kind some regions lack


def test_alerts_cover_dead_letters_poison_queues_and_failures(tf: Terraform) -> None:
    metrics = {a["metric"]: a for a in tf.locals["metric_alerts"].values()}
    assert metrics["DeadLetteredCount"]["scope"] == "${azurerm_eventgrid_system_topic.images.id}"
    assert metrics["DroppedEventCount"]["scope"] == "${azurerm_eventgrid_system_topic.images.id}"
    assert metrics["requests/failed"]["scope"] == "${azurerm_application_insights.this.id}"
    alert = tf.resource("azurerm_monitor_metric_alert", "this")
    assert alert["for_each"] == "${local.metric_alerts}" and alert["scopes"] == ["${each.value.scope}"]
    assert alert["criteria"][0]["metric_name"] == "${each.value.metric}"
    poison = tf.resource("azurerm_monitor_scheduled_query_rules_alert_v2", "poison_messages")
    assert "StorageQueueLogs" in poison["criteria"][0]["query"] and "-poison" in poison["criteria"][0]["query"]
    group = "${azurerm_monitor_action_group.alerts.id}"
    assert alert["action"][0]["action_group_id"] == group
    assert poison["action"][0]["action_groups"] == [group]
    receiver = tf.resource("azurerm_monitor_action_group", "alerts")["dynamic"][0]["email_receiver"]
    assert receiver["for_each"] == "${var.alert_email == null ? [] : [var.alert_email]}"


def test_log_retention_is_explicit_on_logs_and_telemetry(tf: Terraform) -> None:
    assert tf.variables["log_retention_days"] == 30
    assert tf.resource("azurerm_log_analytics_workspace", "this")["retention_in_days"] == "${var.log_retention_days}"
    assert tf.resource("azurerm_application_insights", "this")["retention_in_days"] == "${var.log_retention_days}"


def test_memory_sets_the_pixel_limit_and_one_render_runs_per_worker(
    tf: Terraform, app_settings: dict[str, str]
) -> None:
    from core.config import Config

    assert tf.variables["instance_memory_mb"] == 2048
    assert tf.locals["max_pixels_by_memory"]["2048"] >= Config().max_pixels
    assert app_settings["THUMBS_MAX_PIXELS"] == "${tostring(local.max_pixels_for_memory)}"
    assert app_settings["PYTHON_THREADPOOL_THREAD_COUNT"] == "1"


def test_the_app_refuses_to_start_without_cloud_event_support(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.functions as func

    from core.errors import ConfigError
    from providers.azure.events import MIN_AZURE_FUNCTIONS

    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbnails")
    monkeypatch.setenv("THUMBS_SOURCE_CONTAINER", "images")
    monkeypatch.delattr(func, "CloudEvent")
    monkeypatch.delitem(sys.modules, "providers.azure.function_app", raising=False)
    with pytest.raises(ConfigError, match=rf"azure-functions >= {re.escape(MIN_AZURE_FUNCTIONS)}"):
        importlib.import_module("providers.azure.function_app")
    monkeypatch.delitem(sys.modules, "providers.azure.function_app", raising=False)


def test_pyproject_and_requirements_pin_the_cloud_event_floor() -> None:
    import tomllib

    from packaging.version import Version

    from providers.azure.events import MIN_AZURE_FUNCTIONS

    project = tomllib.loads((DEPLOY.parents[2] / "pyproject.toml").read_text())
    assert f"azure-functions>={MIN_AZURE_FUNCTIONS}" in project["project"]["optional-dependencies"]["azure"]
    pins = dict(line.split("==") for line in (DEPLOY.parent / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))  # fmt: skip
    assert Version(pins["azure-functions"]) >= Version(MIN_AZURE_FUNCTIONS)


# -- issue 21: a first deployment that works --------------------------------------------------------------------


def heredoc(value: str) -> str:
    """The text of a ``<<-EOT ... EOT`` heredoc as python-hcl2 returns it, indentation stripped as Terraform does."""
    import textwrap

    lines = value.splitlines()
    assert lines[0].startswith("<<-") and lines[-1].strip() == lines[0][3:], value[:80]
    return textwrap.dedent("\n".join(lines[1:-1])) + "\n"


def host_storage_fix() -> dict[str, Any]:
    return resource_block(load_module(DEPLOY), "resource", "terraform_data", "drop_host_storage_connection_string")


def test_the_host_storage_connection_string_azurerm_writes_is_deleted_after_every_app_change() -> None:
    fix = host_storage_fix()
    # Re-run whenever the app is created or updated: azurerm writes the setting on both paths.
    assert fix["triggers_replace"] == ["${sha256(jsonencode(azurerm_function_app_flex_consumption.this))}"]
    exec_ = fix["provisioner"][0]["local-exec"]
    assert exec_["environment"] == {"APP_ID": "${azurerm_function_app_flex_consumption.this.id}"}
    assert exec_["interpreter"] == ["/bin/sh", "-c"]
    # The restart the delete causes is the host's real first start: after the role assignments applied.
    assert fix["depends_on"] == ["${time_sleep.role_propagation}"]


@pytest.mark.parametrize("present", [True, False], ids=["written-by-azurerm", "already-gone"])
def test_the_local_exec_deletes_the_setting_only_when_present(tmp_path: Path, present: bool) -> None:
    """The provisioner's own script, run by /bin/sh against a stand-in ``az`` holding the app's settings."""
    import subprocess

    from tests.providers.azure import fake_az

    identity = ["AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "THUMBS_SIZES"]
    environment, log = fake_az.install(tmp_path, names=[*identity, "AzureWebJobsStorage"] if present else identity)
    app_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/acme-thumbs"
    script = heredoc(host_storage_fix()["provisioner"][0]["local-exec"]["command"])
    done = subprocess.run(["/bin/sh", "-c", script], env={**os.environ, **environment, "APP_ID": app_id},
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert fake_az.settings(environment) == identity  # the __ settings stay: only the connection string goes
    verbs = [call[3] for call in fake_az.calls(log)]
    assert verbs == (["list", "delete"] if present else ["list"])  # a delete restarts the app: only when needed
    assert all(call[4:6] == ["--ids", app_id] for call in fake_az.calls(log))


def test_the_apply_waits_for_every_role_assignment_to_apply(tf: Terraform) -> None:
    sleep = tf.resource("time_sleep", "role_propagation")
    assert sleep["create_duration"] == "${var.role_propagation_wait}"
    assert tf.variables["role_propagation_wait"] == "120s"
    for value, bounded in (('"120s"', True), ('"0s"', True), ('"600s"', True), ('"601s"', False), ('"2m"', False)):
        assert accepts(DEPLOY, "role_propagation_wait", value) is bounded, value
    waited = set(re.findall(r"azurerm_role_assignment\.(\w+)", sleep["triggers"]["role_assignments"]))
    assert waited == set(tf.of_type("azurerm_role_assignment")), "a role assignment the apply does not wait for"
    assert re.search(r'source\s*=\s*"hashicorp/time"', (DEPLOY / "versions.tf").read_text())


def test_the_poison_alert_survives_a_workspace_without_queue_logs_yet(tf: Terraform) -> None:
    poison = tf.resource("azurerm_monitor_scheduled_query_rules_alert_v2", "poison_messages")
    assert poison["skip_query_validation"] is True
    query = " ".join(heredoc(poison["criteria"][0]["query"]).split())
    # A missing StorageQueueLogs table resolves to the empty stand-in instead of failing (SEM0100).
    assert query.startswith("union isfuzzy=true (datatable(TimeGenerated: datetime, OperationName: string, Uri: ")
    assert '(StorageQueueLogs) | where OperationName == "PutMessage" and Uri has "-poison"' in query
    assert set(poison["depends_on"]) == {
        "${azurerm_monitor_diagnostic_setting.runtime_queues}", "${azurerm_monitor_diagnostic_setting.images_queues}",
    }  # fmt: skip


def test_the_dead_letters_can_be_listed_by_whoever_verifies(tf: Terraform) -> None:
    reader = tf.resource("azurerm_role_assignment", "verify_deadletter_reader")
    assert reader["scope"] == "${azurerm_storage_container.deadletter.id}"
    assert reader["role_definition_name"] == "Storage Blob Data Reader"
    assert reader["principal_id"] == "${var.verify_principal_id}"


def test_no_deprecated_resource_manager_id_and_the_outputs_say_what_the_app_runs_with(tf: Terraform) -> None:
    assert not [p.name for p in TF_FILES if "resource_manager_id" in p.read_text()]
    outputs = {name: body for block_ in load_module(DEPLOY)["output"] for name, body in block_.items()}
    # The settings verify checks are the app's own, completion settings included.
    assert "local.function_app_settings" in outputs["thumbs_environment"]["value"]
    assert outputs["function_app_id"]["value"] == "${azurerm_function_app_flex_consumption.this.id}"
    assert "--subscription ${data.azurerm_client_config.current.subscription_id}" in outputs["deploy_command"]["value"]
    assert "identity" not in tf.resource("azurerm_eventgrid_topic", "completion")  # it only receives
