"""End to end on Azurite: the Functions app invoked as the host invokes it.

Each test cold-starts ``providers.azure.function_app`` with its own settings (a fresh source and
destination container), uploads originals with azure-storage-blob, builds the event Event Grid would
deliver from the blob's real properties, decodes it with the Python worker's own converter and calls
the user function found through ``app.get_functions()``.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from core.config import load_config
from core.errors import ConfigError, StorageUnavailable, TransientError
from core.keys import encode_meta_value
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes
from tests.log_capture import JsonLogs
from tests.providers.azure.delivery import (
    SCHEMAS,
    as_input_stream,
    as_worker_context,
    as_worker_event,
    blob_event,
    host_blob_properties,
)
from tests.providers.azure.emulator import ACCOUNT_NAME, Azurite, free_port

MODULE = "providers.azure.function_app"
KEYS = ["red flower.jpg", "unicode/café/日本語 写真.jpg", "deep/a/b/c/nested photo.png"]


@dataclass
class App:
    """A cold-started function app and the containers it works on."""

    module: ModuleType
    source: str
    dest: str
    service: Any

    def __post_init__(self) -> None:
        # Once, as the worker does at indexing: FunctionApp.get_functions() refuses a second call.
        self.functions = {f.get_function_name(): f for f in self.module.app.get_functions()}

    def function(self, name: str) -> Any:
        return self.functions[name]

    def on_event_grid(self, event: Any, *, traceparent: str | None = None) -> None:
        context = as_worker_context("on_event_grid", traceparent=traceparent)
        assert self.function("on_event_grid").get_user_function()(event, context) is None

    def on_blob(self, stream: Any, *, traceparent: str | None = None) -> None:
        context = as_worker_context("on_blob", traceparent=traceparent)
        assert self.function("on_blob").get_user_function()(stream, context) is None

    def upload(self, key: str, body: bytes, content_type: str) -> tuple[Any, str]:
        from azure.storage.blob import ContentSettings

        blob = self.service.get_blob_client(self.source, key)
        blob.upload_blob(body, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return blob.get_blob_properties(), blob.url

    def dest_names(self) -> list[str]:
        return sorted(b.name for b in self.service.get_container_client(self.dest).list_blobs())


def cold_start() -> ModuleType:
    """Import the entrypoint afresh, as a new Functions worker process would."""
    sys.modules.pop(MODULE, None)
    return importlib.import_module(MODULE)


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, new_container: Callable[..., str], azure_service: Any
) -> App:
    source, dest = new_container("src"), new_container("thumbs")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.delenv("THUMBS_STORAGE_CONNECTION", raising=False)
    monkeypatch.setenv("THUMBS_SOURCE_CONTAINER", source)
    monkeypatch.setenv("THUMBS_DEST_BUCKET", dest)
    monkeypatch.setenv("THUMBS_SIZES", "64x64,32x32")
    return App(cold_start(), source, dest, azure_service)


def expected_thumbnails(key: str) -> dict[Any, str]:
    import os

    from providers.azure import PROVIDER

    config = load_config(os.environ, extra_settings=PROVIDER.function_settings)
    return {output.box: output.key for output in config.profiles.outputs_for(key)}


def assert_thumbnails_of(app: App, key: str, source_etag: str) -> None:
    expected = expected_thumbnails(key)
    assert set(expected.values()) <= set(app.dest_names())
    for box, thumb_key in expected.items():
        blob = app.service.get_blob_client(app.dest, thumb_key)
        properties = blob.get_blob_properties()
        content_type = "image/png" if key.endswith(".png") else "image/jpeg"
        assert properties.content_settings.content_type == content_type
        assert properties.content_settings.cache_control == "public, max-age=86400"
        assert properties.metadata["polythumb_source"] == encode_meta_value(key)
        assert properties.metadata["polythumb_source_bucket"] == app.source
        assert properties.metadata["polythumb_source_revision"] == source_etag.strip('"')
        assert properties.metadata["polythumb_box"] == str(box)
        image = open_bytes(blob.download_blob().readall())
        assert image.width <= box.width and image.height <= box.height
        assert max(image.size) == max(box.width, box.height) or min(image.size) == min(box.width, box.height)


def body_for(key: str) -> tuple[bytes, str]:
    return (png_rgba_bytes(), "image/png") if key.endswith(".png") else (jpeg_bytes(), "image/jpeg")


# -- bindings --------------------------------------------------------------------------


def test_functions_and_bindings_are_what_the_host_indexes(app: App) -> None:
    from azure.functions.blob import BlobConverter
    from azure.functions.eventgrid import EventGridEventInConverter

    functions = app.functions
    # Issue 23 added serve_http (its bindings: tests/providers/azure/test_serve_http.py).
    assert sorted(functions) == ["on_backfill_queue", "on_blob", "on_event_grid", "serve_http"]

    grid = functions["on_event_grid"]
    assert json.loads(grid.get_function_json()) == {
        "scriptFile": "function_app.py",
        "bindings": [{"direction": "IN", "type": "eventGridTrigger", "name": "event"}],
    }
    blob = functions["on_blob"]
    assert json.loads(blob.get_function_json())["bindings"] == [
        {"direction": "IN", "type": "blobTrigger", "name": "blob", "path": "%THUMBS_SOURCE_CONTAINER%/{name}",
         "connection": "AzureWebJobsStorage", "source": "EventGrid"},
    ]  # fmt: skip
    # The worker resolves annotations with typing.get_type_hints and checks them against the converter.
    grid_hints = typing.get_type_hints(grid.get_user_function())
    blob_hints = typing.get_type_hints(blob.get_user_function())
    assert EventGridEventInConverter.check_input_type_annotation(grid_hints["event"])
    assert BlobConverter.check_input_type_annotation(blob_hints["blob"])
    assert grid_hints["return"] is type(None) and blob_hints["return"] is type(None)


def test_blob_trigger_connection_follows_the_setting(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, new_container: Callable[..., str]
) -> None:
    monkeypatch.setenv("THUMBS_DEST_BUCKET", new_container("thumbs"))
    monkeypatch.setenv("THUMBS_STORAGE_CONNECTION", "PolythumbImages")
    monkeypatch.setenv("PolythumbImages", azurite.connection_string)
    module = cold_start()
    blob = {f.get_function_name(): f for f in module.app.get_functions()}["on_blob"]
    assert blob.get_bindings_dict()["bindings"][0]["connection"] == "PolythumbImages"


# -- Event Grid route --------------------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("key", KEYS)
def test_created_makes_thumbnails_and_deleted_removes_them(
    app: App, schema: str, key: str, json_logs: JsonLogs
) -> None:
    body, content_type = body_for(key)
    properties, url = app.upload(key, body, content_type)

    app.on_event_grid(as_worker_event(blob_event(app.source, key, schema=schema, properties=properties, url=url)))
    assert_thumbnails_of(app, key, properties.etag)
    outcome = [r for r in json_logs.lines() if r.get("kind") == "created"][-1]
    assert (outcome["status"], outcome["schema"], outcome["route"]) == ("ok", schema, "event_grid")

    app.service.get_blob_client(app.source, key).delete_blob()
    deleted = blob_event(app.source, key, schema=schema, kind="deleted", properties=properties, url=url)
    app.on_event_grid(as_worker_event(deleted))
    assert app.dest_names() == []


def test_func_event_grid_event_built_directly(app: App) -> None:
    import azure.functions as func

    properties, url = app.upload("direct/cat.jpg", jpeg_bytes(320, 200), "image/jpeg")
    raw = blob_event(app.source, "direct/cat.jpg", schema="eventgrid", properties=properties, url=url)
    event = func.EventGridEvent(
        id=raw["id"], data=raw["data"], topic=raw["topic"], subject=raw["subject"], event_type=raw["eventType"],
        event_time=datetime.datetime.now(datetime.UTC), data_version=raw["dataVersion"],
    )  # fmt: skip
    app.on_event_grid(event)
    assert_thumbnails_of(app, "direct/cat.jpg", properties.etag)


def test_duplicate_delivery_does_nothing_twice(app: App, json_logs: JsonLogs) -> None:
    properties, url = app.upload("dup.jpg", jpeg_bytes(), "image/jpeg")
    raw = blob_event(app.source, "dup.jpg", schema="eventgrid", properties=properties, url=url)
    app.on_event_grid(as_worker_event(raw))
    etags = {n: app.service.get_blob_client(app.dest, n).get_blob_properties().etag for n in app.dest_names()}

    app.on_event_grid(as_worker_event(raw))  # Event Grid is at-least-once
    again = {n: app.service.get_blob_client(app.dest, n).get_blob_properties().etag for n in app.dest_names()}
    assert again == etags  # nothing rewritten
    outcomes = [r for r in json_logs.lines() if r.get("kind") == "created"]
    assert [o["status"] for o in outcomes] == ["ok", "skipped"]
    assert outcomes[1]["reason"] == "unchanged"


def test_data_lake_create_file_then_flush_with_close_processes_the_image_once(
    app: App, json_logs: JsonLogs
) -> None:
    # Data Lake: CreateFile makes an empty file (BlobCreated, contentLength 0), appends follow, and
    # FlushWithClose commits them (a second BlobCreated). Azurite has no DFS endpoint, so the two
    # writes are made with the Blob API; the events are the ones Event Grid sends for them.
    empty, url = app.upload("lake/photo.jpg", b"", "application/octet-stream")
    create_file = blob_event(app.source, "lake/photo.jpg", schema="cloudevents", properties=empty, url=url,
                             api="CreateFile")  # fmt: skip
    full, _ = app.upload("lake/photo.jpg", jpeg_bytes(), "image/jpeg")
    flush = blob_event(app.source, "lake/photo.jpg", schema="cloudevents", properties=full, url=url,
                       api="FlushWithClose")  # fmt: skip
    flush["data"]["contentOffset"] = 0

    app.on_event_grid(as_worker_event(create_file))
    assert app.dest_names() == []
    app.on_event_grid(as_worker_event(flush))
    assert_thumbnails_of(app, "lake/photo.jpg", full.etag)

    records = json_logs.lines()
    assert [r.get("status") for r in records if r.get("kind") == "created"] == ["ok"]  # rendered once
    skipped = [r for r in records if r.get("reason") == "intermediate_write"]
    assert len(skipped) == 1 and skipped[0]["event_id"] == create_file["id"]


def test_a_non_image_is_a_permanent_error_logged_not_raised(
    app: App, json_logs: JsonLogs
) -> None:
    properties, url = app.upload("notes/not-a-photo.jpg", b"<html>this is not a JPEG</html>", "image/jpeg")
    app.on_event_grid(as_worker_event(blob_event(app.source, "notes/not-a-photo.jpg", schema="eventgrid",
                                                 properties=properties, url=url)))  # fmt: skip
    assert app.dest_names() == []
    [failure] = [r for r in json_logs.lines() if r.get("status") == "failed"]
    assert failure["severity"] == "ERROR"
    assert failure["error_kind"] in ("not_an_image", "truncated", "unsupported")


def test_malformed_event_is_logged_and_acknowledged(app: App, json_logs: JsonLogs) -> None:
    raw = blob_event(app.source, "x.jpg", schema="eventgrid", url="https://example.invalid/x.jpg")
    raw["subject"] = "/blobServices/default/containers/only-a-container"
    app.on_event_grid(as_worker_event(raw))  # not raised: retrying the same bad event cannot help
    [record] = json_logs.lines()
    assert record["severity"] == "ERROR"
    assert (record["error_kind"], record["event_id"], record["route"]) == ("malformed_event", raw["id"], "event_grid")
    assert "only-a-container" in record["message"]


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [("Microsoft.Storage.BlobTierChanged", "event_type"),
     ("Microsoft.EventGrid.SubscriptionValidationEvent", "subscription_validation")],
)  # fmt: skip
def test_other_event_types_are_acknowledged_and_skipped(
    app: App, event_type: str, reason: str, json_logs: JsonLogs
) -> None:
    properties, url = app.upload("tier.jpg", jpeg_bytes(), "image/jpeg")
    raw = blob_event(app.source, "tier.jpg", schema="eventgrid", properties=properties, url=url)
    raw["eventType"] = event_type
    app.on_event_grid(as_worker_event(raw))
    assert app.dest_names() == []
    [record] = json_logs.lines()
    assert (record["status"], record["reason"], record["severity"]) == ("skipped", reason, "INFO")


def test_events_of_another_container_are_skipped(
    app: App, new_container: Callable[..., str], json_logs: JsonLogs
) -> None:
    other = new_container("other")
    blob = app.service.get_blob_client(other, "elsewhere.jpg")
    blob.upload_blob(jpeg_bytes())
    raw = blob_event(other, "elsewhere.jpg", schema="eventgrid", properties=blob.get_blob_properties(), url=blob.url)
    app.on_event_grid(as_worker_event(raw))
    assert app.dest_names() == []
    assert [r["reason"] for r in json_logs.lines()] == ["other_container"]


def test_transient_storage_errors_raise_so_event_grid_retries(
    app: App, monkeypatch: pytest.MonkeyPatch, json_logs: JsonLogs
) -> None:
    from azure.storage.blob import ExponentialRetry

    from core.runtime import FunctionRuntime
    from providers.azure.connection import resolve_connection
    from providers.azure.storage import BlobStorageOpener

    properties, url = app.upload("outage.jpg", jpeg_bytes(), "image/jpeg")
    raw = blob_event(app.source, "outage.jpg", schema="eventgrid", properties=properties, url=url)
    # The storage account becomes unreachable (nothing listens there); SDK retries off to keep it fast.
    dead = f"AccountName={ACCOUNT_NAME};AccountKey=eA==;BlobEndpoint=http://127.0.0.1:{free_port()}/{ACCOUNT_NAME};"
    no_retry = ExponentialRetry(retry_total=0)
    opener = BlobStorageOpener(resolve_connection("S", environ={"S": dead}), retry_policy=no_retry)
    healthy = app.module.runtime
    monkeypatch.setattr(app.module, "runtime", FunctionRuntime(opener, provider="azure"))

    with pytest.raises(StorageUnavailable) as caught:
        app.on_event_grid(as_worker_event(raw))
    assert isinstance(caught.value, TransientError)
    assert [r["severity"] for r in json_logs.lines()] == ["WARNING"]  # logged once, then raised to the host

    monkeypatch.setattr(app.module, "runtime", healthy)  # the account is back: the redelivery completes
    app.on_event_grid(as_worker_event(raw))
    assert_thumbnails_of(app, "outage.jpg", properties.etag)


# -- blob trigger route ------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_blob_trigger_makes_thumbnails_once(
    app: App, key: str, json_logs: JsonLogs
) -> None:
    body, content_type = body_for(key)
    properties, url = app.upload(key, body, content_type)
    stream = as_input_stream(
        body, blob_trigger=f"{app.source}/{key}", uri=url,
        properties=host_blob_properties(properties), metadata=dict(properties.metadata),
    )  # fmt: skip
    app.on_blob(stream)
    assert_thumbnails_of(app, key, properties.etag)

    app.on_blob(as_input_stream(body, blob_trigger=f"{app.source}/{key}", uri=url,
                                properties=host_blob_properties(properties), metadata={}))  # fmt: skip
    outcomes = [r for r in json_logs.lines() if r.get("kind") == "created"]
    assert [(o["status"], o.get("reason"), o["route"]) for o in outcomes] == [
        ("ok", None, "blob"), ("skipped", "unchanged", "blob"),
    ]  # fmt: skip


def test_blob_trigger_non_image_is_not_raised(app: App, json_logs: JsonLogs) -> None:
    properties, url = app.upload("bad.png", b"\x89PNG\r\n\x1a\n truncated", "image/png")
    app.on_blob(as_input_stream(b"\x89PNG\r\n\x1a\n truncated", blob_trigger=f"{app.source}/bad.png", uri=url,
                                properties=host_blob_properties(properties), metadata={}))  # fmt: skip
    assert app.dest_names() == []
    assert [r["status"] for r in json_logs.lines() if r.get("kind") == "created"] == ["failed"]


# -- cold start --------------------------------------------------------------------------


def test_cold_start_fails_loudly_without_a_destination(monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    with pytest.raises(ConfigError, match="THUMBS_DEST_BUCKET"):
        cold_start()


def test_cold_start_fails_loudly_without_a_storage_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbs")
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__accountName"):
        cold_start()


def test_cold_start_rejects_unknown_thumbs_settings(monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbs")
    monkeypatch.setenv("THUMBS_SOURCE_CONTAINR", "images")
    with pytest.raises(ConfigError, match="THUMBS_SOURCE_CONTAINER"):  # the suggestion names the real one
        cold_start()


# -- issue 17: Data Lake renames and directory deletes, events without a subject --------------------


def vendor_event(name: str, app: App, **replace: str) -> dict[str, Any]:
    """A vendor sample (tests/providers/azure/events) pointed at this test's containers and names."""
    from tests.providers.azure.delivery import load_event

    text = json.dumps(load_event(name)[0]).replace("my-file-system", app.source)
    for old, new in replace.items():
        text = text.replace(old, new)
    return typing.cast(dict[str, Any], json.loads(text))


