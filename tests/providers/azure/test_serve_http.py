"""The serve trigger on Azurite: ``serve_http`` found through ``app.get_functions()``, invoked as the host invokes it.

Each request is the ``func.HttpRequest`` the Python worker decodes from the host's message (the library's own
converter), its answer encoded back by the library's converter; the upload's Event Grid event then goes to
``on_event_grid`` of the same cold-started app.
"""

from __future__ import annotations

import importlib
import json
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote

import pytest

from core.config import load_config
from core.errors import ConfigError
from providers.azure import PROVIDER
from providers.azure.serve import MOUNT, request_from_http
from tests.images import jpeg_bytes, open_bytes
from tests.log_capture import JsonLogs
from tests.providers.azure.delivery import (
    as_host_response,
    as_http_request,
    as_worker_context,
    as_worker_event,
    blob_event,
)
from tests.providers.azure.emulator import Azurite

pytestmark = pytest.mark.azure

MODULE = "providers.azure.function_app"


@dataclass
class ServeApp:
    """A cold-started function app with the serve trigger switched on (THUMBS_SERVE_SOURCE_BUCKET set)."""

    module: ModuleType
    source: str
    dest: str
    service: Any

    def __post_init__(self) -> None:
        self.functions = {f.get_function_name(): f for f in self.module.app.get_functions()}  # once, as the worker

    def request(self, method: str, key: str, query: str = "", **headers: str) -> tuple[int, Any, bytes]:
        path = f"{MOUNT}/{quote(key)}"
        request = as_http_request(method, path, query, headers, route_params={"path": key})
        return as_host_response(self.functions["serve_http"].get_user_function()(request))

    def upload(self, key: str) -> Any:
        from azure.storage.blob import ContentSettings

        blob = self.service.get_blob_client(self.source, key)
        blob.upload_blob(jpeg_bytes(640, 480), overwrite=True, content_settings=ContentSettings("image/jpeg"))
        return blob

    def outputs(self, key: str) -> list[tuple[str, Any]]:
        import os

        config = load_config(os.environ, extra_settings=PROVIDER.function_settings)
        return sorted(((o.key, o.box) for o in config.profiles.outputs_for(key)), key=lambda o: o[1].width)


def cold_start() -> ModuleType:
    sys.modules.pop(MODULE, None)
    return importlib.import_module(MODULE)


@pytest.fixture
def serve_app(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, new_container: Callable[..., str], azure_service: Any
) -> ServeApp:
    source, dest = new_container("src"), new_container("thumbs")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.delenv("THUMBS_STORAGE_CONNECTION", raising=False)
    for name, value in {"THUMBS_SOURCE_CONTAINER": source, "THUMBS_DEST_BUCKET": dest, "THUMBS_SIZES": "160x120,48x48",
                        "THUMBS_SERVE_SOURCE_BUCKET": source}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return ServeApp(cold_start(), source, dest, azure_service)


def test_the_http_trigger_is_indexed_anonymous_on_every_method_under_thumbs(serve_app: ServeApp) -> None:
    from azure.functions.http import HttpRequestConverter, HttpResponseConverter

    serve = serve_app.functions["serve_http"]
    bindings = json.loads(serve.get_function_json())["bindings"]
    [trigger] = [b for b in bindings if b["type"] == "httpTrigger"]
    assert trigger == {"direction": "IN", "type": "httpTrigger", "name": "request", "authLevel": "ANONYMOUS",
                       "route": "thumbs/{*path}"}  # fmt: skip  (no "methods": the core answers 405 itself)
    assert [b for b in bindings if b["type"] == "http"] == [{"direction": "OUT", "type": "http", "name": "$return"}]
    hints = typing.get_type_hints(serve.get_user_function())
    assert HttpRequestConverter.check_input_type_annotation(hints["request"])
    assert HttpResponseConverter.check_output_type_annotation(hints["return"])


