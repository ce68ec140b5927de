"""The automatic brake on Azure (deploy/brake.tf ``brake_on_runaway``, providers/azure/brake_function.py).

The app's real ``brake_on_runaway`` function, found through ``app.get_functions()`` after a cold start with the
settings Terraform gives it, is called with common alert schema notifications shaped as Azure Monitor sends a
log alert (rule v2), and brakes through Resource Manager's REST API as the app's identity: against a recording
stand-in of Resource Manager and of App Service's identity endpoint (tests/providers/azure/fake_arm.py), whose
state is the stand-in ``az``'s, so ``polythumb brake|release azure`` (tests/providers/azure/fake_az.py, queues on
Azurite) read and undo what the automatic brake did. Then the Terraform: off by default with nothing made, the
rule names defined once, the function's name and route, and its role holding exactly the calls it made.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from core.errors import ConfigError
from providers.azure import observability
from providers.azure.brake import EventGridBrake
from tests.log_capture import JsonLogs
from tests.providers.azure.emulator import Azurite, AzuriteQueue
from tests.providers.azure.test_brake import (
    APP_ID,
    FUNCTION,
    KEY,
    SUBSCRIPTION_ID,
    TOPIC_ID,
    WEBHOOK_URL,
    azurite_queues,
    outputs,
    subscription,
)
from tests.serve_support import AUTOMATIC_BRAKES, event_cold_start
from tests.terraform import ROOT, block, evaluate, expression_of, load_module

from . import fake_arm, fake_az

pytestmark = pytest.mark.azure

MODULE = "providers.azure.function_app"
DEPLOY = ROOT / "providers" / "azure" / "deploy"
#: The rules' names as deploy/observability.tf makes them for name_prefix "pt" (local.function_name "pt-thumbs").
FUNCTION_NAME = "pt-thumbs"
RUNAWAY_RULES = ("pt-thumbs-renders-per-revision", "pt-thumbs-invocations-per-upload")
BRAKE_MODULES = {name for name in AUTOMATIC_BRAKES if name.startswith("providers.azure.")}


def alert(rule: str, condition: str = "Fired", **essentials: Any) -> bytes:
    """A log alert (scheduled query rule v2) notification in the common alert schema, as an action group posts it."""
    workspace = "/subscriptions/s/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/pt-thumbs-logs"
    payload = {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/{uuid.uuid4()}",
                "alertRule": rule,
                "targetResourceType": "microsoft.operationalinsights/workspaces",
                "alertRuleID": f"/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/"
                f"scheduledqueryrules/{rule}",
                "severity": "Sev2",
                "signalType": "Log",
                "monitorCondition": condition,
                "targetResourceGroup": "rg",
                "monitoringService": "Log Alerts V2",
                "alertTargetIDs": [workspace],
                "configurationItems": [workspace],
                "originAlertId": str(uuid.uuid4()),
                "firedDateTime": "2026-12-08T01:20:00.0000000Z",
                **({"resolvedDateTime": "2026-12-08T01:40:00.0000000Z"} if condition == "Resolved" else {}),
                "description": "Runaway detector: One revision of one source rendered again and again ...",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
                **essentials,
            },
            "alertContext": {
                "properties": {},
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowSize": "PT5M",
                    "allOf": [{
                        "searchQuery": "union isfuzzy=true ... | extend worst = iff(volume >= 20, most, 0)",
                        "metricMeasureColumn": "worst",
                        "targetResourceTypes": "['Microsoft.OperationalInsights/workspaces']",
                        "operator": "GreaterThan", "threshold": "3", "timeAggregation": "Maximum", "dimensions": [],
                        "metricValue": 212.0,
                        "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1},
                        "linkToSearchResultsUI": "https://portal.azure.com#@tenant/blade/...",
                    }],
                    "windowStartTime": "2026-12-08T01:15:00.000Z",
                    "windowEndTime": "2026-12-08T01:20:00.000Z",
                },
            },
            "customProperties": None,
        },
    }  # fmt: skip
    return json.dumps(payload).encode("utf-8")


@pytest.fixture
def queues(azurite_queue: AzuriteQueue) -> Iterator[tuple[str, str]]:
    """A fresh held queue and backfill queue on Azurite (what a person's release moves and counts)."""
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite_queue.connection_string)
    names = (f"pt-held-{uuid.uuid4().hex[:10]}", f"pt-backfill-{uuid.uuid4().hex[:10]}")
    for name in names:
        service.create_queue(name)
    yield names
    for name in names:
        service.delete_queue(name)


