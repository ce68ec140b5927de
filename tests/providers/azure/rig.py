"""The Azure rig: Blob Storage -> Event Grid -> Azure Functions on Azurite, for every shared suite.

* storage (``azure``): a fresh container on Azurite behind :class:`providers.azure.storage.AzureBlobStorage`;
* end to end: the EventGridEvent Event Grid would deliver (built from the blob's real properties, decoded
  by the Python worker's own converter) is given to ``on_event_grid`` found through ``app.get_functions()``;
* reliability: the same event through :func:`providers.azure.handlers.handle_event_grid`, the function's
  client built by the provider's ``BlobStorageOpener`` from a connection string naming a fault proxy; a
  raised error makes Event Grid redeliver;
* backfill: ``polythumb backfill --target azure`` puts work items on a Storage Queue, drained into
  ``on_backfill_queue`` the way the Functions host drains it;
* serve: the ``func.HttpRequest`` the worker decodes for a request, given to ``serve_http`` of an app
  cold-started with the serve setting (the app's second instance: the first serves the events).
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from core.config import Config, load_config
from core.events import EventKind, ObjectEvent
from core.runtime import FunctionRuntime
from core.storage.port import Storage
from tests.contract.raw import RawObject, record_http_requests
from tests.images import jpeg_bytes
from tests.log_capture import JsonLogs
from tests.providers.azure.emulator import ACCOUNT_KEY, ACCOUNT_NAME, Azurite, AzuriteQueue
from tests.reliability.faultproxy import FaultProxy, Rule, http_error
from tests.rigs.base import (
    SETTINGS,
    DeliveryReport,
    EntrypointRig,
    FaultRig,
    Notification,
    Schedule,
    cold_start,
    guess_content_type,
    outcome_fields,
)

pytest_plugins = ["tests.providers.azure.emulator"]

from tests.providers.azure.observability_check import check_metric_lines, runaway_fires  # noqa: E402, F401  (the rig's hooks)

NAME = "azure"
STORES = ("azure",)
#: The optional suites this rig serves (tests/e2e/test_serve.py: the app's HTTP trigger).
CAPABILITIES = ("serve",)
REQUIRES = ("azure.storage.blob", "azure.storage.queue", "azure.functions")
ROOT = Path(__file__).resolve().parents[3]
#: The vendor payloads the entrypoint's parsers are checked against.
SAMPLES = Path(__file__).resolve().parent / "events"
APP = "providers.azure.function_app"

#: What Azurite falls short of, against Azure itself (see :func:`tests.rigs.emulator_gap`).
EMULATOR_GAPS = {
    "list_control_character_keys": "Azurite answers 500 to List Blobs when a blob name holds a character XML 1.0 "
    "cannot carry (U+0007, U+001B, U+001F); Azure itself returns such names with Encoded=true, which "
    "azure-storage-blob decodes. Put, head, get and delete of these keys pass on Azurite.",
}


# -- end to end -----------------------------------------------------------------------------------


class Entrypoint(EntrypointRig):
    """Blob Storage -> Event Grid -> Azure Functions: EventGridEvents given to ``on_event_grid``."""

    name = NAME

    def __init__(
        self,
        *,
        service: Any,
        connection_string: str,
        new_container: Callable[..., str],
        in_place: bool,
        setenv: Callable[[str, str], None],
        extra: Mapping[str, str] | None = None,
    ) -> None:
        from providers.azure.storage import AzureBlobStorage

        source = new_container("e2e-src")
        dest = source if in_place else new_container("e2e-dst")
        settings = {**SETTINGS, **(extra or {}), "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source}
        super().__init__(
            source=AzureBlobStorage(source, service=service),
            dest=AzureBlobStorage(dest, service=service),
            settings=settings,
            provider=NAME,
        )
        self._service = service
        self._setenv = setenv
        self._serve_http: Callable[[Any], Any] | None = None
        self._serve_lock = threading.Lock()
        setenv("AzureWebJobsStorage", connection_string)
        for name, value in settings.items():
            setenv(name, value)
        module = cold_start(APP)  # as a new worker process would, with these settings
        # Once, as the worker indexes them: FunctionApp.get_functions() refuses a second call.
        functions = {f.get_function_name(): f for f in module.app.get_functions()}
        self._on_event_grid = functions["on_event_grid"].get_user_function()
        self._logs = JsonLogs().attach()
        self._all_logs = JsonLogs().attach()  # never cleared: what the platform's log store would hold
        self._created: dict[str, dict[str, Any]] = {}

    def log_lines(self) -> list[dict[str, Any]]:
        return self._own(self._all_logs.lines())

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        from azure.storage.blob import ContentSettings

        blob = self._service.get_blob_client(self.source_bucket, key)
        settings = ContentSettings(content_type=guess_content_type(key, content_type))
        blob.upload_blob(body, overwrite=True, content_settings=settings)

    def deliver_rewritten(self, key: str) -> DeliveryReport:
        self._created.pop(key, None)  # the latest write's own event, not the first one's again
        return self.deliver_created(key)

    def deliver_created(self, key: str) -> DeliveryReport:
        from tests.providers.azure.delivery import blob_event

        if key not in self._created:
            blob = self._service.get_blob_client(self.source_bucket, key)
            self._created[key] = blob_event(
                self.source_bucket, key, schema="eventgrid", properties=blob.get_blob_properties(), url=blob.url
            )
        return self._invoke(self._created[key])  # at-least-once: the same event (same id) again

    def deliver_deleted(self, key: str) -> DeliveryReport:
        from tests.providers.azure.delivery import blob_event

        blob = self._service.get_blob_client(self.source_bucket, key)
        properties = blob.get_blob_properties()
        blob.delete_blob()
        return self._invoke(
            blob_event(self.source_bucket, key, schema="eventgrid", kind="deleted", properties=properties, url=blob.url)
        )

    def serve(
        self, method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        """One request to the app's HTTP trigger, as the host hands it over and takes the answer back."""
        from urllib.parse import unquote

        from providers.azure.serve import MOUNT
        from tests.providers.azure.delivery import as_host_response, as_http_request

        with self._serve_lock:  # concurrent first requests: one worker start, as the host has one
            if self._serve_http is None:
                # Another worker of the same app, started with the serve setting (serve.tf sets it on the app).
                self._setenv("THUMBS_SERVE_SOURCE_BUCKET", self.source_bucket)
                functions = {f.get_function_name(): f for f in cold_start(APP).app.get_functions()}
                self._serve_http = functions["serve_http"].get_user_function()
        request = as_http_request(method, MOUNT + path, query, dict(headers or {}),
                                  route_params={"path": unquote(path.lstrip("/"))})  # fmt: skip
        return as_host_response(self._serve_http(request))

    def _invoke(self, raw: dict[str, Any]) -> DeliveryReport:
        from tests.providers.azure.delivery import as_worker_context, as_worker_event

        self._logs.clear()
        acknowledged, answer = True, "on_event_grid returned"
        started = time.perf_counter()
        try:
            self._on_event_grid(as_worker_event(raw), as_worker_context("on_event_grid"))
        except Exception as exc:  # the host answers Event Grid with an error: it redelivers
            acknowledged, answer = False, f"on_event_grid raised {type(exc).__name__}"
        elapsed = (time.perf_counter() - started) * 1000
        outcome = next(
            (r for r in reversed(self._logs.lines()) if r.get("event_id") == raw["id"] and "status" in r), None
        )
        return self._record(
            DeliveryReport(
                acknowledged=acknowledged,
                envelope={"subject": raw["subject"].split("/blobs/", 1)[1], "data.url": raw["data"]["url"]},
                handler_ms=elapsed,
                answer=answer,
                **outcome_fields(outcome),
            )
        )

    def close(self) -> None:
        self._logs.detach()
        self._all_logs.detach()


