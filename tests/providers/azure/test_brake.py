"""``polythumb brake azure`` / ``release azure``: the management commands against a stand-in ``az``
(tests/providers/azure/fake_az.py, holding the Event Grid subscription and the app), the held events on
Azurite's Queue service, and release delivering them to the app's real ``on_backfill_queue`` function.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.ops import brake as brake_cli
from core.ops.cli import main
from providers.azure.brake import LABEL, EventGridBrake, event_text, record_of, with_code, without_code
from tests.images import jpeg_bytes
from tests.providers.azure.emulator import AzuriteQueue
from tests.providers.azure.rig import BackfillApp, start_backfill_app
from tests.terraform import ROOT, load_module

from . import fake_az
from .delivery import blob_event

pytestmark = pytest.mark.azure

APP_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/pt-thumbs"
TOPIC_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventGrid/systemTopics/pt-thumbs-blob-events"
SUBSCRIPTION_ID = f"{TOPIC_ID}/eventSubscriptions/polythumb-event-grid"
ACCOUNT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/ptimg"
KEY = "blobs-extension-key=="


def subscription(destination: dict[str, Any]) -> dict[str, Any]:
    """The Event Grid subscription as deploy/eventgrid.tf makes it, as a GET returns it."""
    return {
        "id": SUBSCRIPTION_ID,
        "name": "polythumb-event-grid",
        "properties": {
            "topic": TOPIC_ID,
            "provisioningState": "Succeeded",
            "destination": destination,
            "filter": {
                "includedEventTypes": ["Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"],
                "subjectBeginsWith": "/blobServices/default/containers/images/blobs/",
                "isSubjectCaseSensitive": True,
            },
            "labels": ["team:media"],
            "eventDeliverySchema": "EventGridSchema",
            "retryPolicy": {"maxDeliveryAttempts": 10, "eventTimeToLiveInMinutes": 1440},
            "deadLetterWithResourceIdentity": {
                "identity": {"type": "SystemAssigned"},
                "deadLetterDestination": {
                    "endpointType": "StorageBlob",
                    "properties": {"resourceId": ACCOUNT_ID, "blobContainerName": "eventgrid-deadletter"},
                },
            },
        },
    }


FUNCTION = {
    "endpointType": "AzureFunction",
    "properties": {
        "resourceId": f"{APP_ID}/functions/on_event_grid",
        "maxEventsPerBatch": 1,
        "preferredBatchSizeInKilobytes": 64,
    },
}
WEBHOOK_URL = "https://pt-thumbs.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.on_blob"


@pytest.fixture
def queues(azurite_queue: AzuriteQueue) -> Iterator[tuple[str, str]]:
    """A fresh held queue and backfill queue on Azurite."""
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite_queue.connection_string)
    names = (f"pt-held-{uuid.uuid4().hex[:10]}", f"pt-backfill-{uuid.uuid4().hex[:10]}")
    for name in names:
        service.create_queue(name)
    yield names
    for name in names:
        service.delete_queue(name)


def outputs(held: str, backfill: str, endpoint: str) -> dict[str, Any]:
    return {
        "brake": {
            "function_app_id": APP_ID, "event_subscription_id": SUBSCRIPTION_ID, "images_account_id": ACCOUNT_ID,
            "queue_endpoint": endpoint, "held_queue": held, "backfill_queue": backfill,
        }
    }  # fmt: skip


def install_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, destination: dict[str, Any], *,
               state: str = "Running", full_url: str | None = None) -> dict[str, str]:  # fmt: skip
    arm = {
        "resources": {SUBSCRIPTION_ID: subscription(destination)},
        "apps": {APP_ID: {"state": state, "blobs_extension": KEY}},
        "webhook_app": APP_ID,
        "full_urls": {SUBSCRIPTION_ID: full_url} if full_url else {},
    }
    environment, _ = fake_az.install(tmp_path / "bin", names=[], arm=arm)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


def azurite_queues(azurite_queue: AzuriteQueue) -> Callable[..., Any]:
    """The brake's queue factory on Azurite (the same clients the backfill makes: base64 on send)."""
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

    def make(connection: str, name: str, environ: dict[str, str]) -> Any:
        return QueueClient.from_connection_string(
            azurite_queue.connection_string, name, message_encode_policy=TextBase64EncodePolicy()
        )

    return make