class Rig:
    """The stand-ins (``az`` and Resource Manager over one state), the deployment, and the app's brake function."""

    def __init__(self, environment: dict[str, str], arm: fake_arm.FakeArm, deployment: dict[str, Any]) -> None:
        self.environment, self.arm, self.deployment = environment, arm, deployment
        self.module: ModuleType | None = None
        self.functions: dict[str, Any] = {}

    def cold_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (MODULE, *BRAKE_MODULES):
            sys.modules.pop(name, None)  # a new worker process: nothing built yet (the handler's once included)
        self.module = importlib.import_module(MODULE)
        self.functions = {f.get_function_name(): f for f in self.module.app.get_functions()}

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """POST ``body`` to the function as the host hands a request to it."""
        import azure.functions as func

        request = func.HttpRequest(method="POST", url="https://pt-thumbs.azurewebsites.net/api/polythumb/brake",
                                   headers={"Content-Type": "application/json"}, params={}, body=body)  # fmt: skip
        response = self.functions["brake_on_runaway"].get_user_function()(request)
        return response.status_code, json.loads(response.get_body())

    def state(self) -> dict[str, Any]:
        return fake_az.resources(self.environment)


@pytest.fixture
def rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite: Azurite, azurite_queue: AzuriteQueue,
    new_container: Callable[..., str], queues: tuple[str, str],
) -> Iterator[Rig]:  # fmt: skip
    yield from _rig(tmp_path, monkeypatch, azurite, azurite_queue, new_container, queues, FUNCTION)


