"""The automatic brake on Google Cloud (``brake_on_runaway``): its entrypoint, served by functions-framework from the
archive's ``brake_main.py``, handed real-shaped Cloud Monitoring incident notifications in Pub/Sub CloudEvents,
acting through the REST transport on a recording stand-in of Eventarc and Pub/Sub (tests/providers/gcp/
fake_control_plane.py) and writing its records to fake-gcs-server; and the Terraform that wires it (deploy/brake.tf),
checked against the names observability.tf generates.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from core.errors import ConfigError, TransientError
from providers.gcp import packaging
from providers.gcp.brake_rest import RestTransport
from providers.gcp.brake_steps import LABEL, SubscriptionBrake
from tests.terraform import ROOT, blocks, evaluate, load_module

from . import fake_control_plane
from .deliveries import post_binary
from .test_brake import KINDS, eventarc_state, push_config, subscription, trigger

ALERTS = Path(__file__).parent / "alerts"
DEPLOY = ROOT / "providers" / "gcp" / "deploy"
#: The runaway policies' display names with the default name_prefix, as observability.tf names them (checked below).
RUNAWAY_POLICIES = ("polythumb: runaway: renders per revision", "polythumb: runaway: invocations per upload")
#: The incidents' topic and the Eventarc subscription of the brake's trigger (only in the CloudEvent's envelope).
TOPIC = "projects/acme-images/topics/polythumb-brake-alerts"


def notification(policy: str, state: str = "open") -> dict[str, Any]:
    """The vendor-shaped incident (schema 1.2, tests/providers/gcp/events/SOURCES.md) for ``policy`` in ``state``."""
    document = json.loads((ALERTS / "monitoring_incident_sql_open_1_2.json").read_text(encoding="utf-8"))
    document["incident"].update(policy_name=policy, state=state, ended_at=None if state == "open" else 1765158000)
    return dict(document)


def message_published(payload: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """The CloudEvent Eventarc delivers for a message published on the topic: attributes, and data."""
    message_id = str(uuid.uuid4().int)[:16]
    attributes = {
        "specversion": "1.0", "id": message_id, "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/{TOPIC}", "time": "2025-12-08T01:30:00.000Z",
    }  # fmt: skip
    data = {
        "message": {"data": base64.b64encode(payload).decode(), "messageId": message_id,
                    "publishTime": "2025-12-08T01:30:00.000Z", "attributes": {}},
        "subscription": "projects/acme-images/subscriptions/eventarc-us-central1-polythumb-brake-551-sub-063",
    }  # fmt: skip
    return attributes, data


def alert(policy: str, state: str = "open") -> dict[str, Any]:
    return message_published(json.dumps(notification(policy, state)).encode())[1]


@pytest.fixture
def plane() -> Iterator[fake_control_plane.ControlPlane]:
    state = eventarc_state()
    with fake_control_plane.serve(state["triggers"], state["subscriptions"]) as served:
        yield served


def settings(record_bucket: str, endpoint: str) -> dict[str, str]:
    """The function's settings as deploy/brake.tf sets them (and the stand-in's endpoint)."""
    return {
        "BRAKE_POLICIES": json.dumps(list(RUNAWAY_POLICIES)),
        "BRAKE_TRIGGERS": json.dumps({kind: trigger(kind) for kind in KINDS}),
        "BRAKE_RECORD_BUCKET": record_bucket,
        "BRAKE_API_ENDPOINT": endpoint,
    }


def records(gcs_client: Any, bucket: str) -> dict[str, dict[str, Any]]:
    found = gcs_client.list_blobs(bucket, prefix="polythumb-brake/")
    return {blob.name: json.loads(blob.download_as_text()) for blob in found}


def rest_brake(plane: fake_control_plane.ControlPlane, gcs_client: Any) -> SubscriptionBrake:
    return SubscriptionBrake(RestTransport(session=requests.Session(), storage_client=gcs_client, endpoint=plane.url))


def outputs(bucket: str) -> dict[str, Any]:
    return {"brake": {"triggers": {kind: trigger(kind) for kind in KINDS}, "record_bucket": bucket}}


# -- the entrypoint, as Cloud Functions runs it ----------------------------------------------------------------


def test_a_runaway_incident_brakes_through_the_apis_once_and_nothing_else_acts(
    plane: fake_control_plane.ControlPlane,
    gcp_function_server: Callable[..., Any],
    gcs_client: Any,
    gcs_new_bucket: Callable[[str], str],
    tmp_path: Path,
) -> None:
    bucket = gcs_new_bucket("code")
    source = tmp_path / packaging.BRAKE_SOURCE
    source.write_text(packaging.BRAKE_MAIN, encoding="utf-8")  # the archive's file, as GOOGLE_FUNCTION_SOURCE names it
    function = gcp_function_server(
        packaging.BRAKE_ENTRY_POINT, "cloudevent", settings(bucket, plane.url), source=source
    )
    before = copy.deepcopy(plane.subscriptions)

    def deliver(payload: bytes) -> int:
        attributes, data = message_published(payload)
        return post_binary(function.url, attributes, data).status_code

    # Another policy opening, a runaway policy closing, a test notification, a malformed message: acknowledged.
    assert deliver(json.dumps(notification("polythumb: images failing")).encode()) == 200
    assert deliver(json.dumps(notification(RUNAWAY_POLICIES[0], "closed")).encode()) == 200
    assert deliver(json.dumps(notification(RUNAWAY_POLICIES[0][:-1])).encode()) == 200  # names match whole
    assert deliver(b"{not json") == 200  # a retry can never fix it: 200, or Eventarc redelivers it for a day
    assert deliver(json.dumps({"version": "1.2", "incident": {"state": "open"}}).encode()) == 200
    assert plane.changes() == [] and plane.subscriptions == before and records(gcs_client, bucket) == {}
    lines = function.records()
    ignored = [line for line in lines if "ignored" in line.get("message", "")]
    assert len(ignored) == 5, function.output()
    malformed = [line for line in ignored if line.get("error_kind") == "malformed_alert"]
    assert len(malformed) == 2 and all("{not json" not in line["message"] for line in malformed)

    # A runaway policy opening an incident: recorded, labelled, kept 7 days, paused -- as `polythumb brake gcp`.
    assert deliver(json.dumps(notification(RUNAWAY_POLICIES[0])).encode()) == 200
    after = plane.subscriptions
    saved = records(gcs_client, bucket)
    for kind in KINDS:
        paused = after[subscription(kind)]
        assert paused["pushConfig"] == {} and paused["messageRetentionDuration"] == "604800s"
        assert set(paused["labels"]) == {"goog-eventarc", LABEL}
        assert paused["deadLetterPolicy"] == before[subscription(kind)]["deadLetterPolicy"]
        record = saved[f"polythumb-brake/{subscription(kind).rsplit('/', 1)[1]}.json"]
        assert record["pushConfig"] == push_config(kind) and record["subscription"] == subscription(kind)
    verbs = [(method, path.rsplit(":", 1)[-1] if ":" in path else "patch") for method, path, _ in plane.changes()]
    assert verbs == [("PATCH", "patch"), ("POST", "modifyPushConfig")] * 3  # labelled and kept, then paused
    status = rest_brake(plane, gcs_client).status(outputs(bucket))
    assert status.braked and status.since
    [braked] = [line for line in function.records() if "rendering stopped" in line.get("message", "")]
    assert braked["alert"] == RUNAWAY_POLICIES[0] and braked["brake"]["braked"] is True
    assert "summary" not in json.dumps(braked) and "SQL query result" not in function.output()  # no payload logged

    # The other policy opening too, or the first closing: nothing changes (never a release).
    changed = len(plane.changes())
    assert deliver(json.dumps(notification(RUNAWAY_POLICIES[1])).encode()) == 200
    assert deliver(json.dumps(notification(RUNAWAY_POLICIES[0], "closed")).encode()) == 200
    assert len(plane.changes()) == changed and records(gcs_client, bucket) == saved
    assert rest_brake(plane, gcs_client).status(outputs(bucket)).since == status.since

    # A person releases (here over REST too): exactly the recorded push configurations come back.
    released = rest_brake(plane, gcs_client).release(outputs(bucket))
    assert not released.braked and records(gcs_client, bucket) == {}
    for kind in KINDS:
        assert plane.subscriptions[subscription(kind)]["pushConfig"] == push_config(kind)
        assert LABEL not in plane.subscriptions[subscription(kind)]["labels"]


def test_a_missing_setting_fails_the_brake_function_s_cold_start_naming_it(
    gcp_function_server: Callable[..., Any], tmp_path: Path
) -> None:
    source = tmp_path / packaging.BRAKE_SOURCE
    source.write_text(packaging.BRAKE_MAIN, encoding="utf-8")
    broken = settings("code", "http://127.0.0.1:9")
    del broken["BRAKE_POLICIES"]
    with pytest.raises(RuntimeError, match="BRAKE_POLICIES") as caught:
        gcp_function_server(packaging.BRAKE_ENTRY_POINT, "cloudevent", broken, source=source)
    assert "exited" in str(caught.value)


# -- the handler: retries, refusals, interruptions ---------------------------------------------------------------


def handler(plane: fake_control_plane.ControlPlane, gcs_client: Any, bucket: str) -> Callable[[Any], dict[str, Any]]:
    from providers.gcp.brake_function import build_handler

    return build_handler(
        settings(bucket, plane.url),
        transport=lambda: RestTransport(session=requests.Session(), storage_client=gcs_client, endpoint=plane.url),
    )


def test_a_throttled_api_is_retried_by_the_platform_and_the_redelivery_completes_the_brake(
    plane: fake_control_plane.ControlPlane, gcs_client: Any, gcs_new_bucket: Callable[[str], str]
) -> None:
    """The first pause answers 503 after the first subscription was recorded and labelled: the handler raises a
    TransientError (functions-framework answers 500, Eventarc redelivers); the redelivery completes the brake
    under the first label's time, as `polythumb brake gcp` run again does."""
    bucket = gcs_new_bucket("code")
    handle = handler(plane, gcs_client, bucket)
    plane.fail_next(503, on=":modifyPushConfig")
    with pytest.raises(TransientError, match="503"):
        handle(alert(RUNAWAY_POLICIES[1]))
    labelled = [s for s in plane.subscriptions.values() if LABEL in s["labels"]]
    assert len(labelled) == 1 and labelled[0]["pushConfig"]  # recorded and labelled, not paused yet
    assert handle(alert(RUNAWAY_POLICIES[1])) == {"braked": True}
    assert all(s["pushConfig"] == {} for s in plane.subscriptions.values())
    assert len({s["labels"][LABEL] for s in plane.subscriptions.values()}) == 1  # one brake, one time
    assert len(records(gcs_client, bucket)) == 3


