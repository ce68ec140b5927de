"""What the entrypoints answer the platform: transient -> raise (HTTP 500, retried), everything else -> 2xx.

These run in-process: the dispatch directly, and ``handle_cloud_event`` inside functions-framework's
own Flask app (``create_app``) so the HTTP status of a raised transient error is the real one.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.delivery import deliver
from core.errors import StorageUnavailable, TransientError
from core.outcome import Status
from core.runtime import FunctionRuntime
from providers.gcp.events import parse_cloud_event
from providers.gcp.storage import GcsStorage
from tests.images import jpeg_bytes
from tests.log_capture import JsonLogs
from tests.providers.gcp.deliveries import attributes, header_value, object_resource
from tests.providers.gcp.emulator import FakeGcs, free_port

pytestmark = pytest.mark.gcp

ROOT = Path(__file__).parents[3]
FINALIZED = "google.cloud.storage.object.v1.finalized"


def unreachable_store(bucket: str) -> GcsStorage:
    """A bucket on an endpoint where nothing listens: every call fails as a connection error."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="p",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://127.0.0.1:{free_port()}"},
    )
    return GcsStorage(bucket, client=client, retry_deadline=0.2)


def test_transient_storage_error_is_raised_for_a_retry(json_logs: JsonLogs) -> None:
    runtime = FunctionRuntime(unreachable_store, environ={"THUMBS_DEST_BUCKET": "thumbs"})
    attrs = attributes({"bucket": "src", "name": "a.jpg"}, FINALIZED)
    with pytest.raises(StorageUnavailable) as caught:
        deliver(
            runtime, lambda: parse_cloud_event(attrs, {"bucket": "src", "name": "a.jpg"}), route="cloudevent"
        ).raise_for_retry()
    assert isinstance(caught.value, TransientError)
    [record] = json_logs.lines()
    assert record["severity"] == "WARNING" and record["error_kind"] == "storage_unavailable"


def test_malformed_and_ignored_events_return_without_storage(json_logs: JsonLogs) -> None:
    runtime = FunctionRuntime(unreachable_store, environ={"THUMBS_DEST_BUCKET": "thumbs"})
    attrs = attributes({"bucket": "src", "name": "a.jpg"}, FINALIZED)
    malformed = deliver(runtime, lambda: parse_cloud_event(attrs, [1]), route="cloudevent", event_id="e1")
    assert malformed.malformed is not None and malformed.results == ()
    updated = {**attrs, "type": "google.cloud.storage.object.v1.metadataUpdated"}
    acknowledged = deliver(runtime, lambda: parse_cloud_event(updated, {"name": "a.jpg"}), route="cloudevent")
    assert acknowledged.outcomes == () and not acknowledged.retryable
    malformed, ignored = json_logs.lines()
    assert (malformed["severity"], malformed["error_kind"], malformed["event_id"]) == ("ERROR", "malformed_event", "e1")
    assert (ignored["severity"], ignored["reason"], ignored["bucket"]) == ("INFO", "not_applicable", "src")


def test_permanent_error_is_an_outcome_not_an_exception(
    fake_gcs: FakeGcs, gcs_client: Any, gcs_new_bucket: Callable[[str], str]
) -> None:
    source = gcs_new_bucket("perm")
    blob = gcs_client.bucket(source).blob("big.jpg")
    blob.upload_from_string(jpeg_bytes(), content_type="image/jpeg")
    resource = object_resource(blob)
    runtime = FunctionRuntime(
        lambda b: GcsStorage(b, client=gcs_client), environ={"THUMBS_DEST_BUCKET": source, "THUMBS_MAX_BYTES": "10"}
    )
    delivery = deliver(runtime, lambda: parse_cloud_event(attributes(resource, FINALIZED), resource), route="t")
    [outcome] = delivery.outcomes
    assert not delivery.retryable
    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "too_large")


@pytest.fixture
def framework_app(monkeypatch: pytest.MonkeyPatch, fake_gcs: FakeGcs) -> Iterator[tuple[Any, types.ModuleType]]:
    """functions-framework's real Flask app for ``handle_cloud_event``, in-process.

    ``create_app`` loads ``providers/gcp/main.py`` as module ``main``, appends its folder to
    ``sys.path`` and sets FUNCTION_* variables: all of that is undone afterwards.
    """
    import functions_framework

    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbs")
    monkeypatch.setenv("FUNCTION_TARGET", "handle_cloud_event")
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "cloudevent")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "main", types.ModuleType("placeholder"))
    app = functions_framework.create_app(
        target="handle_cloud_event", source=str(ROOT / "providers" / "gcp" / "main.py"), signature_type="cloudevent"
    )
    yield app, sys.modules["main"]


def test_transient_error_becomes_http_500_in_functions_framework(
    framework_app: tuple[Any, types.ModuleType], monkeypatch: pytest.MonkeyPatch,
    json_logs: JsonLogs,
) -> None:  # fmt: skip
    app, module = framework_app
    monkeypatch.setattr(module, "RUNTIME", FunctionRuntime(unreachable_store, environ={"THUMBS_DEST_BUCKET": "t"}))
    attrs = attributes({"bucket": "src", "name": "dir/é.jpg"}, FINALIZED)
    headers = {f"ce-{k}": header_value(v) for k, v in attrs.items()}
    response = app.test_client().post(
        "/", headers=headers, data=json.dumps({"bucket": "src", "name": "dir/é.jpg"}), content_type="application/json"
    )
    assert response.status_code == 500  # Eventarc redelivers (RETRY_POLICY_RETRY)
    assert response.headers.get("X-Google-Status") == "crash"
    assert any(r["error_kind"] == "storage_unavailable" for r in json_logs.lines())


def test_malformed_event_is_acknowledged_by_functions_framework(
    framework_app: tuple[Any, types.ModuleType], json_logs: JsonLogs
) -> None:
    app, _ = framework_app
    attrs = attributes({"bucket": "src", "name": "x.jpg"}, FINALIZED)
    headers = {f"ce-{k}": v for k, v in attrs.items()}
    response = app.test_client().post("/", headers=headers, data="[]", content_type="application/json")
    assert response.status_code == 200
    assert [r["error_kind"] for r in json_logs.lines()] == ["malformed_event"]


def test_module_builds_one_runtime_from_the_environment(framework_app: tuple[Any, types.ModuleType]) -> None:
    _, module = framework_app
    assert isinstance(module.RUNTIME, FunctionRuntime)
    assert module.RUNTIME.config.dest_bucket == "thumbs"