@pytest.mark.parametrize(
    "sample", ["eventgrid_schema_blobrenamed_datalake_docs.json", "cloudevents_blobrenamed_datalake_docs.json"]
)
def test_a_renamed_file_moves_its_thumbnails(app: App, sample: str) -> None:
    # Before issue 17 BlobRenamed was ignored: the new name had no thumbnails, the old ones became orphans.
    old, new = "lake/my-original-file.jpg", "lake/my-renamed-file.jpg"
    properties, url = app.upload(old, jpeg_bytes(), "image/jpeg")
    app.on_event_grid(as_worker_event(blob_event(app.source, old, schema="eventgrid", properties=properties, url=url)))
    assert_thumbnails_of(app, old, properties.etag)
    # Azurite has no Data Lake rename; the state a RenameFile leaves is the same blob under the new name.
    renamed = app.service.get_blob_client(app.source, new)
    renamed.start_copy_from_url(url)
    app.service.get_blob_client(app.source, old).delete_blob()

    names = {"my-original-file.txt": old, "my-renamed-file.txt": new}
    app.on_event_grid(as_worker_event(vendor_event(sample, app, **names)))

    assert_thumbnails_of(app, new, renamed.get_blob_properties().etag)
    assert set(app.dest_names()) == set(expected_thumbnails(new).values())


