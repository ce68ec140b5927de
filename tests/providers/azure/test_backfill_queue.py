"""The Azure cloud fan-out on Azurite: ``polythumb backfill --target azure`` puts work items on a Storage
Queue and the app's queue-triggered function renders them.

The app is driven as the Functions host drives it (see :class:`tests.providers.azure.rig.BackfillApp`). The
kill-and-resume run itself is the shared scenario of ``tests/test_backfill_resume.py``; here are the queue
binding, the message, retries, poison handling, the sink's options and the deploy files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError, StorageUnavailable
from core.events import ObjectEvent
from core.runtime import FunctionRuntime
from providers.azure.backfill import StorageQueueSink, queue_client, queue_message
from providers.azure.connection import resolve_connection
from providers.azure.events import parse_batch
from providers.azure.settings import DEFAULT_QUEUE, backfill_queue_name
from providers.azure.storage import BlobStorageOpener
from tests.images import jpeg_bytes
from tests.providers.azure.emulator import ACCOUNT_NAME, Azurite, AzuriteQueue, free_port
from tests.providers.azure.rig import BackfillApp, start_backfill_app
from tests.rigs.base import TRICKY_KEYS, sink_request

pytestmark = pytest.mark.azure

ROOT = Path(__file__).parents[3]
SIZES = "48x48"


@pytest.fixture
def app(request: pytest.FixtureRequest) -> BackfillApp:
    return start_backfill_app(request, sizes=SIZES)


def test_queue_trigger_binding_is_what_the_host_indexes(app: BackfillApp, azure_backfill_queue: str) -> None:
    function = app.functions["on_backfill_queue"]
    assert json.loads(function.get_function_json())["bindings"] == [
        {"direction": "IN", "type": "queueTrigger", "name": "message", "queueName": azure_backfill_queue,
         "connection": "AzureWebJobsStorage"},
    ]  # fmt: skip
    assert backfill_queue_name({}) == DEFAULT_QUEUE == "polythumb-backfill"
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_QUEUE"):
        backfill_queue_name({"THUMBS_BACKFILL_QUEUE": "Bad_Name"})


def test_message_is_the_event_grid_event_the_function_parses_back() -> None:
    for key in TRICKY_KEYS:
        event = ObjectEvent.created("images", key, size=12, etag="0x8D", event_id="backfill-1")
        [parsed] = parse_batch(queue_message(event))
        assert isinstance(parsed, ObjectEvent)
        assert (parsed.bucket, parsed.key, parsed.size, parsed.etag, parsed.event_id) == (
            "images", key, 12, "0x8D", "backfill-1",
        )  # fmt: skip


def test_a_transient_error_is_raised_so_the_host_retries_then_poison_queues(
    app: BackfillApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import ExponentialRetry

    app.upload("retry/a.jpg", jpeg_bytes(96, 72))
    message = queue_message(ObjectEvent.created(app.source, "retry/a.jpg", event_id="backfill-r"))
    # The storage account becomes unreachable (nothing listens there); SDK retries off to keep it fast.
    dead = f"AccountName={ACCOUNT_NAME};AccountKey=eA==;BlobEndpoint=http://127.0.0.1:{free_port()}/{ACCOUNT_NAME};"
    opener = BlobStorageOpener(
        resolve_connection("S", environ={"S": dead}), retry_policy=ExponentialRetry(retry_total=0)
    )
    healthy = app.module.runtime
    monkeypatch.setattr(app.module, "runtime", FunctionRuntime(opener, provider="azure"))
    with pytest.raises(StorageUnavailable):  # raised to the host: the message comes back, then goes to poison
        app.deliver(message, dequeue_count=1)
    monkeypatch.setattr(app.module, "runtime", healthy)
    app.deliver(message, dequeue_count=2)  # the host's next attempt completes
    assert len(app.dest_names()) == len(SIZES.split(","))


def test_malformed_message_is_acknowledged_not_raised(app: BackfillApp) -> None:
    app.deliver("this is not json")
    app.deliver(json.dumps({"eventType": "Microsoft.Storage.BlobCreated", "subject": "/nope", "data": {}}))
    assert app.dest_names() == set()


def test_a_missing_queue_stops_the_run(azurite_queue: AzuriteQueue) -> None:
    client = queue_client(
        connection_name="C", queue_name="pt-no-such-queue", environ={"C": azurite_queue.connection_string}
    )
    sink = StorageQueueSink(client, workers=2)
    try:
        with pytest.raises(ConfigError, match="does not exist"):
            sink.send([ObjectEvent.created("images", "a.jpg", event_id="x")])
    finally:
        sink.close()


def test_the_queue_connection_resolves_as_the_host_resolves_it() -> None:
    client = queue_client(
        connection_name="PolythumbImages",
        queue_name="polythumb-backfill",
        environ={"polythumbimages__queueServiceUri": "https://acct.queue.core.windows.net/"},  # any case
    )
    assert client.url == "https://acct.queue.core.windows.net/polythumb-backfill"
    client = queue_client(connection_name="C", queue_name="q-1", environ={"C__accountName": "acct"})
    assert client.url == "https://acct.queue.core.windows.net/q-1"
    with pytest.raises(ConfigError, match="C__queueServiceUri") as missing:
        queue_client(connection_name="C", queue_name="q-1", environ={"C__blobServiceUri": "https://a.blob/"})
    assert "https://a.blob" not in str(missing.value)
    with pytest.raises(ConfigError, match="https"):
        queue_client(connection_name="C", queue_name="q-1", environ={"C__queueServiceUri": "http://acct/"})


def test_the_queue_connection_is_checked_and_authenticated_as_the_blob_connection_is() -> None:
    from azure.identity import ManagedIdentityCredential

    secret = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="
    with pytest.raises(ConfigError, match="not a storage connection string") as caught:
        queue_client(connection_name="C", queue_name="q-1", environ={"c": secret})  # any case
    assert secret not in str(caught.value)
    managed = {"C__accountName": "acct", "C__credential": "managedidentity", "C__clientId": "id-1"}
    client = queue_client(connection_name="C", queue_name="q-1", environ=managed)
    assert isinstance(client.credential, ManagedIdentityCredential)


def test_sink_options_are_checked_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from providers.azure.backfill import make_sink

    with pytest.raises(ConfigError, match="unknown --sink-option url"):
        make_sink(sink_request("azure", url="x", workers=2))
    with pytest.raises(ConfigError, match="--sink-option queue"):
        make_sink(sink_request("azure", queue="Not_Valid", workers=2))
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        make_sink(sink_request("azure", workers=2))


def test_deploy_creates_the_queue_the_function_listens_on_with_queue_scoped_roles() -> None:
    import hcl2

    deploy = ROOT / "providers/azure/deploy"
    with (deploy / "backfill.tf").open() as handle:
        parsed = hcl2.load(handle)
    [local_values] = parsed["locals"]
    assert local_values["backfill_queue"].strip('"') == DEFAULT_QUEUE
    roles = {
        name.strip('"'): body
        for block in parsed["resource"]
        for kind, named in block.items()
        if kind.strip('"') == "azurerm_role_assignment"
        for name, body in named.items()
    }
    function_roles = {(b["role_definition_name"].strip('"'), b["scope"]) for b in roles.values()
                      if "function_principal" in b["principal_id"]}  # fmt: skip
    assert function_roles == {
        ("Storage Queue Data Message Processor", "${azurerm_storage_queue.backfill.id}"),
        ("Storage Queue Data Reader", "${azurerm_storage_queue.backfill.id}"),
        ("Storage Queue Data Message Sender", "${azurerm_storage_queue.backfill_poison.id}"),
    }
    sender = roles["backfill_operator_sender"]
    assert sender["role_definition_name"].strip('"') == "Storage Queue Data Message Sender"
    assert sender["scope"] == "${azurerm_storage_queue.backfill.id}"
    assert all("storage_account" not in body["scope"] for body in roles.values())  # nothing account-wide
    # The images connection the queue trigger uses names the queue service too.
    assert "__queueServiceUri" in (deploy / "function.tf").read_text()


def test_planning_opens_every_container_on_one_client_made_on_the_first_open(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import providers.azure.backfill as module
    from core.once import once

    monkeypatch.setattr(module, "_images_opener", once(module._images_opener.__wrapped__))  # a fresh process
    monkeypatch.delenv("THUMBS_STORAGE_CONNECTION", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    resolved: list[str] = []
    real = module.resolve_connection

    def counting(name: str, **kwargs: Any) -> Any:
        resolved.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr(module, "resolve_connection", counting)
    with ThreadPoolExecutor(max_workers=4) as pool:
        stores = list(pool.map(module.open_bucket, ["src", "dst"] * 4))
    assert resolved == ["AzureWebJobsStorage"]
    assert len({id(store.service) for store in stores}) == 1