def test_a_refusal_no_retry_can_fix_is_logged_classified_and_acknowledged(
    plane: fake_control_plane.ControlPlane, gcs_client: Any, gcs_new_bucket: Callable[[str], str], json_logs: Any
) -> None:
    bucket = gcs_new_bucket("code")
    handle = handler(plane, gcs_client, bucket)
    plane.fail_next(403)  # the function's account lacks eventarc.triggers.get (the custom role not granted)
    assert handle(alert(RUNAWAY_POLICIES[0])) == {"braked": False, "failed": "config"}
    assert plane.changes() == []
    plane.subscriptions[subscription("deleted")]["pushConfig"] = {}  # a pull subscription polythumb did not pause
    assert handle(alert(RUNAWAY_POLICIES[0])) == {"braked": False, "failed": "config"}
    assert plane.changes() == [] and records(gcs_client, bucket) == {}
    failures = [line for line in json_logs.lines() if "the brake failed" in line["message"]]
    assert [line["error_kind"] for line in failures] == ["config", "config"]
    assert "answered 403" in failures[0]["message"] and failures[0]["alert"] == RUNAWAY_POLICIES[0]
    assert "no push configuration to record" in failures[1]["message"]


def test_the_handler_refuses_to_start_without_its_settings(plane: fake_control_plane.ControlPlane) -> None:
    from providers.gcp.brake_function import build_handler

    good = settings("code", plane.url)
    for name, value in (("BRAKE_POLICIES", "[]"), ("BRAKE_POLICIES", "runaway"), ("BRAKE_TRIGGERS", "{}"),
                        ("BRAKE_RECORD_BUCKET", " ")):  # fmt: skip
        with pytest.raises(ConfigError, match=name):
            build_handler({**good, name: value})


