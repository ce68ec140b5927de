"""One provider, end to end, with its storage traffic going through a :class:`FaultProxy`.

A rig owns a fresh source and destination bucket/container on the provider's emulator and runs the
provider's own entrypoint logic on the events the platform would deliver:

* **aws** -- moto emits the S3 notifications into a real SQS queue; each delivery hands the messages
  to :class:`providers.aws.handler.LambdaHandler` as Lambda's event source mapping does, and the
  partial batch response says which come back;
* **gcp** -- the CloudEvent Eventarc would send, built from the emulator's object resource, goes through
  :func:`core.delivery.deliver` (what ``handle_cloud_event`` runs); a raised error is the
  HTTP 500 that makes Eventarc redeliver;
* **azure** -- the Event Grid event built from the blob's real properties, decoded by the Functions
  worker's converter, goes through :func:`providers.azure.handlers.handle_event_grid`; a raised error
  makes Event Grid redeliver.

The function's storage clients are built by the providers' own factories (``make_client``,
``BlobStorageOpener``) with their production retry and timeout settings, pointed at the proxy through
``AWS_ENDPOINT_URL``, ``STORAGE_EMULATOR_HOST`` or the connection string. Set-up and read-back go to
the emulator directly, never through the proxy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.config import Config, load_config
from core.errors import TransientError
from core.events import EventKind
from core.keys import (
    META_BOX,
    META_PARAMS,
    META_SOURCE,
    META_SOURCE_BUCKET,
    META_SOURCE_REVISION,
    META_VERSION,
    decode_meta_value,
    output_keys,
)
from core.runtime import FunctionRuntime
from core.storage.port import Storage, StoredObject
from tests.reliability.faultproxy import FaultProxy, Rule, azure_server_busy, gcs_rate_limited, s3_slow_down

SIZES = "64x64,32x32"
THUMBNAIL_METADATA = (META_SOURCE, META_SOURCE_BUCKET, META_SOURCE_REVISION, META_BOX, META_PARAMS, META_VERSION)


@dataclass
class Notification:
    """One event the platform delivers (and may deliver again)."""

    key: str
    kind: EventKind
    payload: Any
    ident: str


@dataclass
class Delivery:
    """What one delivery ended as, from the platform's side."""

    retry: bool
    error: BaseException | None = None


