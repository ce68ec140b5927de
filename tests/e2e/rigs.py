"""One rig per entrypoint: the same end-to-end steps, each driven through that platform's real event path.

* ``local``: a directory watched by :func:`core.ops.runner.watch_events` (the poller behind
  ``polythumb watch``), each event handled by :func:`core.ops.runner.handle_safely` on FilesystemStorage.
* ``aws``: moto's S3 sends its real notification to an SQS queue; the message is handed to the
  Lambda handler in the event Lambda's SQS event source mapping builds (partial batch response).
* ``gcp``: fake-gcs-server holds the objects; the CloudEvent Eventarc would POST (binary mode, built
  from the object's resource as the emulator returns it) goes to functions-framework's HTTP server.
* ``azure``: Azurite holds the blobs; the EventGridEvent Event Grid would deliver (built from the
  blob's real properties, decoded by the Python worker's own converter) is given to ``on_event_grid``
  found through ``app.get_functions()``.

Every rig works under its own key prefix, reads outputs back through the provider's storage adapter
(itself checked by the contract suite) and reports each delivery as the platform would see it:
acknowledged, or to be retried.
"""

from __future__ import annotations

import importlib
import json
import logging
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import unquote_plus

from core.config import Config, load_config
from core.events import EventKind, ObjectEvent
from core.keys import is_polythumb_output
from core.logs import LOGGER_NAME, JsonFormatter
from core.storage.port import ObjectInfo, Storage

#: The settings every entrypoint runs with (plus its own THUMBS_DEST_BUCKET): not the defaults, so
#: the tests prove the settings reach each platform's function.
SETTINGS: Mapping[str, str] = {"THUMBS_SIZES": "160x120,48x48", "THUMBS_CACHE_CONTROL": "public, max-age=3600"}

#: Seconds a rig waits for the platform's event to show up (a watcher scan, an SQS message).
EVENT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Delivery:
    """What happened to one delivery, as the platform saw it.

    Attributes:
        acknowledged: True when the platform would not deliver it again (SQS message not in
            ``batchItemFailures``, HTTP 2xx, the function returned); False means it retries.
        status: polythumb's outcome (``ok``, ``skipped``, ``failed``), from its log record or result.
        reason: Why it was skipped, if it was.
        error_kind: The permanent error's kind, if it failed.
        key: The key as the entrypoint decoded it from the envelope (from its outcome).
        envelope: The raw forms of the key found in the envelope, by field name.
        handler_ms: Time spent in the function (the invocation, or the HTTP request).
        answer: What the function answered the platform, in the platform's terms.
    """

    acknowledged: bool
    status: str | None = None
    reason: str | None = None
    error_kind: str | None = None
    key: str | None = None
    envelope: Mapping[str, str] = field(default_factory=dict)
    handler_ms: float = 0.0
    answer: str = ""

    @property
    def verdict(self) -> str:
        """``acknowledged`` or ``retry``: what the platform does next."""
        return "acknowledged" if self.acknowledged else "retry"


class EntrypointRig(Protocol):
    """The steps of the end-to-end suite, whatever the platform."""

    name: str
    source_bucket: str
    dest_bucket: str
    deliveries: list[Delivery]

    @property
    def config(self) -> Config:
        """The configuration the entrypoint runs with."""
        ...

    @property
    def delivery_result(self) -> Delivery:
        """The last delivery's result."""
        ...

    @property
    def handler_ms(self) -> float:
        """Total time spent in the function during the test."""
        ...

    def key(self, name: str) -> str:
        """The key for ``name`` under this test's own prefix."""
        ...

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        """Store an original in the source bucket, as a user would."""
        ...

    def deliver_created(self, key: str) -> Delivery:
        """Deliver the platform's event for the upload of ``key``; a second call delivers it again."""
        ...

    def deliver_deleted(self, key: str) -> Delivery:
        """Delete ``key`` from the source, then deliver the platform's event for that deletion."""
        ...

    def read_outputs(self) -> dict[str, ObjectInfo]:
        """Every object polythumb wrote under this test's prefix, with its full info."""
        ...

    def read_body(self, key: str) -> bytes:
        """The bytes of an object in the destination."""
        ...

    def source_info(self, key: str) -> ObjectInfo:
        """The original's info (its revision is what thumbnails must name)."""
        ...

    def close(self) -> None:
        """Stop what the rig started."""
        ...