@pytest.mark.parametrize("name", ["photo.jpg", "100% sure/a+b é.jpg"])
def test_a_first_request_renders_and_the_upload_event_then_writes_nothing(
    serve_app: ServeApp, json_logs: JsonLogs, name: str
) -> None:
    key = f"uploads/{name}"
    blob = serve_app.upload(key)
    (small, box), (large, _) = serve_app.outputs(key)

    status, headers, body = serve_app.request("GET", small)
    assert status == 200, body
    assert headers["x-polythumb-cache"] == "miss" and headers["x-polythumb-written"] == "2"
    assert headers["content-type"] == "image/jpeg" and headers["content-length"] == str(len(body))
    assert open_bytes(body).size == (box.width, round(box.width * 480 / 640))
    container = serve_app.service.get_container_client(serve_app.dest)
    etags = {out: container.get_blob_client(out).get_blob_properties().etag for out in (small, large)}

    # The upload's event, from the blob's real properties, into on_event_grid: nothing left to write.
    json_logs.clear()
    event = blob_event(serve_app.source, key, schema="eventgrid", properties=blob.get_blob_properties(), url=blob.url)
    context = as_worker_context("on_event_grid")
    assert serve_app.functions["on_event_grid"].get_user_function()(as_worker_event(event), context) is None
    [outcome] = [line for line in json_logs.lines() if line.get("event_id") == event["id"] and "status" in line]
    assert (outcome["status"], outcome["reason"]) == ("skipped", "unchanged")
    assert {out: container.get_blob_client(out).get_blob_properties().etag for out in (small, large)} == etags

    status, headers, again = serve_app.request("GET", small)
    assert (status, headers["x-polythumb-cache"], again) == (200, "hit", body)
    [line] = [r for r in json_logs.lines() if r.get("request") == "serve" and r.get("cache") == "hit"]
    assert line["route"] == "http_trigger" and line["path"] == small


def test_head_keeps_the_get_s_length_and_other_methods_get_405(serve_app: ServeApp) -> None:
    serve_app.upload("uploads/photo.jpg")
    (small, _), _ = serve_app.outputs("uploads/photo.jpg")
    _, got, image = serve_app.request("GET", small)
    status, headers, body = serve_app.request("HEAD", small)
    assert (status, body, headers["content-length"]) == (200, b"", got["content-length"]) and image
    status, headers, _ = serve_app.request("DELETE", small)
    assert (status, headers["allow"]) == (405, "GET, HEAD")


def test_the_mount_is_cut_from_the_url_as_sent_not_from_the_decoded_route_parameter() -> None:
    """``/api/thumbs/a%252F.jpg`` names the key ``a%2F.jpg``; the host's route parameter says ``a%2F.jpg`` decoded
    once already, and decoding that again would name ``a/.jpg``."""
    request = as_http_request("GET", "/api/thumbs/a%252Fb%20c-48x48.jpg", "x=1", route_params={"path": "a%2Fb c"})
    served = request_from_http(request)
    assert (served.raw_path, served.query) == ("/a%252Fb%20c-48x48.jpg", "x=1")
    assert unquote(served.raw_path) == "/a%2Fb c-48x48.jpg"
    assert request_from_http(as_http_request("GET", "/API/Thumbs/x-48x48.jpg")).raw_path == "/x-48x48.jpg"
    assert request_from_http(as_http_request("GET", "/api/thumbs")).raw_path == "/"
    assert served.headers["user-agent"] == "Mozilla/5.0"


def test_a_template_no_path_reads_back_through_fails_the_app_s_cold_start(
    serve_app: ServeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUMBS_KEY_TEMPLATE", "all/{stem}-{width}x{height}.{ext}")
    with pytest.raises(ConfigError, match="THUMBS_KEY_TEMPLATE"):
        cold_start()
    monkeypatch.delenv("THUMBS_SERVE_SOURCE_BUCKET")  # serve off: the event functions start as before
    assert "serve_http" in {f.get_function_name() for f in cold_start().app.get_functions()}


def test_the_event_functions_cold_start_loads_no_serve_code_or_local_backend() -> None:
    """The app's event triggers share its cold start with serve_http: the serve path loads on its first request."""
    from tests.serve_support import METRIC_TABLE, event_cold_start

    environ = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "THUMBS_DEST_BUCKET": "thumbnails"}
    # The delivery writes the fields; the cloud reads them from the line.
    assert METRIC_TABLE not in event_cold_start("providers.azure.function_app", environ)