@pytest.mark.parametrize(
    "sample",
    ["cloudevents_directorydeleted_datalake_docs.json", "eventgrid_schema_directorydeleted_datalake_docs.json"],
)
def test_a_recursive_directory_delete_removes_every_childs_thumbnails(app: App, sample: str) -> None:
    # Before issue 17 DirectoryDeleted was ignored: every child's thumbnails stayed as orphans.
    inside = ["directory-to-delete/a.jpg", "directory-to-delete/deeper/b c.png"]
    for key in [*inside, "directory-to-delete-not/c.jpg"]:
        body, content_type = body_for(key)
        properties, url = app.upload(key, body, content_type)
        app.on_event_grid(as_worker_event(blob_event(app.source, key, schema="eventgrid", properties=properties,
                                                     url=url)))  # fmt: skip
    app.service.get_container_client(app.dest).upload_blob("directory-to-delete/readme.txt", b"not a thumbnail")
    for key in inside:  # what DeleteDirectory (recursive) does to the source
        app.service.get_blob_client(app.source, key).delete_blob()

    app.on_event_grid(as_worker_event(vendor_event(sample, app)))

    assert app.dest_names() == sorted(
        ["directory-to-delete/readme.txt", *expected_thumbnails("directory-to-delete-not/c.jpg").values()]
    )