class _Rig:
    """What every rig shares: prefix, stores, outputs, the record of deliveries."""

    name = "rig"

    def __init__(self, *, source: Storage, dest: Storage, settings: Mapping[str, str], extra_settings: tuple[str, ...]):
        self.prefix = f"e2e-{uuid.uuid4().hex[:10]}"
        self._source = source
        self._dest = dest
        self.source_bucket = source.bucket
        self.dest_bucket = dest.bucket
        self._config = load_config(settings, extra_settings=extra_settings)
        self.deliveries: list[Delivery] = []

    @property
    def config(self) -> Config:
        return self._config

    @property
    def delivery_result(self) -> Delivery:
        assert self.deliveries, "nothing was delivered yet"
        return self.deliveries[-1]

    @property
    def handler_ms(self) -> float:
        return sum(delivery.handler_ms for delivery in self.deliveries)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def read_outputs(self) -> dict[str, ObjectInfo]:
        found = {}
        for listed in self._dest.list(f"{self.prefix}/"):
            info = self._dest.head(listed.key)  # listings may lack metadata (S3)
            if is_polythumb_output(info.metadata):
                found[info.key] = info
        return found

    def read_body(self, key: str) -> bytes:
        return self._dest.get(key).body

    def source_info(self, key: str) -> ObjectInfo:
        return self._source.head(key)

    def _record(self, delivery: Delivery) -> Delivery:
        self.deliveries.append(delivery)
        return delivery

    def close(self) -> None:
        """Nothing to stop by default."""


def _content_type(key: str, given: str | None) -> str:
    if given:
        return given
    return "image/png" if key.lower().endswith(".png") else "image/jpeg"


