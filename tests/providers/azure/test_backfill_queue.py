"""The Azure cloud fan-out on Azurite: ``polythumb backfill --target azure`` puts work items on a Storage
Queue and the app's queue-triggered function renders them.

The CLI runs in a subprocess against Azurite's Blob and Queue services. The queue is drained the way the
Functions host drains it: each raw message is base64-decoded (the extension's default ``messageEncoding``),
turned into a ``func.QueueMessage`` by the Python worker's own converter and handed to ``on_backfill_queue``
found through ``app.get_functions()``; a message is deleted only when the function returns. The run is
SIGKILLed half-way, the queue drained, the run resumed and the queue drained again.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from core.config import load_config
from core.errors import ConfigError, StorageUnavailable
from core.events import ObjectEvent
from core.keys import META_SOURCE_REVISION, decode_meta_value, output_keys
from core.runtime import FunctionRuntime
from providers.azure.backfill import EXTRA_SETTINGS, StorageQueueSink, queue_client, queue_message
from providers.azure.connection import resolve_connection
from providers.azure.events import parse_batch
from providers.azure.settings import DEFAULT_QUEUE, backfill_queue_name
from providers.azure.storage import BlobStorageOpener
from tests.backfill_support import wait_for_progress
from tests.images import jpeg_bytes, open_bytes
from tests.providers.azure.emulator import ACCOUNT_NAME, AzuriteQueue, free_port

pytestmark = pytest.mark.azure

ROOT = Path(__file__).parents[3]
MODULE = "providers.azure.function_app"
# One size: every S3/Azure request of a render costs the test's own CPU (the SDKs'), and the multi-size sets
# are covered by the function app's own tests; 200 sources keep the kill half-way meaningful.
SIZES = "48x48"
COUNT = 200
TRICKY = ["plus+sign/a+b.jpg", "unicode/café/日本語 写真.jpg", "percent/100% off.jpg", "space dir/x y.jpg"]


def sources() -> list[str]:
    return sorted([f"photos/{i % 4}/img {i:03}.jpg" for i in range(COUNT - len(TRICKY))] + TRICKY)


class BackfillApp:
    """A cold-started function app, its containers and its backfill queue, driven as the host drives them."""

    def __init__(self, module: ModuleType, *, source: str, dest: str, queue: Any, service: Any) -> None:
        self.module, self.source, self.dest, self.queue, self.service = module, source, dest, queue, service
        self.functions = {f.get_function_name(): f for f in module.app.get_functions()}  # once, as the worker

    def deliver(self, text: str, *, message_id: str = "m-1", dequeue_count: int = 1) -> None:
        """Invoke ``on_backfill_queue`` with the ``func.QueueMessage`` the worker builds from ``text``."""
        from azure.functions import meta
        from azure.functions.queue import QueueMessageInConverter

        message = QueueMessageInConverter.decode(
            meta.Datum(text, "string"),
            trigger_metadata={"Id": meta.Datum(message_id, "string"),
                              "DequeueCount": meta.Datum(str(dequeue_count), "json")},
        )  # fmt: skip
        assert self.functions["on_backfill_queue"].get_user_function()(message) is None

    def drain(self) -> list[str]:
        """Run the function on every visible message, deleting each after it returns; the keys handled.

        Four at a time, as the host runs up to ``batchSize`` messages of a batch concurrently.
        """
        keys: list[str] = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            while batch := list(self.queue.receive_messages(max_messages=32, visibility_timeout=60)):
                keys += [key for handled in pool.map(self._run, batch) for key in handled]
        return keys

    def _run(self, message: Any) -> list[str]:
        # The host's default messageEncoding is base64: the body must decode, strictly.
        text = base64.b64decode(message.content, validate=True).decode("utf-8")
        self.deliver(text, message_id=message.id, dequeue_count=message.dequeue_count)
        self.queue.delete_message(message)  # only after the function returned, as the host does
        return [event.key for event in parse_batch(text) if isinstance(event, ObjectEvent)]

    def upload(self, key: str, body: bytes) -> None:
        from azure.storage.blob import ContentSettings

        blob = self.service.get_blob_client(self.source, key)
        blob.upload_blob(body, overwrite=True, content_settings=ContentSettings(content_type="image/jpeg"))

    def dest_names(self) -> set[str]:
        return {blob.name for blob in self.service.get_container_client(self.dest).list_blobs()}


@pytest.fixture
def queue_name(azurite_queue: AzuriteQueue) -> Iterator[str]:
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite_queue.connection_string)
    name = f"pt-backfill-{uuid.uuid4().hex[:12]}"
    service.create_queue(name)
    yield name
    service.delete_queue(name)


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch,
    azurite_queue: AzuriteQueue,
    new_container: Callable[..., str],
    azure_service: Any,
    queue_name: str,
) -> BackfillApp:
    from azure.storage.queue import QueueClient

    source, dest = new_container("src"), new_container("thumbs")
    monkeypatch.setenv("AzureWebJobsStorage", azurite_queue.connection_string)
    monkeypatch.delenv("THUMBS_STORAGE_CONNECTION", raising=False)
    monkeypatch.setenv("THUMBS_SOURCE_CONTAINER", source)
    monkeypatch.setenv("THUMBS_DEST_BUCKET", dest)
    monkeypatch.setenv("THUMBS_SIZES", SIZES)
    monkeypatch.setenv("THUMBS_BACKFILL_QUEUE", queue_name)
    sys.modules.pop(MODULE, None)  # a cold start, as a new worker process
    module = importlib.import_module(MODULE)
    # Raw client: no decode policy, so the test sees the bytes on the wire.
    raw = QueueClient.from_connection_string(azurite_queue.connection_string, queue_name)
    return BackfillApp(module, source=source, dest=dest, queue=raw, service=azure_service)


def cli(app: BackfillApp, checkpoint: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "core.ops.cli", "backfill", app.source, "--target", "azure", "--out", app.dest,
        "--sizes", SIZES, "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", "--json", "--no-progress",
        "--delete-orphans", "--workers", "4", "--batch", "10", *extra,
    ]  # fmt: skip


def environment(app: BackfillApp) -> dict[str, str]:
    """The operator's environment: the same connection and queue settings as the function app."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "AzureWebJobs"))}
    env.update(
        PYTHONPATH=str(ROOT),
        AzureWebJobsStorage=os.environ["AzureWebJobsStorage"],  # noqa: SIM112 - the Functions host's own spelling
        THUMBS_SOURCE_CONTAINER=app.source,
        THUMBS_BACKFILL_QUEUE=os.environ["THUMBS_BACKFILL_QUEUE"],
    )
    return env