def held_message(app: BackfillApp, key: str, *, kind: str = "created") -> str:
    """What Event Grid writes to the held queue for a blob of the app's source container: the event's JSON."""
    properties = app.service.get_blob_client(app.source, key).get_blob_properties() if kind == "created" else None
    event = blob_event(app.source, key, schema="eventgrid", kind=kind, properties=properties,
                       url=f"https://ptimg.blob.core.windows.net/{app.source}/{key}")  # fmt: skip
    return json.dumps(event)


def test_braked_events_are_held_and_release_delivers_them_to_the_function(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue,
    queues: tuple[str, str],
) -> None:  # fmt: skip
    from azure.storage.queue import QueueClient

    held_name, _ = queues
    app = start_backfill_app(request, sizes="48x48")  # its backfill queue is on Azurite too
    environment = install_az(tmp_path, monkeypatch, FUNCTION)
    before = copy.deepcopy(fake_az.resources(environment)["resources"][SUBSCRIPTION_ID])
    deployment = outputs(held_name, app.queue.queue_name, azurite_queue.queue_endpoint)
    brake = EventGridBrake(queues=azurite_queues(azurite_queue))

    state = brake.engage(deployment)
    assert state.braked and state.since
    braked = fake_az.resources(environment)
    assert braked["apps"][APP_ID]["state"] == "Stopped"
    properties = braked["resources"][SUBSCRIPTION_ID]["properties"]
    assert "destination" not in properties
    assert properties["deliveryWithResourceIdentity"]["destination"] == {
        "endpointType": "StorageQueue",
        "properties": {"resourceId": ACCOUNT_ID, "queueName": held_name, "queueMessageTimeToLiveInSeconds": -1},
    }
    for kept in ("filter", "retryPolicy", "deadLetterWithResourceIdentity", "eventDeliverySchema"):
        assert properties[kept] == before["properties"][kept]
    assert properties["labels"][0] == "team:media" and properties["labels"][1].startswith(LABEL)

    # Event Grid delivers to the held queue while braked (as text; base64 is read too), deletes included.
    held = QueueClient.from_connection_string(azurite_queue.connection_string, held_name)
    for key in ("a.jpg", "b.jpg", "gone.jpg"):
        app.upload(key, jpeg_bytes(96, 72))
    held.send_message(held_message(app, "a.jpg"))
    held.send_message(base64.b64encode(held_message(app, "b.jpg").encode()).decode())
    held.send_message(held_message(app, "gone.jpg"))
    app.service.get_blob_client(app.source, "gone.jpg").delete_blob()
    held.send_message(held_message(app, "gone.jpg", kind="deleted"))
    held.send_message("not an event")
    status = brake.status(deployment)
    assert status.braked and any(f"held queue {held_name}: 5 events" in line for line in status.waiting)
    assert app.dest_names() == set()  # nothing rendered while braked

    released = brake.release(deployment)
    assert not released.braked and released.since is None
    after = fake_az.resources(environment)
    assert after["apps"][APP_ID]["state"] == "Running"
    assert after["resources"][SUBSCRIPTION_ID] == before  # the destination, and everything else, as it was
    assert any("moved 4 held events" in note for note in released.notes)
    assert any("1 messages" in note and "left there" in note for note in released.notes)
    rendered = app.drain()  # the host running on_backfill_queue on what release moved
    assert sorted(rendered) == ["a.jpg", "b.jpg", "gone.jpg", "gone.jpg"]
    assert app.dest_names() == {"a-48x48.jpg", "b-48x48.jpg"}
    assert held.get_queue_properties().approximate_message_count == 1  # "not an event", kept (invisible a while)


def test_brake_and_release_are_idempotent_and_keep_a_stopped_app_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    environment = install_az(tmp_path, monkeypatch, FUNCTION, state="Stopped")
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    brake = EventGridBrake(queues=azurite_queues(azurite_queue))
    first = brake.engage(deployment)
    once = fake_az.resources(environment)
    second = brake.engage(deployment)
    assert second.since == first.since and fake_az.resources(environment) == once
    record = record_of(once["resources"][SUBSCRIPTION_ID])
    assert record is not None and record["app"] == "Stopped" and record["delivery"] == {"destination": FUNCTION}
    assert any("release leaves it stopped" in note for note in second.notes)
    brake.release(deployment)
    after = fake_az.resources(environment)
    assert after["apps"][APP_ID]["state"] == "Stopped"
    assert after["resources"][SUBSCRIPTION_ID]["properties"]["destination"] == FUNCTION
    again = brake.release(deployment)
    assert fake_az.resources(environment) == after and "nothing to restore" in again.notes[0]