def test_an_event_without_subject_is_handled_by_its_url(app: App) -> None:
    key = "no subject/café.jpg"
    properties, url = app.upload(key, jpeg_bytes(), "image/jpeg")  # Azurite's URL: path-style, percent-encoded
    raw = blob_event(app.source, key, schema="cloudevents", properties=properties, url=url)
    del raw["subject"]
    app.on_event_grid(as_worker_event(raw))
    assert_thumbnails_of(app, key, properties.etag)


# -- trace context: the event's own, else the host's invocation -------------------------------------------------

HOST_TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PRODUCER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_worker_would_load_every_function_with_its_context_parameter(app: App) -> None:
    """The worker's indexing rule (azure_functions_worker/functions.py, ``is_context_required`` and
    ``validate_function_params``): every parameter is a binding, except one named ``context``, which must be
    annotated with a class named ``Context``; the worker then passes it the invocation's context."""
    for name, function in app.functions.items():
        user = function.get_user_function()
        parameters = set(inspect.signature(user).parameters)
        bindings = {binding.name for binding in function.get_bindings() if binding.name != "$return"}
        hints = typing.get_type_hints(user)
        assert parameters - bindings <= {"context"}, name
        assert bindings <= parameters, name
        if "context" in parameters:
            assert isinstance(hints["context"], type) and hints["context"].__name__ == "Context", name
    with_context = {name for name, f in app.functions.items()
                    if "context" in inspect.signature(f.get_user_function()).parameters}  # fmt: skip
    assert with_context == {"on_event_grid", "on_blob", "on_backfill_queue"}