def entrypoint(
    request: pytest.FixtureRequest, *, in_place: bool, extra: Mapping[str, str] | None = None
) -> EntrypointRig:
    """The end-to-end rig (see :class:`Entrypoint`), with ``extra`` THUMBS_* settings if given."""
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    azurite: Azurite = request.getfixturevalue("azurite")
    return Entrypoint(
        service=request.getfixturevalue("azure_service"),
        connection_string=azurite.connection_string,
        new_container=request.getfixturevalue("new_container"),
        in_place=in_place,
        setenv=monkeypatch.setenv,
        extra=extra,
    )


# -- reliability -----------------------------------------------------------------------------------


class Faulty(FaultRig):
    """Blob Storage -> Event Grid -> Azure Functions on Azurite, the function's client behind a fault proxy."""

    account = ACCOUNT_NAME
    patterns: ClassVar[dict[str, tuple[str, str]]] = {
        "source_read": ("GET", "^/{account}/{source}/"),
        "dest_write": ("PUT", "^/{account}/{dest}/"),
        "source_head": ("HEAD", "^/{account}/{source}/"),
    }

    def __init__(self, request: pytest.FixtureRequest, proxy: FaultProxy, **kwargs: Any) -> None:
        self.service = request.getfixturevalue("azure_service")
        new_container = request.getfixturevalue("new_container")
        from providers.azure.storage import AzureBlobStorage

        def direct(container: str) -> Storage:
            return AzureBlobStorage(container, service=self.service)

        super().__init__(NAME, proxy, new_container("src"), new_container("dst"), direct, **kwargs)
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={proxy.url}/{ACCOUNT_NAME};"
        )

    def throttle(self) -> Rule:
        """Azure Storage's throttling answer: 503 ``ServerBusy`` (header and XML body)."""
        body = (
            b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
            b"<Message>The server is busy.</Message></Error>"
        )
        return http_error(503, body, **{"Content-Type": "application/xml", "x-ms-error-code": "ServerBusy"})

    def plant_credentials(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

        sas = generate_account_sas(
            ACCOUNT_NAME, ACCOUNT_KEY, ResourceTypes(container=True, object=True),
            AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
            expiry="2099-01-01T00:00:00Z",
        )  # fmt: skip
        signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
        # A SAS connection string: the token travels in every request's query string.
        self.connection_string = f"BlobEndpoint={self.proxy.url}/{ACCOUNT_NAME};SharedAccessSignature={sas}"
        return [ACCOUNT_KEY, sas, signature]

    def malformed(self, template: Notification, ident: str) -> Any:
        return {**template.payload, "id": ident, "subject": "/blobServices/default/containers/x"}

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        from providers.azure.connection import resolve_connection
        from providers.azure.storage import BlobStorageOpener

        connection = resolve_connection("AzureWebJobsStorage", environ={"AzureWebJobsStorage": self.connection_string})
        return FunctionRuntime(BlobStorageOpener(connection), environ=environ, provider=NAME)

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        from azure.storage.blob import ContentSettings

        blob = self.service.get_blob_client(self.source, key)
        blob.upload_blob(body, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return self._notify(key, EventKind.CREATED, blob.get_blob_properties(), blob.url)

    def delete(self, key: str) -> Notification:
        blob = self.service.get_blob_client(self.source, key)
        properties = blob.get_blob_properties()
        blob.delete_blob()
        return self._notify(key, EventKind.DELETED, properties, blob.url)

    def _notify(self, key: str, kind: EventKind, properties: Any, url: str) -> Notification:
        from tests.providers.azure.delivery import blob_event

        raw = blob_event(self.source, key, schema="eventgrid", kind=str(kind), properties=properties, url=url)
        notification = Notification(key, kind, raw, raw["id"])
        self.notifications.append(notification)
        return notification

    def _invoke(self, notification: Notification, runtime: FunctionRuntime) -> None:
        from providers.azure.handlers import handle_event_grid
        from tests.providers.azure.delivery import as_worker_event

        handle_event_grid(runtime, as_worker_event(notification.payload), source_container=self.source)


def faulty(request: pytest.FixtureRequest, proxy: FaultProxy) -> FaultRig:
    """The reliability rig (see :class:`Faulty`)."""
    return Faulty(request, proxy)


def upstream(request: pytest.FixtureRequest) -> str:
    """The emulator's base URL, for a fault proxy to forward to."""
    azurite: Azurite = request.getfixturevalue("azurite")
    return f"http://{azurite.host}:{azurite.port}"


def patch_sdk_sleeps(monkeypatch: pytest.MonkeyPatch, shim: Any) -> None:
    """Route azure-core's retry sleeps through ``shim``."""
    from azure.core.pipeline.transport import HttpTransport, RequestsTransport

    # The storage pipeline sleeps through a TransportWrapper, which inherits HttpTransport.sleep.
    for transport in (HttpTransport, RequestsTransport):
        monkeypatch.setattr(transport, "sleep", lambda self, seconds: shim.sleep(seconds))


def _window(retry: int, fault: str) -> tuple[float, float]:
    # azure-storage ExponentialRetry: initial_backoff + increment_base**retry, +/- random_jitter_range.
    centre = 1 + 2**retry
    return centre - 1.0, centre + 1.0


RETRY = Schedule(attempts=(4, 4), window=_window, total_sleep=20.0)


# -- secrets in logs --------------------------------------------------------------------------------------

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS_SIG = "Zm9vYmFyc2lnbmF0dXJlK3Rlc3Q%3D"
#: Shapes of this cloud's credentials -> (text holding one, the secret): core.logs.redact must remove each.
SECRET_SHAPES = {
    "azure connection string": (f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={AZURITE_KEY};", AZURITE_KEY),
    "azure SAS connection string": (
        f"BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2022-11-02&sig={SAS_SIG}",
        SAS_SIG,
    ),
    "azure SAS URL": (f"https://a.blob.core.windows.net/c/b.jpg?sv=2022-11-02&sp=r&sig={SAS_SIG}", SAS_SIG),
    "azure shared key header": ("Authorization: SharedKey devstoreaccount1:b0ZHa2V5c2lnPQ==", "b0ZHa2V5c2lnPQ=="),
}


# -- contract observations ----------------------------------------------------------------------------


def raw_put(request: pytest.FixtureRequest, store: Storage, key: str, metadata: Mapping[str, str]) -> None:
    """Write ``key`` with azure-storage-blob, bypassing the adapter (and its name rules)."""
    blob = request.getfixturevalue("azure_service").get_blob_client(store.bucket, key)
    blob.upload_blob(b"raw", metadata=dict(metadata), overwrite=True)


def raw_get(request: pytest.FixtureRequest, store: Storage, key: str) -> RawObject:
    """``key`` as azure-storage-blob reports it: metadata as stored, ETags as sent by HEAD and by LIST."""
    container = request.getfixturevalue("azure_service").get_container_client(store.bucket)
    properties = container.get_blob_client(key).get_blob_properties()
    [listed] = list(container.list_blobs(name_starts_with=key, include=["metadata"]))
    return RawObject(properties.metadata or {}, str(properties.etag), str(listed.etag))


#: What the adapter sends, recorded on its way through ``requests``.
record_requests = record_http_requests


def parse_sample(document: Any) -> tuple[int, int]:
    """Object events and acknowledged non-events the app's parsers find in a vendor payload."""
    from providers.azure.events import Ignored, blob_trigger_location, parse_batch

    if isinstance(document, dict) and "trigger_metadata" in document:  # what the host gives the blob trigger
        blob_trigger_location(document["trigger_metadata"]["BlobTrigger"], "images")
        return 1, 0
    results = parse_batch(json.dumps(document))
    return sum(not isinstance(r, Ignored) for r in results), sum(isinstance(r, Ignored) for r in results)


# -- backfill -----------------------------------------------------------------------------------------


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
        from tests.providers.azure.delivery import as_worker_context

        context = as_worker_context("on_backfill_queue")
        assert self.functions["on_backfill_queue"].get_user_function()(message, context) is None

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
        from providers.azure.events import parse_batch

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
def azure_backfill_queue(azurite_queue: AzuriteQueue) -> Iterator[str]:
    """A fresh Storage Queue on Azurite (deleted after the test): the backfill's work items."""
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite_queue.connection_string)
    name = f"pt-backfill-{uuid.uuid4().hex[:12]}"
    service.create_queue(name)
    yield name
    service.delete_queue(name)


def start_backfill_app(request: pytest.FixtureRequest, *, sizes: str) -> BackfillApp:
    """The function app cold-started on Azurite with a backfill queue and fresh containers."""
    from azure.storage.queue import QueueClient

    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    azurite_queue: AzuriteQueue = request.getfixturevalue("azurite_queue")
    queue_name: str = request.getfixturevalue("azure_backfill_queue")
    new_container = request.getfixturevalue("new_container")
    source, dest = new_container("src"), new_container("thumbs")
    monkeypatch.setenv("AzureWebJobsStorage", azurite_queue.connection_string)
    monkeypatch.delenv("THUMBS_STORAGE_CONNECTION", raising=False)
    monkeypatch.setenv("THUMBS_SOURCE_CONTAINER", source)
    monkeypatch.setenv("THUMBS_DEST_BUCKET", dest)
    monkeypatch.setenv("THUMBS_SIZES", sizes)
    monkeypatch.setenv("THUMBS_BACKFILL_QUEUE", queue_name)
    sys.modules.pop(APP, None)  # a cold start, as a new worker process
    module = importlib.import_module(APP)
    # Raw client: no decode policy, so the test sees the bytes on the wire.
    raw = QueueClient.from_connection_string(azurite_queue.connection_string, queue_name)
    return BackfillApp(module, source=source, dest=dest, queue=raw, service=request.getfixturevalue("azure_service"))


class Backfill:
    """``polythumb backfill --target azure``: work items on a Storage Queue, drained into ``on_backfill_queue``.

    One size: every Azure request of a render costs the test's own CPU (the SDK's).
    """

    name = NAME
    count = 200
    sizes = "48x48"
    pace = ("--rate", "100")
    work_field = "sent"
    suffix, content_type = ".jpg", "image/jpeg"

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        from providers.azure.storage import AzureBlobStorage

        self.app = start_backfill_app(request, sizes=self.sizes)
        service = request.getfixturevalue("azure_service")
        self.source = AzureBlobStorage(self.app.source, service=service)
        self.dest = AzureBlobStorage(self.app.dest, service=service)

    @property
    def config(self) -> Config:
        return load_config({"THUMBS_DEST_BUCKET": self.app.dest, "THUMBS_SIZES": self.sizes})

    def body(self, variant: int = 0) -> bytes:
        return jpeg_bytes(96, 72) if variant == 0 else jpeg_bytes(90, 70)

    def render(self, keys: Sequence[str]) -> None:
        from providers.azure.backfill import queue_message

        for key in keys:
            self.app.deliver(queue_message(ObjectEvent.created(self.app.source, key, event_id=f"setup-{key}")))

    def command(self, checkpoint: Path, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "core.ops.cli", "backfill", self.app.source, "--target", NAME, "--out", self.app.dest,
            "--sizes", self.sizes, "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", "--json",
            "--no-progress", "--delete-orphans", "--workers", "4", "--batch", "10", *extra,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        """The operator's environment: the same connection and queue settings as the function app."""
        env = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "AzureWebJobs"))}
        env.update(
            PYTHONPATH=str(ROOT),
            AzureWebJobsStorage=os.environ["AzureWebJobsStorage"],  # noqa: SIM112 - the Functions host's own spelling
            THUMBS_SOURCE_CONTAINER=self.app.source,
            THUMBS_BACKFILL_QUEUE=os.environ["THUMBS_BACKFILL_QUEUE"],
        )
        return env

    def settle(self) -> list[str] | None:
        return self.app.drain()

    def check_logs(self) -> None:
        """The function ran in this process; a failure would have raised out of the drain."""


def backfill(request: pytest.FixtureRequest, tmp_path: Path) -> Backfill:
    """The backfill rig (see :class:`Backfill`)."""
    return Backfill(request, tmp_path)