def test_a_webhook_is_restored_with_the_apps_key_which_the_record_never_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    base = WEBHOOK_URL.split("?", maxsplit=1)[0]
    settings = {"endpointBaseUrl": base, "maxEventsPerBatch": 1, "preferredBatchSizeInKilobytes": 64}
    webhook = {"endpointType": "WebHook", "properties": settings}
    environment = install_az(tmp_path, monkeypatch, webhook, full_url=f"{WEBHOOK_URL}&code={KEY}")
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    brake = EventGridBrake(queues=azurite_queues(azurite_queue))
    brake.engage(deployment)
    braked = fake_az.resources(environment)["resources"][SUBSCRIPTION_ID]
    assert KEY not in json.dumps(braked)  # the key is in no label
    assert record_of(braked)["delivery"]["destination"]["properties"]["endpointUrl"] == WEBHOOK_URL  # type: ignore[index]
    brake.release(deployment)  # the fake refuses a webhook without the app's key, or while the app is stopped
    after = fake_az.resources(environment)
    assert after["resources"][SUBSCRIPTION_ID]["properties"]["destination"] == webhook
    assert after["full_urls"][SUBSCRIPTION_ID] == f"{WEBHOOK_URL}&code={KEY.replace('=', '%3D')}"


def test_a_subscription_already_on_the_held_queue_without_a_record_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    held = {"identity": {"type": "SystemAssigned"}, "destination": {"endpointType": "StorageQueue", "properties": {
        "resourceId": ACCOUNT_ID, "queueName": queues[0], "queueMessageTimeToLiveInSeconds": -1}}}  # fmt: skip
    environment = install_az(tmp_path, monkeypatch, FUNCTION)
    state = fake_az.resources(environment)
    properties = state["resources"][SUBSCRIPTION_ID]["properties"]
    del properties["destination"]
    properties["deliveryWithResourceIdentity"] = held
    Path(environment["FAKE_AZ_ARM"]).write_text(json.dumps(state))
    with pytest.raises(ConfigError, match="no brake record"):
        EventGridBrake(queues=azurite_queues(azurite_queue)).engage(outputs(*queues, azurite_queue.queue_endpoint))
    assert fake_az.resources(environment) == state