def trace_of(json_logs: JsonLogs, kind: str = "created") -> str:
    [line] = [r for r in json_logs.lines() if r.get("kind") == kind and "status" in r]
    return str(line["trace_id"])


def test_an_event_grid_delivery_continues_the_host_s_invocation_trace(app: App, json_logs: JsonLogs) -> None:
    """An Event Grid-schema event carries no trace: the log line joins the host's invocation (Application Insights'
    operation); before, every delivery started a trace of its own."""
    properties, url = app.upload("traced/a.jpg", jpeg_bytes(), "image/jpeg")
    raw = blob_event(app.source, "traced/a.jpg", schema="eventgrid", properties=properties, url=url)
    app.on_event_grid(as_worker_event(raw), traceparent=HOST_TRACE)
    assert trace_of(json_logs) == HOST_TRACE.split("-")[1]


def test_a_cloud_event_s_own_trace_wins_over_the_host_s(app: App, json_logs: JsonLogs) -> None:
    """The producer's trace (the CloudEvents distributed-tracing extension) is the one to continue, as AWS prefers
    a message's own X-Ray header to the invocation's."""
    properties, url = app.upload("traced/b.jpg", jpeg_bytes(), "image/jpeg")
    raw = blob_event(app.source, "traced/b.jpg", schema="cloudevents", properties=properties, url=url)
    raw["traceparent"] = PRODUCER_TRACE
    app.on_event_grid(as_worker_event(raw), traceparent=HOST_TRACE)
    assert trace_of(json_logs) == PRODUCER_TRACE.split("-")[1]