def _outcome_fields(record: Mapping[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return {}
    return {
        "status": record.get("status"),
        "reason": record.get("reason"),
        "error_kind": record.get("error_kind"),
        "key": record.get("key"),
    }


# -- local -------------------------------------------------------------------------------------


class LocalRig(_Rig):
    """``polythumb watch``: the poller's events, handled as the watch loop handles them."""

    name = "local"

    def __init__(self, root: Path, *, in_place: bool) -> None:
        from core.ops.runner import local_runtime
        from core.storage.filesystem import FilesystemStorage

        self._root = (root / "src").resolve()
        self._root.mkdir(parents=True)
        dest = self._root if in_place else (root / "dest").resolve()
        settings = {**SETTINGS, "THUMBS_DEST_BUCKET": str(dest)}
        super().__init__(
            source=FilesystemStorage(self._root), dest=FilesystemStorage(dest), settings=settings, extra_settings=()
        )
        self._runtime = local_runtime(self.config)
        self._created: set[str] = set()
        self._watcher: _Watcher | None = None
        self._start_watcher()

    def _start_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        self._watcher = _Watcher(self._root)

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        path = self._root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def deliver_created(self, key: str) -> Delivery:
        if key in self._created:
            # A restarted `polythumb watch` reports every file again: the local form of a duplicate.
            self._start_watcher()
        self._created.add(key)
        return self._deliver(EventKind.CREATED, key)

    def deliver_deleted(self, key: str) -> Delivery:
        (self._root / key).unlink()
        return self._deliver(EventKind.DELETED, key)

    def _deliver(self, kind: EventKind, key: str) -> Delivery:
        from core.ops.runner import handle_safely

        assert self._watcher is not None
        event = self._watcher.next(kind, key)
        started = time.perf_counter()
        outcome = handle_safely(self._runtime, event)
        elapsed = (time.perf_counter() - started) * 1000
        return self._record(
            Delivery(
                acknowledged=True,  # the watcher moves on: there is no redelivery to ask for locally
                status=str(outcome.status),
                reason=str(outcome.reason) if outcome.reason else None,
                error_kind=outcome.error_kind,
                key=outcome.key,
                envelope={"relative path": event.key},
                handler_ms=elapsed,
                answer="none (the poller moves on)",
            )
        )

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()


class _Watcher:
    """:func:`core.ops.runner.watch_events` running in a thread, its events queued for the test to pick."""

    def __init__(self, root: Path) -> None:
        from core.ops.runner import watch_events

        self._stop = threading.Event()
        self._queue: queue.Queue[ObjectEvent] = queue.Queue()
        self._seen: list[ObjectEvent] = []
        events = watch_events(root, interval=0.05, initial=True, stop=self._stop)
        self._thread = threading.Thread(target=self._pump, args=(events,), daemon=True)
        self._thread.start()

    def _pump(self, events: Iterator[ObjectEvent]) -> None:
        for event in events:
            self._queue.put(event)

    def next(self, kind: EventKind, key: str) -> ObjectEvent:
        """The first unhandled event of ``kind`` for ``key``, waiting for the poller if need be."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            for event in self._seen:
                if event.kind is kind and event.key == key:
                    self._seen.remove(event)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the watcher reported no {kind} event for {key!r} within {EVENT_TIMEOUT}s")
            try:
                self._seen.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- aws -----------------------------------------------------------------------------------------


class AwsRig(_Rig):
    """S3 -> SQS -> Lambda on moto: real notifications, the handler's partial batch responses."""

    name = "aws"

    def __init__(self, *, s3_client: Any, sqs_client: Any, new_bucket: Callable[..., str], in_place: bool) -> None:
        from providers.aws.handler import EXTRA_SETTINGS, build_handler
        from providers.aws.storage import S3Storage
        from tests.providers.aws.helpers import EVENTS, LogCapture, Queue

        source = new_bucket("e2e-src")
        dest = source if in_place else new_bucket("e2e-dst")
        settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest}
        super().__init__(
            source=S3Storage(source, client=s3_client),
            dest=S3Storage(dest, client=s3_client),
            settings=settings,
            extra_settings=EXTRA_SETTINGS,
        )
        self._s3 = s3_client
        url = sqs_client.create_queue(QueueName=f"pt-e2e-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._queue = Queue(sqs_client, url, arn)
        s3_client.put_bucket_notification_configuration(
            Bucket=source, NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": EVENTS}]}
        )
        self._handler = build_handler(settings, s3_client=s3_client)
        self._logs = LogCapture()
        _polythumb_logger().addHandler(self._logs)
        self._inbox: list[dict[str, Any]] = []
        self._created: dict[str, dict[str, Any]] = {}

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        self._s3.put_object(Bucket=self.source_bucket, Key=key, Body=body, ContentType=_content_type(key, content_type))

    def deliver_created(self, key: str) -> Delivery:
        duplicate = key in self._created
        message = self._created[key] if duplicate else self._message_for("ObjectCreated", key)
        self._created[key] = message
        return self._invoke(message, settle=not duplicate)  # a duplicate is the same S3 event delivered again

    def deliver_deleted(self, key: str) -> Delivery:
        self._s3.delete_object(Bucket=self.source_bucket, Key=key)
        return self._invoke(self._message_for("ObjectRemoved", key), settle=True)

    def _message_for(self, family: str, key: str) -> dict[str, Any]:
        """The SQS message moto queued for ``family`` on ``key``, reading the queue as Lambda's poller would."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            for message in self._inbox:
                record = _s3_record(message)
                if (
                    record is not None
                    and str(record.get("eventName", "")).startswith(family)
                    and unquote_plus(record["s3"]["object"]["key"]) == key
                ):
                    self._inbox.remove(message)
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no {family} notification for {key!r} reached the queue")
            received = self._queue.receive()
            if not received:
                time.sleep(0.05)
            self._inbox.extend(received)

    def _invoke(self, message: dict[str, Any], *, settle: bool) -> Delivery:
        from tests.providers.aws.helpers import LambdaContext

        self._logs.clear()
        started = time.perf_counter()
        response = self._handler(self._queue.lambda_event([message]), LambdaContext())
        elapsed = (time.perf_counter() - started) * 1000
        if settle:
            self._queue.settle([message], response)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        lines = [line for line in self._logs.lines() if line.get("message_id") == message["MessageId"]]
        outcome = next((line for line in reversed(lines) if "status" in line), None)
        record = _s3_record(message)
        raw_key = record["s3"]["object"]["key"] if record else ""
        return self._record(
            Delivery(
                acknowledged=message["MessageId"] not in failed,
                envelope={"Records[].s3.object.key": raw_key},
                handler_ms=elapsed,
                answer="batchItemFailures: " + ("[<messageId>]" if failed else "[]"),
                **_outcome_fields(outcome),
            )
        )

    def close(self) -> None:
        _polythumb_logger().removeHandler(self._logs)


def _s3_record(message: Mapping[str, Any]) -> dict[str, Any] | None:
    body = json.loads(message["Body"])
    records = body.get("Records") if isinstance(body, dict) else None
    return records[0] if records else None


def _polythumb_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


# -- gcp ------------------------------------------------------------------------------------------


class GcpInfra:
    """The session's buckets and functions-framework servers (one per destination mode, started on demand)."""

    def __init__(self, *, client: Any, new_bucket: Callable[[str], str], start_server: Callable[..., Any]) -> None:
        self.client = client
        self.source = new_bucket("e2e-src")
        self.dest = new_bucket("e2e-dst")
        self._start_server = start_server
        self._servers: dict[bool, Any] = {}

    def server(self, *, in_place: bool) -> Any:
        """The server whose THUMBS_DEST_BUCKET is the source bucket (in place) or the thumbnails bucket."""
        if in_place not in self._servers:
            dest = self.source if in_place else self.dest
            self._servers[in_place] = self._start_server(
                "handle_cloud_event", "cloudevent", {**SETTINGS, "THUMBS_DEST_BUCKET": dest}
            )
        return self._servers[in_place]


class GcpRig(_Rig):
    """Cloud Storage -> Eventarc -> Cloud Functions (2nd gen): CloudEvents POSTed to functions-framework."""

    name = "gcp"

    def __init__(self, infra: GcpInfra, *, in_place: bool) -> None:
        from providers.gcp.storage import GcsStorage

        dest = infra.source if in_place else infra.dest
        settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest}
        super().__init__(
            source=GcsStorage(infra.source, client=infra.client),
            dest=GcsStorage(dest, client=infra.client),
            settings=settings,
            extra_settings=(),
        )
        self._client = infra.client
        self._server = infra.server(in_place=in_place)
        self._created: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        blob = self._client.bucket(self.source_bucket).blob(key)
        blob.upload_from_string(body, content_type=_content_type(key, content_type))

    def deliver_created(self, key: str) -> Delivery:
        from tests.providers.gcp.deliveries import attributes, object_resource

        if key not in self._created:
            resource = object_resource(self._client.bucket(self.source_bucket).blob(key))
            self._created[key] = (attributes(resource, "google.cloud.storage.object.v1.finalized"), resource)
        return self._post(*self._created[key])  # a duplicate carries the same id, as Pub/Sub redelivers it

    def deliver_deleted(self, key: str) -> Delivery:
        from tests.providers.gcp.deliveries import attributes, object_resource

        blob = self._client.bucket(self.source_bucket).blob(key)
        resource = object_resource(blob)  # GCS sends the deleted object's last resource
        blob.delete()
        return self._post(attributes(resource, "google.cloud.storage.object.v1.deleted"), resource)

    def _post(self, attrs: dict[str, str], resource: dict[str, Any]) -> Delivery:
        from tests.providers.gcp.deliveries import header_value, post_binary

        started = time.perf_counter()
        response = post_binary(self._server.url, attrs, resource)
        elapsed = (time.perf_counter() - started) * 1000
        records = [r for r in self._server.records() if r.get("event_id") == attrs["id"] and "status" in r]
        return self._record(
            Delivery(
                acknowledged=200 <= response.status_code < 300,  # any other answer: Pub/Sub redelivers
                envelope={"data.name": resource["name"], "ce-subject header": header_value(attrs["subject"])},
                handler_ms=elapsed,
                answer=f"HTTP {response.status_code}",
                **_outcome_fields(records[-1] if records else None),
            )
        )


# -- azure ----------------------------------------------------------------------------------------

_AZURE_APP = "providers.azure.function_app"


class AzureRig(_Rig):
    """Blob Storage -> Event Grid -> Azure Functions: EventGridEvents given to ``on_event_grid``."""

    name = "azure"

    def __init__(
        self,
        *,
        service: Any,
        connection_string: str,
        new_container: Callable[..., str],
        in_place: bool,
        setenv: Callable[[str, str], None],
    ) -> None:
        from providers.azure.settings import EXTRA_SETTINGS
        from providers.azure.storage import AzureBlobStorage

        source = new_container("e2e-src")
        dest = source if in_place else new_container("e2e-dst")
        settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source}
        super().__init__(
            source=AzureBlobStorage(source, service=service),
            dest=AzureBlobStorage(dest, service=service),
            settings=settings,
            extra_settings=EXTRA_SETTINGS,
        )
        self._service = service
        setenv("AzureWebJobsStorage", connection_string)
        for name, value in settings.items():
            setenv(name, value)
        module = _cold_start(_AZURE_APP)  # as a new worker process would, with these settings
        # Once, as the worker indexes them: FunctionApp.get_functions() refuses a second call.
        functions = {f.get_function_name(): f for f in module.app.get_functions()}
        self._on_event_grid = functions["on_event_grid"].get_user_function()
        self._logs = _JsonLines()
        _polythumb_logger().addHandler(self._logs)
        self._created: dict[str, dict[str, Any]] = {}

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        from azure.storage.blob import ContentSettings

        blob = self._service.get_blob_client(self.source_bucket, key)
        settings = ContentSettings(content_type=_content_type(key, content_type))
        blob.upload_blob(body, overwrite=True, content_settings=settings)

    def deliver_created(self, key: str) -> Delivery:
        from tests.providers.azure.delivery import blob_event

        if key not in self._created:
            blob = self._service.get_blob_client(self.source_bucket, key)
            self._created[key] = blob_event(
                self.source_bucket, key, schema="eventgrid", properties=blob.get_blob_properties(), url=blob.url
            )
        return self._invoke(self._created[key])  # at-least-once: the same event (same id) again

    def deliver_deleted(self, key: str) -> Delivery:
        from tests.providers.azure.delivery import blob_event

        blob = self._service.get_blob_client(self.source_bucket, key)
        properties = blob.get_blob_properties()
        blob.delete_blob()
        return self._invoke(
            blob_event(self.source_bucket, key, schema="eventgrid", kind="deleted", properties=properties, url=blob.url)
        )

    def _invoke(self, raw: dict[str, Any]) -> Delivery:
        from tests.providers.azure.delivery import as_worker_event

        self._logs.clear()
        acknowledged, answer = True, "on_event_grid returned"
        started = time.perf_counter()
        try:
            self._on_event_grid(as_worker_event(raw))
        except Exception as exc:  # the host answers Event Grid with an error: it redelivers
            acknowledged, answer = False, f"on_event_grid raised {type(exc).__name__}"
        elapsed = (time.perf_counter() - started) * 1000
        outcome = next(
            (r for r in reversed(self._logs.records) if r.get("event_id") == raw["id"] and "status" in r), None
        )
        return self._record(
            Delivery(
                acknowledged=acknowledged,
                envelope={"subject": raw["subject"].split("/blobs/", 1)[1], "data.url": raw["data"]["url"]},
                handler_ms=elapsed,
                answer=answer,
                **_outcome_fields(outcome),
            )
        )

    def close(self) -> None:
        _polythumb_logger().removeHandler(self._logs)


class _JsonLines(logging.Handler):
    """A logging handler keeping polythumb's records as the JSON objects its formatter writes."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[dict[str, Any]] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(self.format(record)))

    def clear(self) -> None:
        self.records.clear()


def _cold_start(module: str) -> ModuleType:
    sys.modules.pop(module, None)
    return importlib.import_module(module)