# -- deploy/brake.tf: off by default, the generated names, least privilege ------------------------------------


def brake_tf() -> dict[str, Any]:
    from tests.terraform import clean, parse

    return dict(clean(parse(DEPLOY / "brake.tf")))


def test_every_automatic_brake_resource_exists_only_with_brake_on_runaway() -> None:
    parsed = brake_tf()
    [variable] = [block["brake_on_runaway"] for block in parsed["variable"] if "brake_on_runaway" in block]
    assert variable["default"] is False and variable["type"] == "bool"
    made = [(kind, name, body) for block in parsed["resource"] for kind, named in block.items()
            for name, body in named.items()]  # fmt: skip
    assert {kind for kind, _, _ in made} >= {
        "google_pubsub_topic", "google_monitoring_notification_channel", "google_pubsub_topic_iam_member",
        "google_service_account", "google_project_iam_custom_role", "google_project_iam_member",
        "google_storage_bucket_iam_member", "google_cloudfunctions2_function", "google_cloud_run_v2_service_iam_member",
    }  # fmt: skip
    for kind, name, body in made:
        assert body.get("count") == "${var.brake_on_runaway ? 1 : 0}", f"{kind}.{name}"
    assert "data" not in parsed
    # Elsewhere, the brake's resources are only reached through lists that are empty when it is off.
    for path in sorted(DEPLOY.glob("*.tf")):
        if path.name == "brake.tf":
            continue
        text = path.read_text(encoding="utf-8")
        for kind, name, _ in made:
            for use in re.findall(rf"{kind}\.{name}\b(\S*)", text):
                assert use.startswith("[*]"), f"{path.name}: {kind}.{name}{use}"
        assert "google_monitoring_notification_channel.brake" not in text
    generated = (DEPLOY / "observability.tf").read_text(encoding="utf-8")
    assert generated.count("concat(local.notification_channels, local.brake_channels)") == 2  # the runaway two
    assert evaluate("concat(local.notification_channels, local.brake_channels)",
                    locals_={"notification_channels": '["email"]', "brake_channels": "[]"}) == ["email"]  # fmt: skip