def test_the_commands_reach_the_queues_through_the_connection_they_are_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    install_az(tmp_path, monkeypatch, FUNCTION)
    deployment = outputs(*queues, "https://ptimg.queue.core.windows.net/")
    monkeypatch.setattr(brake_cli, "deployment_outputs", lambda provider, workdir: deployment)
    for name in ("PolythumbBrake", "THUMBS_STORAGE_CONNECTION"):
        monkeypatch.delenv(name, raising=False)  # removed again after the test: the command sets them
    endpoint = azurite_queue.queue_endpoint
    assert main(["brake", "azure", "--endpoint", endpoint]) == 0
    assert capsys.readouterr().out.startswith("Azure: BRAKED since ")
    assert main(["brake", "azure", "--status", "--json", "--endpoint", endpoint]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["braked"] and f"held queue {queues[0]}: 0 events" in status["waiting"][0]
    assert main(["release", "azure", "--endpoint", endpoint]) == 0
    assert capsys.readouterr().out.startswith("Azure: rendering (not braked)")


def test_held_messages_are_read_as_text_or_base64_and_keys_never_recorded() -> None:
    event = '{"id": "1"}'
    assert event_text(event) == event == event_text(base64.b64encode(event.encode()).decode())
    assert event_text("not an event") is None and event_text(base64.b64encode(b"nope").decode()) is None
    assert without_code(f"{WEBHOOK_URL}&code=k%3D") == WEBHOOK_URL
    assert with_code(WEBHOOK_URL, "k=") == f"{WEBHOOK_URL}&code=k%3D"


def test_the_terraform_output_names_what_the_brake_reads_and_event_grid_may_write_the_held_queue() -> None:
    module = load_module(ROOT / "providers" / "azure" / "deploy")
    [output] = [block["brake"] for block in module["output"] if "brake" in block]
    assert set(output["value"]) == {
        "function_app_id", "event_subscription_id", "images_account_id", "queue_endpoint", "held_queue",
        "backfill_queue",
    }  # fmt: skip
    assert output["value"]["backfill_queue"] == "${azurerm_storage_queue.backfill.name}"
    [sender] = [b["azurerm_role_assignment"]["held_sender"] for b in module["resource"]
                if "held_sender" in b.get("azurerm_role_assignment", {})]  # fmt: skip
    assert sender["scope"] == "${azurerm_storage_queue.held.id}"
    assert sender["principal_id"] == "${azurerm_eventgrid_system_topic.images.identity[0].principal_id}"
    assert sender["role_definition_name"] == "Storage Queue Data Message Sender"


def crashing_run(step: str) -> Callable[..., Any]:
    """``subprocess.run`` killed (once) when the command is about to run ``az ... <step>``."""
    import subprocess

    crashed: list[bool] = []

    def run(argv: list[str], **kwargs: Any) -> Any:
        if step in argv and not crashed:
            crashed.append(True)
            raise KeyboardInterrupt(f"killed before {step}")
        return subprocess.run(argv, **kwargs)

    return run


def test_each_command_says_what_it_changed_and_a_repeat_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    install_az(tmp_path, monkeypatch, FUNCTION)
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    brake = EventGridBrake(queues=azurite_queues(azurite_queue))
    first = brake.engage(deployment)
    assert [c.split(" ")[0] for c in first.changed] == ["redirected", "stopped"]
    assert brake.engage(deployment).changed == ()
    released = brake.release(deployment)
    assert [c.split(" ")[0] for c in released.changed] == ["started", "restored"]
    again = brake.release(deployment)
    assert again.changed == () and "did      nothing" in again.describe("Azure", command="release")


def test_a_brake_killed_between_redirecting_and_stopping_is_completed_by_braking_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    environment = install_az(tmp_path, monkeypatch, FUNCTION)
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    with pytest.raises(KeyboardInterrupt):
        EventGridBrake(run=crashing_run("stop"), queues=azurite_queues(azurite_queue)).engage(deployment)
    brake = EventGridBrake(queues=azurite_queues(azurite_queue))
    status = brake.status(deployment)  # events held, app running: said so
    assert status.since and any("events are held, but the app runs" in note for note in status.notes)
    done = brake.engage(deployment)
    assert done.braked and done.since == status.since
    assert done.changed == (f"stopped the function app (completing the brake recorded at {status.since})",)
    brake.release(deployment)
    after = fake_az.resources(environment)
    assert after["apps"][APP_ID]["state"] == "Running"
    assert after["resources"][SUBSCRIPTION_ID]["properties"]["destination"] == FUNCTION


def test_a_release_killed_between_starting_and_restoring_is_completed_by_releasing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    environment = install_az(tmp_path, monkeypatch, FUNCTION)
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    EventGridBrake(queues=azurite_queues(azurite_queue)).engage(deployment)
    with pytest.raises(KeyboardInterrupt):
        EventGridBrake(run=crashing_run("put"), queues=azurite_queues(azurite_queue)).release(deployment)
    assert fake_az.resources(environment)["apps"][APP_ID]["state"] == "Running"  # started, not yet restored
    again = EventGridBrake(queues=azurite_queues(azurite_queue)).release(deployment)
    assert not again.braked and again.since is None
    assert [c.split(" ")[0] for c in again.changed] == ["restored"]
    assert fake_az.resources(environment)["resources"][SUBSCRIPTION_ID]["properties"]["destination"] == FUNCTION


def test_two_brakes_at_once_keep_the_app_state_from_before_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite_queue: AzuriteQueue, queues: tuple[str, str]
) -> None:
    """The other brake runs to completion just before this one's first read of the app answers."""
    import subprocess

    environment = install_az(tmp_path, monkeypatch, FUNCTION)
    deployment = outputs(*queues, azurite_queue.queue_endpoint)
    other = EventGridBrake(queues=azurite_queues(azurite_queue))
    raced: list[bool] = []

    def run(argv: list[str], **kwargs: Any) -> Any:
        if "functionapp" in argv and "show" in argv and not raced:
            raced.append(True)
            other.engage(deployment)
        return subprocess.run(argv, **kwargs)

    assert EventGridBrake(run=run, queues=azurite_queues(azurite_queue)).engage(deployment).braked
    released = EventGridBrake(queues=azurite_queues(azurite_queue)).release(deployment)
    assert not released.braked
    after = fake_az.resources(environment)
    assert after["apps"][APP_ID]["state"] == "Running"  # it ran before both brakes: release starts it
    assert after["resources"][SUBSCRIPTION_ID]["properties"]["destination"] == FUNCTION
