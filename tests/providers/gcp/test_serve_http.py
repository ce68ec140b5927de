"""The serve function over HTTP: functions-framework's real server runs ``serve_http`` (signature ``http``) of
providers/gcp/main.py on fake-gcs-server, and the upload's CloudEvent goes to ``handle_cloud_event`` after it.

Requests are sent with ``http.client``, the path byte for byte as a browser sends it (percent-encoded), so the
function's reading of the raw path (decoded once, by the core) is what is tested.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from core.config import load_config
from tests.images import jpeg_bytes, open_bytes
from tests.providers.gcp.deliveries import attributes, object_resource, post_binary, raw_request
from tests.providers.gcp.emulator import FunctionServer

pytestmark = pytest.mark.gcp

FINALIZED = "google.cloud.storage.object.v1.finalized"


@pytest.fixture(scope="module")
def buckets(gcs_new_bucket: Callable[[str], str]) -> tuple[str, str]:
    return gcs_new_bucket("serve-src"), gcs_new_bucket("serve-dst")


@pytest.fixture(scope="module")
def settings(buckets: tuple[str, str]) -> dict[str, str]:
    source, dest = buckets
    return {"THUMBS_DEST_BUCKET": dest, "THUMBS_SIZES": "160x120,48x48", "THUMBS_SERVE_SOURCE_BUCKET": source}


@pytest.fixture(scope="module")
def serve_function(gcp_function_server: Callable[..., FunctionServer], settings: dict[str, str]) -> FunctionServer:
    return gcp_function_server("serve_http", "http", settings)


@pytest.fixture(scope="module")
def event_function(gcp_function_server: Callable[..., FunctionServer], settings: dict[str, str]) -> FunctionServer:
    return gcp_function_server("handle_cloud_event", "cloudevent", settings)


def outputs(settings: dict[str, str], key: str) -> list[tuple[str, Any]]:
    return sorted(((o.key, o.box) for o in load_config(settings).profiles.outputs_for(key)), key=lambda o: o[1].width)


def upload(client: Any, bucket: str, key: str) -> Any:
    blob = client.bucket(bucket).blob(key)
    blob.upload_from_string(jpeg_bytes(640, 480), content_type="image/jpeg")
    return blob


@pytest.mark.parametrize("name", ["plain.jpg", "100% sure/a+b é.jpg", "a%2Fb/slash.jpg"])
def test_a_first_request_renders_and_the_upload_event_then_writes_nothing(
    serve_function: FunctionServer, event_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str],
    settings: dict[str, str], name: str,
) -> None:  # fmt: skip
    source, dest = buckets
    key = f"t-{uuid.uuid4().hex[:8]}/{name}"
    blob = upload(gcs_client, source, key)
    (small, box), (large, _) = outputs(settings, key)

    # As a browser sends it: every character outside the path's own set percent-encoded ("%" as "%25").
    status, headers, body = raw_request(serve_function.url, "GET", "/" + quote(small))
    assert status == 200, (body, serve_function.output()[-3000:])
    assert headers["X-Polythumb-Cache"] == "miss" and headers["X-Polythumb-Written"] == "2"
    assert headers["Content-Type"] == "image/jpeg" and int(headers["Content-Length"]) == len(body)
    assert open_bytes(body).size == (box.width, round(box.width * 480 / 640))
    generations = {out: gcs_client.bucket(dest).get_blob(out).generation for out in (small, large)}

    # The upload's CloudEvent, as Eventarc posts it: both outputs are current, nothing is written.
    attrs = attributes(object_resource(blob), FINALIZED)
    assert post_binary(event_function.url, attrs, object_resource(blob)).status_code == 200
    [record] = [r for r in event_function.records() if r.get("event_id") == attrs["id"] and "status" in r]
    assert (record["status"], record["reason"]) == ("skipped", "unchanged"), record
    assert {out: gcs_client.bucket(dest).get_blob(out).generation for out in (small, large)} == generations

    status, headers, again = raw_request(serve_function.url, "GET", "/" + quote(small))
    assert (status, headers["X-Polythumb-Cache"], again) == (200, "hit", body)
    [line] = [r for r in serve_function.records() if r.get("request") == "serve" and r.get("cache") == "hit"
              and r.get("path") == small]  # fmt: skip
    assert line["route"] == "cloud_function_http" and line["http_status"] == 200


def test_head_answers_the_get_s_headers_without_a_body_and_other_methods_get_405(
    serve_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], settings: dict[str, str]
) -> None:
    source, _ = buckets
    key = f"t-{uuid.uuid4().hex[:8]}/photo.jpg"
    upload(gcs_client, source, key)
    (small, _), _ = outputs(settings, key)
    status, headers, body = raw_request(serve_function.url, "HEAD", "/" + quote(small))
    assert (status, body) == (200, b"")
    _, got, image = raw_request(serve_function.url, "GET", "/" + quote(small))
    assert headers["Content-Length"] == got["Content-Length"] == str(len(image))
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = raw_request(serve_function.url, method, "/" + quote(small))
        assert (status, headers["Allow"]) == (405, "GET, HEAD")


def test_a_missing_source_is_a_short_lived_404_and_writes_nothing(
    serve_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str]
) -> None:
    _, dest = buckets
    path = f"/t-{uuid.uuid4().hex[:8]}/never-uploaded-48x48.jpg"
    """The framework's own 404s would answer the first two without the core (and a path holding "//" is no output
    key: keys are rendered with runs of "/" collapsed)."""
    status, headers, _ = raw_request(serve_function.url, "GET", path)
    assert (status, headers["Cache-Control"]) == (404, "public, max-age=60")
    assert gcs_client.bucket(dest).get_blob(path[1:]) is None


@pytest.mark.parametrize("path", ["/robots.txt", "/favicon.ico", "/a//b-48x48.jpg"])
def test_the_paths_functions_framework_keeps_for_itself_get_the_core_s_answer(
    serve_function: FunctionServer, path: str
) -> None:
    """The framework's own 404s would answer the first two without the core (and a path holding "//" is no output
    key: keys are rendered with runs of "/" collapsed)."""
    status, headers, _ = raw_request(serve_function.url, "GET", path)
    assert (status, headers["Cache-Control"], headers["X-Content-Type-Options"]) == (404, "public, max-age=60",
                                                                                     "nosniff")  # fmt: skip
    [line] = [r for r in serve_function.records() if r.get("request") == "serve" and r.get("path") == path[1:]]
    assert line["refusal"] == "not_an_output"


def test_a_template_no_path_reads_back_through_fails_the_serve_function_s_cold_start(
    gcp_function_server: Callable[..., FunctionServer], settings: dict[str, str]
) -> None:
    """Refused at start, naming the setting: the server never comes up (the deploy's health check fails)."""
    with pytest.raises(RuntimeError, match="THUMBS_KEY_TEMPLATE") as caught:
        gcp_function_server("serve_http", "http", {**settings, "THUMBS_KEY_TEMPLATE": "all/{stem}.{ext}"})
    assert "exited" in str(caught.value)


def test_the_event_functions_cold_start_loads_no_serve_code_or_local_backend() -> None:
    """main.py is every GCP function's source: the event functions never load the serve path."""
    from tests.serve_support import METRIC_TABLE, event_cold_start

    environ = {"GOOGLE_CLOUD_PROJECT": "bench", "THUMBS_DEST_BUCKET": "thumbnails"}
    # The delivery writes the fields; the cloud reads them from the line.
    assert METRIC_TABLE not in event_cold_start("providers.gcp.main", environ)