def _rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite: Azurite, azurite_queue: AzuriteQueue,
         new_container: Callable[..., str], queues: tuple[str, str], destination: dict[str, Any],
         full_url: str | None = None) -> Iterator[Rig]:  # fmt: skip
    arm = {
        "resources": {SUBSCRIPTION_ID: subscription(destination)},
        "apps": {APP_ID: {"state": "Running", "blobs_extension": KEY}},
        "webhook_app": APP_ID,
        "full_urls": {SUBSCRIPTION_ID: full_url} if full_url else {},
    }
    environment, _ = fake_az.install(tmp_path / "bin", names=[], arm=arm)
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    with fake_arm.serve(Path(environment["FAKE_AZ_ARM"])) as server:
        settings = {
            **environment, **server.environment(),
            "AzureWebJobsStorage": azurite.connection_string,
            "THUMBS_SOURCE_CONTAINER": new_container("src"), "THUMBS_DEST_BUCKET": new_container("thumbs"),
            "BRAKE_ALERTS": ",".join(RUNAWAY_RULES), "BRAKE_DEPLOYMENT": json.dumps(deployment["brake"]),
        }  # fmt: skip
        monkeypatch.delenv("THUMBS_STORAGE_CONNECTION", raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        rig = Rig(environment, server, deployment)
        rig.cold_start(monkeypatch)
        yield rig
    for name in (MODULE, *BRAKE_MODULES):
        sys.modules.pop(name, None)


# -- the function -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RUNAWAY_RULES)
def test_a_runaway_alert_firing_brakes_through_resource_manager_once_and_a_person_releases(
    rig: Rig, rule: str, azurite_queue: AzuriteQueue, json_logs: JsonLogs
) -> None:
    assert rig.post(alert("pt-thumbs-failure-rate")) == (200, {"braked": False, "ignored": "pt-thumbs-failure-rate"})
    assert rig.post(alert(rule + "-x"))[1]["braked"] is False  # names match whole
    assert rig.post(alert(rule, "Resolved")) == (200, {"braked": False, "ignored": rule})
    assert rig.arm.calls == [] and rig.state()["apps"][APP_ID]["state"] == "Running"

    status, body = rig.post(alert(rule))
    assert status == 200 and body["braked"] is True
    assert [c.split(" ")[0] for c in body["changed"]] == ["redirected", "stopped"]
    after = rig.state()
    held = after["resources"][SUBSCRIPTION_ID]["properties"]
    assert (
        held["deliveryWithResourceIdentity"]["destination"]["properties"]["queueName"]
        == rig.deployment["brake"]["held_queue"]
    )
    assert after["apps"][APP_ID]["state"] == "Stopped"
    # The record and the redirection first (one PUT), the app stopped last; every request with the app's token.
    writes = [call for call in rig.arm.arm_calls() if call[0] != "GET"]
    assert writes == [("PUT", SUBSCRIPTION_ID), ("POST", f"{APP_ID}/stop")]
    assert rig.arm.tokens_issued and set(rig.arm.tokens_issued) == {rig.arm.endpoint}
    assert all(call.status == 200 for call in rig.arm.calls)

    before = len(rig.arm.calls)  # a second alert (or the action group's retry): nothing changes
    again = rig.post(alert(rule))
    assert again == (200, {"braked": True, "changed": []})
    assert all(call.method == "GET" for call in rig.arm.calls[before:])
    assert rig.post(alert(rule, "Resolved"))[1]["braked"] is False  # resolved: still braked, never released
    assert rig.state()["apps"][APP_ID]["state"] == "Stopped"

    # What it did is `polythumb brake azure`'s brake: a person's status reads its record, release undoes it.
    person = EventGridBrake(queues=azurite_queues(azurite_queue))
    state = person.status(rig.deployment)
    record = json.loads(next(label for label in held["labels"] if label.startswith("polythumb-brake:"))[16:])
    assert state.braked and state.since == record["since"] and record["app"] == "Running"
    assert person.engage(rig.deployment).changed == ()
    released = person.release(rig.deployment)
    assert not released.braked
    final = rig.state()
    assert final["apps"][APP_ID]["state"] == "Running"
    assert final["resources"][SUBSCRIPTION_ID]["properties"]["destination"] == FUNCTION
    acted, repeated = [line for line in json_logs.lines() if line.get("alert") == rule and "brake" in line]
    assert acted["level"] == "WARNING" and acted["brake"]["braked"] is True and acted["brake"]["changed"]
    assert repeated["level"] == "INFO" and "already braked" in repeated["message"]
    assert fake_arm.TOKEN not in json_logs.text() and "alertContext" not in json_logs.text()


def test_a_webhook_destination_is_recorded_without_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite: Azurite, azurite_queue: AzuriteQueue,
    new_container: Callable[..., str], queues: tuple[str, str], json_logs: JsonLogs,
) -> None:  # fmt: skip
    webhook = {"endpointType": "WebHook", "properties": {"endpointBaseUrl": WEBHOOK_URL, "maxEventsPerBatch": 1}}
    for rig in _rig(tmp_path, monkeypatch, azurite, azurite_queue, new_container, queues, webhook,
                    full_url=f"{WEBHOOK_URL}&code={KEY}"):  # fmt: skip
        status, body = rig.post(alert(RUNAWAY_RULES[0]))
        assert status == 200 and body["braked"]
        assert ("POST", f"{SUBSCRIPTION_ID}/getFullUrl") in rig.arm.arm_calls()
        labels = rig.state()["resources"][SUBSCRIPTION_ID]["properties"]["labels"]
        assert KEY not in json.dumps(labels) and KEY not in json_logs.text()