def test_the_function_is_handed_the_runaway_policies_observability_tf_generates() -> None:
    """The names come from one place, the generator's ``local.runaway_policy_names`` (each the display name of
    one runaway policy); brake.tf spells none itself, and the names the entrypoint tests send are theirs."""
    from core.alerts import RUNAWAY
    from providers.gcp import observability

    generated = (DEPLOY / "observability.tf").read_text(encoding="utf-8")
    assert generated == observability.generate()["observability.tf"]
    names = [f"google_monitoring_alert_policy.{detector.name}.display_name" for detector in RUNAWAY]
    declared = re.search(r"runaway_policy_names\s*=\s*\[(.*)\]", generated)
    assert declared and [name.strip() for name in declared.group(1).split(",")] == names
    module = load_module(DEPLOY)
    policies = dict(blocks(module, "resource", "google_monitoring_alert_policy"))
    shown = [evaluate(f'"{policies[d.name]["display_name"]}"', variables={"name_prefix": '"polythumb"'})
             for d in RUNAWAY]  # a template: evaluated as the string it is  # fmt: skip
    assert tuple(shown) == RUNAWAY_POLICIES
    function = dict(blocks(module, "resource", "google_cloudfunctions2_function"))["brake"]
    environment = function["service_config"][0]["environment_variables"]
    assert environment["BRAKE_POLICIES"] == "${jsonencode(local.runaway_policy_names)}"
    assert environment["BRAKE_TRIGGERS"] == "${jsonencode(local.brake_triggers)}"
    assert environment["BRAKE_RECORD_BUCKET"] == "${google_storage_bucket.code.name}"
    brake = (DEPLOY / "brake.tf").read_text(encoding="utf-8")
    assert "runaway:" not in brake.split('variable "brake_on_runaway"')[1].split("}", 1)[1]  # no name spelled
    assert "brake_triggers = { for kind, function in google_cloudfunctions2_function.thumbnails" in brake
    assert "triggers      = local.brake_triggers" in brake  # the command's output and the function: one list