@dataclass
class Rig:
    """Base of the three provider rigs; see the module docstring."""

    provider: str
    proxy: FaultProxy
    source: str
    dest: str
    direct: Callable[[str], Storage]
    settings: dict[str, str] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    #: AWS only: the partial batch response of the last SQS batch delivered.
    last_batch_response: dict[str, Any] = field(default_factory=dict)

    # Request patterns (method, target regex) of the function's traffic, for fault rules.
    def source_read(self) -> tuple[str, str]:
        raise NotImplementedError

    def dest_write(self) -> tuple[str, str]:
        raise NotImplementedError

    def source_head(self) -> tuple[str, str]:
        """The metadata read of a source object (the pipeline's first request)."""
        raise NotImplementedError

    def throttle(self) -> Rule:
        """The provider's own throttling answer."""
        raise NotImplementedError

    # -- set-up --------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return load_config({"THUMBS_DEST_BUCKET": self.dest, "THUMBS_SIZES": SIZES, **self.settings})

    def configure(self, **settings: str) -> None:
        """Further THUMBS_* settings for the function (a new runtime is built)."""
        self.settings.update(settings)
        self._runtime: FunctionRuntime | None = None

    def runtime(self) -> FunctionRuntime:
        """The function instance deliveries go to (one warm container)."""
        if getattr(self, "_runtime", None) is None:
            self._runtime = self.new_runtime()
        assert self._runtime is not None
        return self._runtime

    def new_runtime(self) -> FunctionRuntime:
        """Another function instance (its own storage client), as a concurrent container would be."""
        environ = {"THUMBS_DEST_BUCKET": self.dest, "THUMBS_SIZES": SIZES, **self.settings}
        return self._build_runtime(environ)

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        raise NotImplementedError

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        """Write a source object (directly) and return the created notification the platform emits."""
        raise NotImplementedError

    def delete(self, key: str) -> Notification:
        """Delete a source object (directly) and return the deleted notification."""
        raise NotImplementedError

    # -- delivery ----------------------------------------------------------------------

    def deliver(self, notification: Notification, runtime: FunctionRuntime | None = None) -> Delivery:
        """Deliver one notification to the function (or to ``runtime``), once."""
        [result] = self.deliver_batch([notification], runtime)
        return result

    def deliver_batch(
        self, notifications: list[Notification], runtime: FunctionRuntime | None = None
    ) -> list[Delivery]:
        """Deliver several notifications (one SQS batch on AWS; one by one elsewhere)."""
        return [self._deliver_one(n, runtime or self.runtime()) for n in notifications]

    def _deliver_one(self, notification: Notification, runtime: FunctionRuntime) -> Delivery:
        try:
            self._invoke(notification, runtime)
        except Exception as exc:  # the platform sees a failed invocation and redelivers
            return Delivery(retry=True, error=exc)
        return Delivery(retry=False)

    def _invoke(self, notification: Notification, runtime: FunctionRuntime) -> None:
        raise NotImplementedError

    def deliver_until_done(self, notification: Notification, *, limit: int = 5) -> list[Delivery]:
        """Redeliver as the platform does until the function acknowledges (at most ``limit`` times)."""
        results = []
        for _ in range(limit):
            results.append(self.deliver(notification))
            if not results[-1].retry:
                return results
        raise AssertionError(f"still failing after {limit} deliveries: {results[-1].error!r}")

    # -- read-back ---------------------------------------------------------------------

    def dest_objects(self) -> dict[str, StoredObject]:
        """Every object in the destination, body and info, read directly from the emulator."""
        store = self.direct(self.dest)
        return {info.key: store.get(info.key) for info in store.list()}

    def expected_outputs(self, key: str) -> dict[str, Any]:
        """Output key -> box of every thumbnail of ``key``."""
        return {out: box for box, out in output_keys(self.config, key).items()}

    def source_revision(self, key: str) -> str:
        return self.direct(self.source).head(key).revision

    def assert_outputs_sound(self) -> dict[str, StoredObject]:
        """Every object in the destination is a whole image with all of polythumb's metadata."""
        from tests.images import open_bytes

        objects = self.dest_objects()
        for out_key, stored in objects.items():
            meta = stored.info.metadata
            missing = [name for name in THUMBNAIL_METADATA if name not in meta]
            assert not missing, f"{out_key} lacks metadata {missing}"
            assert stored.info.size == len(stored.body) > 0, f"{out_key} is empty or its size lies"
            image = open_bytes(stored.body)  # a truncated body fails to decode here
            assert stored.info.content_type == f"image/{(image.format or '').lower()}", out_key
        return objects

    def assert_complete(self, key: str) -> None:
        """Every thumbnail of ``key`` exists, is sound and was rendered from its current revision."""
        objects = self.assert_outputs_sound()
        revision = self.source_revision(key)
        for out_key in self.expected_outputs(key):
            assert out_key in objects, f"missing {out_key}; have {sorted(objects)}"
            meta = objects[out_key].info.metadata
            assert decode_meta_value(meta[META_SOURCE]) == key
            assert decode_meta_value(meta[META_SOURCE_REVISION]) == revision, f"{out_key} is stale"

    def assert_absent(self, key: str) -> None:
        objects = self.dest_objects()
        left = [out for out in self.expected_outputs(key) if out in objects]
        assert not left, f"thumbnails left behind: {left}"


# -- AWS -----------------------------------------------------------------------------------