def test_queue_trigger_binding_is_what_the_host_indexes(app: BackfillApp, queue_name: str) -> None:
    function = app.functions["on_backfill_queue"]
    assert json.loads(function.get_function_json())["bindings"] == [
        {"direction": "IN", "type": "queueTrigger", "name": "message", "queueName": queue_name,
         "connection": "AzureWebJobsStorage"},
    ]  # fmt: skip
    assert backfill_queue_name({}) == DEFAULT_QUEUE == "polythumb-backfill"
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_QUEUE"):
        backfill_queue_name({"THUMBS_BACKFILL_QUEUE": "Bad_Name"})


def test_message_is_the_event_grid_event_the_function_parses_back() -> None:
    for key in TRICKY:
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
    monkeypatch.setattr(app.module, "runtime", FunctionRuntime(opener, extra_settings=EXTRA_SETTINGS))
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


def test_killed_fan_out_resumes_and_ends_with_one_correct_set_per_image(app: BackfillApp, tmp_path: Path) -> None:
    keys = sources()
    body = jpeg_bytes(96, 72)
    for key in keys:
        app.upload(key, body)
    # Some thumbnails exist already: current ones, stale ones (the original changed since) and orphans.
    current, stale, gone = keys[5:8], keys[40:42], ["gone/old 1.jpg", "gone/old 2.jpg"]
    for key in gone:
        app.upload(key, body)
    for key in current + stale + gone:
        app.deliver(queue_message(ObjectEvent.created(app.source, key, event_id=f"setup-{key}")))
    for key in stale:
        app.upload(key, jpeg_bytes(90, 70))
    for key in gone:
        app.service.get_blob_client(app.source, key).delete_blob()
    config = load_config({"THUMBS_DEST_BUCKET": app.dest, "THUMBS_SIZES": SIZES})
    orphans = {thumb for key in gone for thumb in output_keys(config, key).values()}
    assert orphans <= app.dest_names()

    env, checkpoint = environment(app), tmp_path / "azure.checkpoint.json"
    dry = subprocess.run([*cli(app, checkpoint), "--dry-run"], cwd=tmp_path, env=env, text=True,
                         capture_output=True, timeout=60)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["missing"], plan["stale"], plan["current"], plan["orphaned"]) == (
        COUNT - len(current) - len(stale), len(stale), len(current), len(orphans),
    )  # fmt: skip
    assert app.queue.get_queue_properties().approximate_message_count == 0  # a dry run sends nothing

    # Paced at 100 items/s so the kill lands half-way; start_new_session: killed by its process group id.
    first = subprocess.Popen(
        [*cli(app, checkpoint), "--rate", "100"], cwd=tmp_path, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_progress(first, checkpoint, at_least=COUNT // 3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    saved = json.loads(checkpoint.read_text())
    assert saved["finished"] is False
    mark = saved["last_key"]
    sent_before_kill = app.drain()
    to_render = {key for key in keys if key not in current}
    assert {key for key in to_render if key <= mark} <= set(sent_before_kill)
    assert not orphans & app.dest_names()  # orphans are deleted by the CLI itself
    # Every message was rendered (the function raised nothing): what is left is what was never sent.
    unfinished = sorted(key for key in to_render if key > mark and key not in sent_before_kill)
    assert unfinished, "the first run finished everything before it was killed"

    resumed = subprocess.run([*cli(app, checkpoint), "--resume"], cwd=tmp_path, env=env, text=True,
                             capture_output=True, timeout=60)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_after"] == mark
    assert summary["skipped_before_checkpoint"] == len([key for key in keys if key <= mark])
    assert (summary["sent"], summary["dead_lettered"]) == (len(unfinished), 0)
    assert sorted(app.drain()) == unfinished
    assert json.loads(checkpoint.read_text())["finished"] is True

    expected = {thumb for key in keys for thumb in output_keys(config, key).values()}
    assert app.dest_names() == expected  # one set per image, no orphan left
    final = subprocess.run([*cli(app, checkpoint), "--dry-run"], cwd=tmp_path, env=env, text=True,
                           capture_output=True, timeout=60)  # fmt: skip
    report = json.loads(final.stdout)
    assert (report["missing"], report["stale"], report["orphaned"], report["current"]) == (0, 0, 0, COUNT)
    for key in [*TRICKY, *stale]:  # and the pixels are right: odd names and the changed originals
        etag = app.service.get_blob_client(app.source, key).get_blob_properties().etag.strip('"')
        for box, thumb in output_keys(config, key).items():
            blob = app.service.get_blob_client(app.dest, thumb)
            assert decode_meta_value(blob.get_blob_properties().metadata[META_SOURCE_REVISION]) == etag
            image = open_bytes(blob.download_blob().readall())
            assert image.format == "JPEG" and max(image.width / box.width, image.height / box.height) > 0.99


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


def test_sink_options_are_checked_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from providers.azure.backfill import make_sink

    with pytest.raises(ConfigError, match="unknown --sink-option url"):
        make_sink(argparse.Namespace(sink_options={"url": "x"}, workers=2))
    with pytest.raises(ConfigError, match="--sink-option queue"):
        make_sink(argparse.Namespace(sink_options={"queue": "Not_Valid"}, workers=2))
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        make_sink(argparse.Namespace(sink_options={}, workers=2))


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
        ("Storage Queue Data Message Processor", "${azurerm_storage_queue.backfill.resource_manager_id}"),
        ("Storage Queue Data Reader", "${azurerm_storage_queue.backfill.resource_manager_id}"),
        ("Storage Queue Data Message Sender", "${azurerm_storage_queue.backfill_poison.resource_manager_id}"),
    }
    sender = roles["backfill_operator_sender"]
    assert sender["role_definition_name"].strip('"') == "Storage Queue Data Message Sender"
    assert sender["scope"] == "${azurerm_storage_queue.backfill.resource_manager_id}"
    assert all("storage_account" not in body["scope"] for body in roles.values())  # nothing account-wide
    # The images connection the queue trigger uses names the queue service too.
    assert "__queueServiceUri" in (deploy / "function.tf").read_text()