def test_the_function_runs_the_archive_s_brake_source_with_its_own_least_privileged_account(tmp_path: Path) -> None:
    module = load_module(DEPLOY)
    function = dict(blocks(module, "resource", "google_cloudfunctions2_function"))["brake"]
    build = function["build_config"][0]
    assert build["entry_point"] == packaging.BRAKE_ENTRY_POINT
    assert build["environment_variables"]["GOOGLE_FUNCTION_SOURCE"] == packaging.BRAKE_SOURCE
    archive = packaging.build_archive(tmp_path / "polythumb-gcp.zip", engine="pillow")
    import zipfile

    with zipfile.ZipFile(archive) as opened:
        assert opened.read(packaging.BRAKE_SOURCE).decode() == packaging.BRAKE_MAIN
        assert "brake" not in opened.read("main.py").decode()  # the thumbnail functions never load it
        assert {"providers/gcp/brake_function.py", "providers/gcp/brake_rest.py"} <= set(opened.namelist())
    trigger_block = function["event_trigger"][0]
    assert trigger_block["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger_block["pubsub_topic"] == "${google_pubsub_topic.brake[0].id}"
    assert trigger_block["retry_policy"] == "RETRY_POLICY_RETRY"
    assert function["service_config"][0]["service_account_email"] == "${google_service_account.brake[0].email}"
    channel = dict(blocks(module, "resource", "google_monitoring_notification_channel"))["brake"]
    assert channel["type"] == "pubsub" and channel["labels"]["topic"] == "${google_pubsub_topic.brake[0].id}"
    roles = dict(blocks(module, "resource", "google_project_iam_custom_role"))
    # What RestTransport calls: triggers.get; subscriptions.get; subscriptions.patch and modifyPushConfig (update).
    assert roles["brake"]["permissions"] == ["eventarc.triggers.get", "pubsub.subscriptions.get",
                                             "pubsub.subscriptions.update"]  # fmt: skip
    assert roles["brake_records"]["permissions"] == ["storage.objects.create", "storage.objects.delete"]
    grants = dict(blocks(module, "resource", "google_storage_bucket_iam_member"))["brake_writes_records"]
    assert grants["bucket"] == "${google_storage_bucket.code.name}"
    assert "/objects/polythumb-brake/" in grants["condition"][0]["expression"]
    project = dict(blocks(module, "resource", "google_project_iam_member"))["brake_pauses_subscriptions"]
    assert project["role"] == "${google_project_iam_custom_role.brake[0].id}"
    assert project["member"] == "serviceAccount:${google_service_account.brake[0].email}"
    assert "condition" not in project  # Eventarc names the subscriptions: see the comment in brake.tf