class AwsRig(Rig):
    """S3 -> SQS -> Lambda on moto; see the module docstring."""

    def __init__(self, request: pytest.FixtureRequest, proxy: FaultProxy, **kwargs: Any) -> None:
        self.s3 = request.getfixturevalue("s3_client")
        self.sqs = request.getfixturevalue("sqs_client")
        new_bucket = request.getfixturevalue("new_bucket")
        from providers.aws.storage import S3Storage, make_client
        from tests.fixtures.aws import CREDENTIALS, REGION

        def direct(bucket: str) -> Storage:
            return S3Storage(bucket, client=self.s3)

        super().__init__("aws", proxy, new_bucket("src"), new_bucket("dst"), direct, **kwargs)
        url = self.sqs.create_queue(QueueName=f"pt-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_url, self.queue_arn = url, arn
        events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
        self.s3.put_bucket_notification_configuration(
            Bucket=self.source,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": events}]},
        )
        # The function's client: the provider's own factory, configured from the environment Lambda gives it.
        patch = request.getfixturevalue("monkeypatch")
        patch.setenv("AWS_ENDPOINT_URL", proxy.url)
        patch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for name, value in CREDENTIALS.items():
            patch.setenv(name.upper(), value)
        self._make_client = make_client
        self._receive()  # the s3:TestEvent moto sends when the configuration is saved

    def source_read(self) -> tuple[str, str]:
        return "GET", rf"^/{self.source}/"

    def dest_write(self) -> tuple[str, str]:
        return "PUT", rf"^/{self.dest}/"

    def source_head(self) -> tuple[str, str]:
        return "HEAD", rf"^/{self.source}/"

    def throttle(self) -> Rule:
        return s3_slow_down()

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        from providers.aws.storage import S3Storage

        client = self._make_client()  # AWS_ENDPOINT_URL points at the proxy for the whole test
        return FunctionRuntime(lambda bucket: S3Storage(bucket, client=client), environ=environ)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def _notification(self, key: str, kind: EventKind) -> Notification:
        found = []
        for message in self._receive():
            body = json.loads(message["Body"])
            if "Records" in body:
                found.append(message)
        assert len(found) == 1, f"expected one S3 notification for {key}, got {len(found)}"
        return Notification(key, kind, found[0], found[0]["MessageId"])

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        self.s3.put_object(Bucket=self.source, Key=key, Body=body, ContentType=content_type)
        notification = self._notification(key, EventKind.CREATED)
        self.notifications.append(notification)
        return notification

    def delete(self, key: str) -> Notification:
        self.s3.delete_object(Bucket=self.source, Key=key)
        notification = self._notification(key, EventKind.DELETED)
        self.notifications.append(notification)
        return notification

    def lambda_event(self, notifications: list[Notification]) -> dict[str, Any]:
        from tests.fixtures.aws import REGION

        return {
            "Records": [
                {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                 "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                 "eventSource": "aws:sqs", "eventSourceARN": self.queue_arn, "awsRegion": REGION}
                for m in (n.payload for n in notifications)
            ]
        }  # fmt: skip

    def handler(self, runtime: FunctionRuntime | None = None) -> Any:
        from providers.aws.handler import LambdaHandler

        return LambdaHandler(runtime or self.runtime())

    def deliver_batch(
        self, notifications: list[Notification], runtime: FunctionRuntime | None = None
    ) -> list[Delivery]:
        from tests.providers.aws.helpers import LambdaContext

        response = self.handler(runtime)(self.lambda_event(notifications), LambdaContext())
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        self.last_batch_response = response
        return [Delivery(retry=n.ident in failed) for n in notifications]


# -- GCP -----------------------------------------------------------------------------------


class GcpRig(Rig):
    """Cloud Storage -> Eventarc -> Cloud Functions (2nd gen) on fake-gcs-server."""

    def __init__(self, request: pytest.FixtureRequest, proxy: FaultProxy, **kwargs: Any) -> None:
        self.client = request.getfixturevalue("gcs_client")
        new_bucket = request.getfixturevalue("gcs_new_bucket")
        from providers.gcp.storage import GcsStorage, make_client

        def direct(bucket: str) -> Storage:
            return GcsStorage(bucket, client=self.client)

        super().__init__("gcp", proxy, new_bucket("src"), new_bucket("dst"), direct, **kwargs)
        self._make_client = make_client
        self._monkeypatch = request.getfixturevalue("monkeypatch")
        self._emulator_url = request.getfixturevalue("fake_gcs").url
        #: What the function's STORAGE_EMULATOR_HOST says (tests may add credentials to it).
        self.function_endpoint = proxy.url

    def source_read(self) -> tuple[str, str]:
        return "GET", rf"^/download/storage/v1/b/{self.source}/o/"

    def dest_write(self) -> tuple[str, str]:
        return "POST", rf"^/upload/storage/v1/b/{self.dest}/o"

    def source_head(self) -> tuple[str, str]:
        return "GET", rf"^/storage/v1/b/{self.source}/o/"

    def throttle(self) -> Rule:
        return gcs_rate_limited()

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        from providers.gcp.storage import GcsStorage

        # The provider's factory reads STORAGE_EMULATOR_HOST when it builds the client; the session's
        # own client (set-up, read-back) keeps talking to the emulator directly.
        self._monkeypatch.setenv("STORAGE_EMULATOR_HOST", self.function_endpoint)
        try:
            client = self._make_client()
        finally:
            self._monkeypatch.setenv("STORAGE_EMULATOR_HOST", self._emulator_url)
        return FunctionRuntime(lambda bucket: GcsStorage(bucket, client=client), environ=environ)

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        from tests.providers.gcp.deliveries import object_resource

        previous = self.client.bucket(self.source).get_blob(key)
        blob = self.client.bucket(self.source).blob(key)
        blob.upload_from_string(body, content_type=content_type)
        if previous is not None:
            # Overwriting a live object in a bucket without versioning: Cloud Storage also reports the
            # replaced generation as deleted (OBJECT_DELETE), in no guaranteed order with the new one.
            self._record(key, EventKind.DELETED, dict(previous._properties))
        return self._record(key, EventKind.CREATED, object_resource(blob))

    def delete(self, key: str) -> Notification:
        from tests.providers.gcp.deliveries import object_resource

        blob = self.client.bucket(self.source).blob(key)
        resource = object_resource(blob)  # Cloud Storage sends the deleted object's last resource
        blob.delete()
        return self._record(key, EventKind.DELETED, resource)

    def _record(self, key: str, kind: EventKind, resource: dict[str, Any]) -> Notification:
        from providers.gcp.events import DELETED, FINALIZED
        from tests.providers.gcp.deliveries import attributes

        attrs = attributes(resource, FINALIZED if kind is EventKind.CREATED else DELETED)
        notification = Notification(key, kind, (attrs, resource), attrs["id"])
        self.notifications.append(notification)
        return notification

    def _invoke(self, notification: Notification, runtime: FunctionRuntime) -> None:
        from core.delivery import deliver
        from providers.gcp.events import parse_cloud_event

        attrs, data = notification.payload
        deliver(
            runtime, lambda: parse_cloud_event(attrs, json.dumps(data)),
            route="cloudevent", event_id=attrs["id"], event_type=attrs["type"],
        ).raise_for_retry()  # fmt: skip


# -- Azure ---------------------------------------------------------------------------------


class AzureRig(Rig):
    """Blob Storage -> Event Grid -> Azure Functions on Azurite."""

    def __init__(self, request: pytest.FixtureRequest, proxy: FaultProxy, **kwargs: Any) -> None:
        self.service = request.getfixturevalue("azure_service")
        new_container = request.getfixturevalue("new_container")
        from providers.azure.storage import AzureBlobStorage
        from tests.fixtures.azure import ACCOUNT_KEY, ACCOUNT_NAME

        def direct(container: str) -> Storage:
            return AzureBlobStorage(container, service=self.service)

        super().__init__("azure", proxy, new_container("src"), new_container("dst"), direct, **kwargs)
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={proxy.url}/{ACCOUNT_NAME};"
        )

    def source_read(self) -> tuple[str, str]:
        return "GET", rf"^/devstoreaccount1/{self.source}/"

    def dest_write(self) -> tuple[str, str]:
        return "PUT", rf"^/devstoreaccount1/{self.dest}/"

    def source_head(self) -> tuple[str, str]:
        return "HEAD", rf"^/devstoreaccount1/{self.source}/"

    def throttle(self) -> Rule:
        return azure_server_busy()

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        from providers.azure.connection import resolve_connection
        from providers.azure.settings import EXTRA_SETTINGS
        from providers.azure.storage import BlobStorageOpener

        connection = resolve_connection("AzureWebJobsStorage", environ={"AzureWebJobsStorage": self.connection_string})
        return FunctionRuntime(BlobStorageOpener(connection), environ=environ, extra_settings=EXTRA_SETTINGS)

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        from azure.storage.blob import ContentSettings

        blob = self.service.get_blob_client(self.source, key)
        blob.upload_blob(body, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return self._record(key, EventKind.CREATED, blob.get_blob_properties(), blob.url)

    def delete(self, key: str) -> Notification:
        blob = self.service.get_blob_client(self.source, key)
        properties = blob.get_blob_properties()
        blob.delete_blob()
        return self._record(key, EventKind.DELETED, properties, blob.url)

    def _record(self, key: str, kind: EventKind, properties: Any, url: str) -> Notification:
        from tests.providers.azure.delivery import blob_event

        raw = blob_event(self.source, key, schema="eventgrid", kind=str(kind), properties=properties, url=url)
        notification = Notification(key, kind, raw, raw["id"])
        self.notifications.append(notification)
        return notification

    def _invoke(self, notification: Notification, runtime: FunctionRuntime) -> None:
        from providers.azure.handlers import handle_event_grid
        from tests.providers.azure.delivery import as_worker_event

        handle_event_grid(runtime, as_worker_event(notification.payload), source_container=self.source)


_RIGS: dict[str, Callable[[pytest.FixtureRequest, FaultProxy], Rig]] = {"aws": AwsRig, "gcp": GcpRig, "azure": AzureRig}
_UPSTREAM = {"aws": "moto_endpoint", "gcp": "fake_gcs", "azure": "azurite"}


def upstream_url(provider: str, request: pytest.FixtureRequest) -> str:
    """The emulator's base URL (scheme, host and port) for ``provider``."""
    value = request.getfixturevalue(_UPSTREAM[provider])
    if provider == "aws":
        return str(value)
    if provider == "gcp":
        return str(value.url)
    return f"http://{value.host}:{value.port}"


def build(provider: str, request: pytest.FixtureRequest) -> Rig:
    """A rig for ``provider`` with a fresh proxy in front of its emulator."""
    make_proxy = request.getfixturevalue("fault_proxy")
    proxy = make_proxy(upstream_url(provider, request))
    return _RIGS[provider](request, proxy)


def is_transient(delivery: Delivery) -> bool:
    """The delivery failed in a way the platform retries, for a transient reason."""
    return delivery.retry and (delivery.error is None or isinstance(delivery.error, TransientError))