@pytest.mark.parametrize("body", [
    b"not json", b"", b"[1, 2]", b'{"schemaId": "Microsoft.Insights/activityLogs", "data": {}}',
    json.dumps({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertRule": 7}}}).encode(),
    b"\xff\xfe", b"{" * 2_000_000,
], ids=["text", "empty", "array", "another-schema", "no-rule", "not-utf8", "huge"])  # fmt: skip
def test_a_payload_it_cannot_read_is_answered_400_logged_and_classified(
    rig: Rig, body: bytes, json_logs: JsonLogs
) -> None:
    assert rig.post(body) == (400, {"braked": False, "error": "malformed_event"})
    assert rig.arm.calls == []
    [line] = [line for line in json_logs.lines() if line.get("kind") == "malformed_event"]
    assert line["level"] == "WARNING" and len(json_logs.text()) < 2000  # the payload is never logged


def test_resource_manager_refusing_answers_500_and_throttling_503_which_the_action_group_retries(
    rig: Rig, json_logs: JsonLogs
) -> None:
    rig.arm.fail_next(403, "AuthorizationFailed")
    assert rig.post(alert(RUNAWAY_RULES[0])) == (500, {"braked": False, "error": "management_refused"})
    assert rig.state()["apps"][APP_ID]["state"] == "Running"
    [refused] = [line for line in json_logs.lines() if line.get("kind") == "management_refused"]
    assert refused["level"] == "ERROR" and "AuthorizationFailed" in refused["message"]
    rig.arm.fail_next(429, "TooManyRequests")
    assert rig.post(alert(RUNAWAY_RULES[0])) == (503, {"braked": False, "error": "management_unavailable"})
    status, body = rig.post(alert(RUNAWAY_RULES[0]))  # the retry
    assert status == 200 and body["braked"] is True
    assert fake_arm.TOKEN not in json_logs.text()


def test_the_app_stopping_itself_losing_the_answer_is_harmless_the_retry_changes_nothing(rig: Rig) -> None:
    """The stop is the brake's last step: carried out, its answer lost, the action group retries (503), and the
    retry finds the brake complete: the first record kept, nothing changed."""
    rig.arm.lose_answer_of("POST", "/stop")
    assert rig.post(alert(RUNAWAY_RULES[1])) == (503, {"braked": False, "error": "management_unavailable"})
    stopped = rig.state()
    assert stopped["apps"][APP_ID]["state"] == "Stopped"
    before = len(rig.arm.calls)
    assert rig.post(alert(RUNAWAY_RULES[1])) == (200, {"braked": True, "changed": []})
    assert all(call.method == "GET" for call in rig.arm.calls[before:])
    assert rig.state()["resources"] == stopped["resources"]  # the same record, written once


def test_the_function_exists_only_with_brake_alerts_and_its_settings_are_refused_at_start(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    binding = rig.functions["brake_on_runaway"].get_bindings_dict()["bindings"][0]
    assert binding["route"] == "polythumb/brake" and [str(getattr(m, "value", m)) for m in binding["methods"]] == [
        "POST"
    ]
    assert binding["authLevel"] in ("FUNCTION", 1) or str(binding["authLevel"]).endswith("FUNCTION")
    for endpoint in ("http://management.example.com", "ftp://127.0.0.1/"):  # a token is never sent in the clear
        monkeypatch.setenv("BRAKE_MANAGEMENT_ENDPOINT", endpoint)
        with pytest.raises(ConfigError, match="BRAKE_MANAGEMENT_ENDPOINT"):
            rig.cold_start(monkeypatch)
    monkeypatch.setenv("BRAKE_MANAGEMENT_ENDPOINT", rig.arm.endpoint)
    lacking = {name: value for name, value in rig.deployment["brake"].items() if name != "held_queue"}
    for deployment in ("{not json", json.dumps(lacking)):
        monkeypatch.setenv("BRAKE_DEPLOYMENT", deployment)
        with pytest.raises(ConfigError, match="BRAKE_DEPLOYMENT"):
            rig.cold_start(monkeypatch)
    monkeypatch.setenv("BRAKE_ALERTS", " , ")
    with pytest.raises(ConfigError, match="BRAKE_ALERTS"):
        rig.cold_start(monkeypatch)
    monkeypatch.delenv("BRAKE_ALERTS")
    rig.cold_start(monkeypatch)
    assert "brake_on_runaway" not in rig.functions and "on_event_grid" in rig.functions


def test_a_deployment_setting_lacking_what_the_brake_acts_on_is_refused_naming_it(rig: Rig) -> None:
    from providers.azure.brake_function import build_handler

    environ = {"BRAKE_ALERTS": RUNAWAY_RULES[0], "BRAKE_DEPLOYMENT": json.dumps({"function_app_id": APP_ID})}
    with pytest.raises(ConfigError, match="BRAKE_DEPLOYMENT"):
        build_handler(environ, plane=lambda environ: pytest.fail("no plane is made for a refused setting"))


def test_the_event_functions_cold_start_loads_no_brake_code() -> None:
    environ = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "THUMBS_DEST_BUCKET": "thumbnails",
               "BRAKE_ALERTS": ",".join(RUNAWAY_RULES),
               "BRAKE_DEPLOYMENT": json.dumps(outputs("h", "b", "q")["brake"])}  # fmt: skip
    loaded = event_cold_start(MODULE, environ)  # refuses AUTOMATIC_BRAKES among what it loads
    assert len(BRAKE_MODULES) == 4 and "providers.azure.settings" in loaded and "azure.identity" not in loaded


# -- the Terraform ------------------------------------------------------------------------------------------


def module() -> dict[str, Any]:
    return load_module(DEPLOY)


def resources_of(kind: str, found: dict[str, Any], block_type: str = "resource") -> dict[str, Any]:
    return {name: body for entry in found.get(block_type, []) for name, body in entry.get(kind, {}).items()}


#: Every block the automatic brake adds, and how it is counted.
ADDED = [("resource", "azurerm_role_definition", "brake"), ("resource", "azurerm_monitor_action_group", "brake"),
         ("data", "azurerm_function_app_host_keys", "brake")]  # fmt: skip


def test_brake_on_runaway_is_off_by_default_and_then_adds_and_changes_nothing() -> None:
    found = module()
    [variable] = [entry["brake_on_runaway"] for entry in found["variable"] if "brake_on_runaway" in entry]
    assert variable["default"] is False and variable["type"] in ("bool", "${bool}")
    locals_ = {name: value for entry in found["locals"] for name, value in entry.items()}
    for block_type, kind, name in ADDED:
        count = expression_of(block(found, block_type, kind, name)["count"])
        assert evaluate(count, variables={"brake_on_runaway": "false"}) == 0, (kind, name)
        assert evaluate(count, variables={"brake_on_runaway": "true"}) == 1, (kind, name)
    assignment = block(found, "resource", "azurerm_role_assignment", "brake_function")
    assert assignment["for_each"] == "${local.brake_function_scopes}"
    stand_ins = {"azurerm_eventgrid_system_topic_event_subscription.thumbnails": "local.subscriptions",
                 "azurerm_function_app_flex_consumption.this": "local.app"}  # fmt: skip
    scopes = expression_of(locals_["brake_function_scopes"], **stand_ins)
    stand_in_locals = {"subscriptions": f'[{{ id = "{SUBSCRIPTION_ID}" }}]', "app": f'{{ id = "{APP_ID}" }}'}
    off = {"brake_on_runaway": "false", "subscribe_events": "true"}
    on = {"brake_on_runaway": "true", "subscribe_events": "true"}
    assert evaluate(scopes, locals_=stand_in_locals, variables=off) == {}
    assert evaluate(scopes, locals_=stand_in_locals, variables=on) == {"subscription": SUBSCRIPTION_ID, "app": APP_ID}
    # Off, the app's settings and the runaway rules' action groups are what they were.
    settings = expression_of(locals_["brake_app_settings"])
    assert evaluate(settings.split(" ? ", 1)[0], variables=off) is False
    groups = expression_of(locals_["runaway_action_groups"], **{
        "azurerm_monitor_action_group.alerts": "local.alerts",
        "azurerm_monitor_action_group.brake": "local.brake"})  # fmt: skip
    assert evaluate(groups, locals_={"alerts": '{ id = "alerts" }', "brake": "[]"}) == ["alerts"]
    assert evaluate(groups, locals_={"alerts": '{ id = "alerts" }', "brake": '[{ id = "brake" }]'}) == [
        "alerts",
        "brake",
    ]
    function_tf = (DEPLOY / "function.tf").read_text(encoding="utf-8")
    assert "local.serve_app_settings, local.brake_app_settings, var.thumbs_settings" in function_tf


def test_the_rules_the_brake_watches_are_the_runaway_rules_named_once_in_observability_tf() -> None:
    from core.alerts import RUNAWAY

    generated = (DEPLOY / "observability.tf").read_text(encoding="utf-8")
    assert generated == observability.generate()["observability.tf"]
    found = module()
    locals_ = {name: value for entry in found["locals"] for name, value in entry.items()}
    names = locals_["runaway_alert_names"]
    assert set(names) == {detector.name for detector in RUNAWAY}
    rules = resources_of("azurerm_monitor_scheduled_query_rules_alert_v2", found)
    for detector in RUNAWAY:
        assert rules[detector.name]["name"] == f'${{local.runaway_alert_names["{detector.name}"]}}'
        assert rules[detector.name]["action"][0]["action_groups"] == "${local.runaway_action_groups}"
    others = [name for name in rules if name not in names]
    assert others and all(rules[name]["action"][0]["action_groups"] == ["${azurerm_monitor_action_group.alerts.id}"]
                          for name in others)  # fmt: skip
    # The setting the function reads is built from that local, and holds exactly the names Azure gives the rules.
    settings = expression_of(locals_["brake_app_settings"])
    alerts_setting = re.search(r"BRAKE_ALERTS\s*=\s*(join\([^\n]*?\)\))", settings)
    assert alerts_setting and "local.runaway_alert_names" in alerts_setting.group(1)
    rendered = {name: json.dumps(value.strip('"').replace("${local.function_name}", FUNCTION_NAME))
                for name, value in names.items()}  # fmt: skip
    value = evaluate(alerts_setting.group(1), locals_={"runaway_alert_names": "{" + ", ".join(
        f"{name} = {source}" for name, source in rendered.items()) + "}"})  # fmt: skip
    assert sorted(value.split(",")) == sorted(RUNAWAY_RULES)
    brake_tf = (DEPLOY / "brake.tf").read_text(encoding="utf-8")
    assert '-renders-per-revision"' not in brake_tf and '-invocations-per-upload"' not in brake_tf


def test_the_action_group_calls_the_function_the_app_registers_with_the_common_schema(rig: Rig) -> None:
    group = block(module(), "resource", "azurerm_monitor_action_group", "brake")
    [receiver] = group["azure_function_receiver"]
    assert receiver["use_common_alert_schema"] is True
    assert receiver["function_name"] in rig.functions
    route = rig.functions[receiver["function_name"]].get_bindings_dict()["bindings"][0]["route"]
    assert (
        f"/api/{route}?code=${{data.azurerm_function_app_host_keys.brake[0].default_function_key}}"
        in (receiver["http_trigger_url"])
    )
    assert "alerts" not in json.dumps(group)  # a group of its own: only the runaway rules notify it


def test_the_deployment_setting_names_what_the_output_brake_names_with_the_same_ids() -> None:
    found = module()
    locals_ = {name: value for entry in found["locals"] for name, value in entry.items()}
    [output] = [entry["brake"] for entry in found["output"] if "brake" in entry]
    source = expression_of(locals_["brake_app_settings"])
    deployment = source.split("BRAKE_DEPLOYMENT = jsonencode(", 1)[1].rsplit(")", 1)[0].rsplit("}", 1)[0] + "}"
    stand_ins = {
        "azurerm_resource_group.this.id": '"/subscriptions/s/resourceGroups/rg"',
        "azurerm_eventgrid_system_topic.images.id": f'"{TOPIC_ID}"',
        "azurerm_storage_account.images.id": '"account"',
        "azurerm_storage_account.images.primary_queue_endpoint": '"https://ptimg.queue.core.windows.net/"',
        "azurerm_storage_queue.held.name": '"polythumb-held"',
        "azurerm_storage_queue.backfill.name": '"polythumb-backfill"',
    }  # fmt: skip
    for reference, value in stand_ins.items():
        deployment = deployment.replace(reference, value)
    template = next(e["event_subscription_name"] for e in found["locals"] if "event_subscription_name" in e)
    subscription_name = template if template.startswith('"') else f'"{template}"'  # a string template, as written
    names = {"function_name": f'"{FUNCTION_NAME}"', "event_subscription_name": subscription_name}
    value = evaluate(deployment, locals_=names,
                     variables={"trigger": '"event_grid"'})  # fmt: skip
    assert set(value) == set(output["value"])
    assert value["function_app_id"] == APP_ID and value["event_subscription_id"] == SUBSCRIPTION_ID


def test_the_brake_role_holds_exactly_the_calls_the_automatic_brake_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite: Azurite, azurite_queue: AzuriteQueue,
    new_container: Callable[..., str], queues: tuple[str, str],
) -> None:  # fmt: skip
    """Both destinations (the Event Grid route's function, the blob route's webhook), braked and braked again."""
    webhook = {"endpointType": "WebHook", "properties": {"endpointBaseUrl": WEBHOOK_URL, "maxEventsPerBatch": 1}}
    calls: set[tuple[str, str]] = set()
    for index, (destination, full_url) in enumerate([(FUNCTION, None), (webhook, f"{WEBHOOK_URL}&code={KEY}")]):
        for rig in _rig(tmp_path / str(index), monkeypatch, azurite, azurite_queue, new_container, queues,
                        destination, full_url):  # fmt: skip
            rig.post(alert(RUNAWAY_RULES[0]))
            rig.post(alert(RUNAWAY_RULES[1]))
            calls |= set(rig.arm.arm_calls())

    def action(method: str, path: str) -> str:
        kind = (
            "Microsoft.EventGrid/systemTopics/eventSubscriptions"
            if "/eventSubscriptions/" in path
            else "Microsoft.Web/sites"
        )
        tail = path.rsplit("/", 1)[1]
        if method == "GET":
            return f"{kind}/read"
        if method == "PUT":
            return f"{kind}/write"
        return f"{kind}/{tail}/action"

    role = block(module(), "resource", "azurerm_role_definition", "brake")
    [permissions] = role["permissions"]
    assert set(permissions["actions"]) == {action(method, path) for method, path in calls}
    assert not permissions.get("data_actions") and not permissions.get("not_actions")
    assert role["assignable_scopes"] == ["${azurerm_resource_group.this.id}"]


def test_resource_manager_s_redirect_is_not_followed_and_the_token_stays_home() -> None:
    """A redirect would carry the bearer token to whatever host it names (urllib forwards it): refused, unfollowed;
    and a drip-fed answer ends at the request's deadline, classified transient."""
    import http.server
    import threading
    import time

    from providers.azure.brake_arm import ArmRest, ManagementRefused, ManagementUnavailable

    seen: list[str | None] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Redirecting(Elsewhere):
        def do_GET(self) -> None:
            if self.path.startswith("/drip"):
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_port}/stolen")
            self.end_headers()

    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    redirecting = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (elsewhere, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plane = ArmRest(token=lambda: "secret-token", endpoint=f"http://127.0.0.1:{redirecting.server_port}",
                        timeout=1.0)  # fmt: skip
        with pytest.raises(ManagementRefused, match="302 \\(a redirect, not followed\\)"):
            plane.get("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app")
        assert seen == []
        started = time.monotonic()
        with pytest.raises(ManagementUnavailable, match="no answer"):
            plane.get("/drip/sites/app")
        assert time.monotonic() - started < 3
    finally:
        for server in (elsewhere, redirecting):
            server.shutdown()
            server.server_close()