@pytest.mark.parametrize("host_trace", ["not-a-traceparent", "00-" + "0" * 32 + "-b7ad6b7169203331-01", ""])
def test_an_invalid_host_trace_starts_a_new_one(app: App, json_logs: JsonLogs, host_trace: str) -> None:
    properties, url = app.upload("traced/c.jpg", jpeg_bytes(), "image/jpeg")
    raw = blob_event(app.source, "traced/c.jpg", schema="eventgrid", properties=properties, url=url)
    context = as_worker_context("on_event_grid")
    context.trace_context.Traceparent = host_trace
    assert app.function("on_event_grid").get_user_function()(as_worker_event(raw), context) is None
    trace = trace_of(json_logs)
    assert len(trace) == 32 and trace != "0" * 32
    assert_thumbnails_of(app, "traced/c.jpg", properties.etag)


def test_a_blob_trigger_invocation_continues_the_host_s_trace(app: App, json_logs: JsonLogs) -> None:
    body = jpeg_bytes()
    properties, url = app.upload("traced/d.jpg", body, "image/jpeg")
    stream = as_input_stream(
        body, blob_trigger=f"{app.source}/traced/d.jpg", uri=url,
        properties=host_blob_properties(properties), metadata=dict(properties.metadata),
    )  # fmt: skip
    app.on_blob(stream, traceparent=HOST_TRACE)
    assert trace_of(json_logs) == HOST_TRACE.split("-")[1]
