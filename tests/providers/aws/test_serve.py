"""The serve function on moto: Lambda function URL events (payload format 2.0) into ``providers.aws.serve``.

Each request is the event a function URL hands the function (:func:`tests.providers.aws.helpers.function_url_event`);
the originals are uploaded with boto3 and moto's real S3 notifications reach the event handler through SQS, so
"the first request renders, the upload's event then writes nothing" is checked across both real entrypoints.
"""

from __future__ import annotations

import base64
import importlib
import os
import sys
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from core.config import load_config
from core.errors import ConfigError, MalformedEvent
from core.ops.signing import signed_url
from providers.aws.handler import build_handler as build_event_handler
from providers.aws.serve import FunctionUrlHandler, build_handler, request_from_event, response_for
from tests.images import jpeg_bytes, open_bytes
from tests.log_capture import JsonLogs

from .helpers import LambdaContext, Queue, function_url_event

pytestmark = pytest.mark.aws

SIZES = "160x120,48x48"


@pytest.fixture
def buckets(
    new_bucket: Callable[..., str], new_queue: Callable[[], Queue], notify_queue: Callable[[str, Queue], None]
) -> tuple[str, str, Queue]:
    """A source bucket notifying a queue, as the Terraform wires it, and a destination."""
    source, dest = new_bucket("serve-src"), new_bucket("serve-dst")
    queue = new_queue()
    notify_queue(source, queue)
    queue.receive()  # the s3:TestEvent moto sends when the configuration is saved
    return source, dest, queue


def settings(source: str, dest: str, **extra: str) -> dict[str, str]:
    return {"THUMBS_DEST_BUCKET": dest, "THUMBS_SIZES": SIZES, "THUMBS_SERVE_SOURCE_BUCKET": source, **extra}


def get(handler: FunctionUrlHandler, method: str, key: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    answer = handler(function_url_event(method, "/" + quote(key), headers=headers), LambdaContext())
    assert set(answer) == {"statusCode", "headers", "body", "isBase64Encoded"}
    body = base64.b64decode(answer["body"]) if answer["isBase64Encoded"] else answer["body"].encode()
    return answer["statusCode"], answer["headers"], body


def outputs_of(source: str, dest: str, key: str) -> dict[str, Any]:
    return {output.key: output.box for output in load_config(settings(source, dest)).profiles.outputs_for(key)}


def test_a_first_request_renders_and_the_upload_event_then_writes_nothing(
    s3_client: Any, buckets: tuple[str, str, Queue], json_logs: JsonLogs
) -> None:
    source, dest, queue = buckets
    key = "uploads/with space/été a+b.jpg"
    s3_client.put_object(Bucket=source, Key=key, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    handler = build_handler(settings(source, dest), s3_client=s3_client)
    (small, box), (large, _) = sorted(outputs_of(source, dest, key).items(), key=lambda item: item[1].width)

    status, headers, body = get(handler, "GET", small)  # before the upload's event is handled
    assert status == 200, body
    assert headers["X-Polythumb-Cache"] == "miss" and headers["Content-Type"] == "image/jpeg"
    assert open_bytes(body).size == (box.width, round(box.width * 480 / 640))
    stored = s3_client.head_object(Bucket=dest, Key=small)
    assert int(headers["Content-Length"]) == len(body) == stored["ContentLength"]

    # The request rendered the source's every output (one render per source); the upload's notification, through
    # SQS into the event function, then finds them all current and writes nothing.
    assert headers["X-Polythumb-Written"] == "2"
    messages = queue.receive()
    json_logs.clear()
    event_handler = build_event_handler(settings(source, dest), s3_client=s3_client)
    assert event_handler(queue.lambda_event(messages), LambdaContext()) == {"batchItemFailures": []}
    [outcome] = [line for line in json_logs.lines() if line.get("route") == "sqs" and "status" in line]
    assert (outcome["status"], outcome["reason"]) == ("skipped", "unchanged")
    assert {o["key"]: o["action"] for o in outcome["outputs"]} == {small: "unchanged", large: "unchanged"}
    assert s3_client.head_object(Bucket=dest, Key=small)["ETag"] == stored["ETag"]

    status, headers, again = get(handler, "GET", small)  # now a hit: nothing written
    assert (status, headers["X-Polythumb-Cache"], again) == (200, "hit", body)


def test_signed_url_mode_redirects_to_a_presigned_s3_url_with_no_body(
    s3_client: Any, buckets: tuple[str, str, Queue]
) -> None:
    """Past Lambda's 6 MB response limit: the answer is a redirect, the image comes from S3 itself."""
    source, dest, _ = buckets
    key = "uploads/photo.jpg"
    s3_client.put_object(Bucket=source, Key=key, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    handler = build_handler(settings(source, dest, THUMBS_URL_MODE="signed"), s3_client=s3_client)
    output, box = next(iter(outputs_of(source, dest, key).items()))

    answer = handler(function_url_event("GET", "/" + quote(output)), LambdaContext())
    assert answer["statusCode"] == 302 and answer["body"] == "" and answer["isBase64Encoded"] is False
    location = answer["headers"]["Location"]
    assert "X-Amz-Signature=" in location and answer["headers"]["Cache-Control"] == "no-store"
    with urllib.request.urlopen(location, timeout=10) as fetched:  # moto serves the presigned GET
        assert open_bytes(fetched.read()).size[0] == box.width

    status, headers, body = get(handler, "HEAD", output)
    assert (status, body, headers["X-Polythumb-Cache"]) == (302, b"", "hit")


def test_other_methods_are_refused_and_a_path_that_is_no_output_is_a_short_lived_404(
    s3_client: Any, buckets: tuple[str, str, Queue]
) -> None:
    source, dest, _ = buckets
    handler = build_handler(settings(source, dest), s3_client=s3_client)
    status, headers, _ = get(handler, "POST", "uploads/photo-48x48.jpg")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    status, headers, _ = get(handler, "GET", "uploads/photo.jpg")  # an original's key: no output's
    assert (status, headers["Cache-Control"]) == (404, "public, max-age=60")
    assert s3_client.list_objects_v2(Bucket=dest).get("KeyCount", 0) == 0


def test_the_event_is_translated_as_sent_and_the_answer_as_a_function_url_takes_it() -> None:
    event = function_url_event("GET", "/a%2Fb/caf%C3%A9%20x%2B1-48x48.jpg", "w=1&w=2", {"If-None-Match": '"e"'})
    request = request_from_event(event)
    assert request.raw_path == "/a%2Fb/caf%C3%A9%20x%2B1-48x48.jpg"  # encoded still: the core decodes once
    assert request.query == "w=1&w=2" and request.method == "GET"
    assert request.headers["if-none-match"] == '"e"' and request.headers["host"].endswith(".on.aws")

    from core.serve import ServeResponse

    answer = response_for(ServeResponse(200, {"Content-Type": "image/png"}, b"\x89PNG\x00\xff"))
    assert answer == {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                      "body": base64.b64encode(b"\x89PNG\x00\xff").decode(), "isBase64Encoded": True}  # fmt: skip
    assert response_for(ServeResponse(404, {"Cache-Control": "public, max-age=60"}))["body"] == ""


@pytest.mark.parametrize("event", [{"Records": []}, {"rawPath": "/x"}, ["GET", "/x"]])
def test_an_event_that_is_no_function_url_request_is_refused_as_malformed(
    event: Any, s3_client: Any, new_bucket: Callable[..., str]
) -> None:
    source, dest = new_bucket("src"), new_bucket("dst")
    handler = build_handler(settings(source, dest), s3_client=s3_client)
    with pytest.raises(MalformedEvent):
        handler(event, LambdaContext())


def test_a_cold_start_without_the_source_bucket_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In Lambda the handler is built at import: the init fails, loudly, instead of every request."""
    for name in [name for name in list(os.environ) if name.startswith("THUMBS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "polythumb-serve")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("THUMBS_DEST_BUCKET", "thumbs")
    monkeypatch.delitem(sys.modules, "providers.aws.serve")
    with pytest.raises(ConfigError, match="THUMBS_SERVE_SOURCE_BUCKET"):
        importlib.import_module("providers.aws.serve")
    monkeypatch.setenv("THUMBS_SERVE_SOURCE_BUCKET", "originals")
    monkeypatch.delitem(sys.modules, "providers.aws.serve", raising=False)
    module = importlib.import_module("providers.aws.serve")
    assert module.default_handler().runtime.config.serve_source_bucket == "originals"


# -- signing keys from Secrets Manager ----------------------------------------------------------------------------

SECRET_KEYS = "k2:" + "n" * 40 + ",k1:" + "o" * 40  # the first signs, both verify


@pytest.fixture
def keys_secret(aws_client: Callable[..., Any]) -> tuple[Any, str]:
    """A Secrets Manager secret on moto holding THUMBS_SERVE_KEYS, and its client."""
    client = aws_client("secretsmanager")
    arn = client.create_secret(Name=f"polythumb-serve-keys-{uuid.uuid4().hex[:8]}", SecretString=SECRET_KEYS)["ARN"]
    return client, arn


def test_signed_ad_hoc_outputs_verify_with_the_keys_read_from_secrets_manager_at_cold_start(
    s3_client: Any, buckets: tuple[str, str, Queue], keys_secret: tuple[Any, str], json_logs: JsonLogs
) -> None:
    source, dest, queue = buckets
    client, arn = keys_secret
    key = "uploads/photo.jpg"
    s3_client.put_object(Bucket=source, Key=key, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    environ = settings(source, dest, THUMBS_SERVE_ADHOC="true", THUMBS_SERVE_KEYS_SECRET=arn)
    handler = build_handler(environ, s3_client=s3_client, secrets_client=client)
    assert [k.kid for k in handler.runtime.config.serve_keys] == ["k2", "k1"]

    back_end = {name: value for name, value in environ.items() if name != "THUMBS_SERVE_KEYS_SECRET"}
    signer = load_config({**back_end, "THUMBS_SERVE_KEYS": SECRET_KEYS})  # a back end holding the same keys
    url = signed_url(signer, key, width=100, height=100, fit="cover", fmt="webp")
    path, query = url.split("?", 1)
    answer = handler(function_url_event("GET", path, query), LambdaContext())
    assert answer["statusCode"] == 200, answer
    assert open_bytes(base64.b64decode(answer["body"])).size == (100, 100)
    [stored] = s3_client.list_objects_v2(Bucket=dest, Prefix="_polythumb/adhoc/")["Contents"]
    assert stored["Key"] == "_polythumb/adhoc/uploads/photo.jpg/100x100-cover.webp"

    tampered = query.replace("w=100", "w=101")
    assert handler(function_url_event("GET", path, tampered), LambdaContext())["statusCode"] == 403

    # The event function runs with the same settings (the keys read from the same secret): deleting the original
    # deletes its ad-hoc output too.
    queue.receive()
    s3_client.delete_object(Bucket=source, Key=key)
    event_handler = build_event_handler(environ, s3_client=s3_client, secrets_client=client)
    assert event_handler(queue.lambda_event(queue.receive()), LambdaContext()) == {"batchItemFailures": []}
    assert s3_client.list_objects_v2(Bucket=dest, Prefix="_polythumb/adhoc/").get("KeyCount", 0) == 0
    assert "o" * 40 not in json_logs.text() and "n" * 40 not in json_logs.text()


def test_a_secret_that_cannot_be_read_fails_the_cold_start_naming_the_setting(
    s3_client: Any, buckets: tuple[str, str, Queue], keys_secret: tuple[Any, str]
) -> None:
    source, dest, _ = buckets
    client, arn = keys_secret
    missing = arn.replace("polythumb-serve-keys", "polythumb-gone")
    with pytest.raises(ConfigError, match=r"THUMBS_SERVE_KEYS_SECRET=.*ResourceNotFoundException") as caught:
        build_handler(settings(source, dest, THUMBS_SERVE_KEYS_SECRET=missing), s3_client=s3_client,
                      secrets_client=client)  # fmt: skip
    assert "secretsmanager:GetSecretValue" in str(caught.value)
    client.put_secret_value(SecretId=arn, SecretString="   ")
    with pytest.raises(ConfigError, match="holds no text"):
        build_handler(settings(source, dest, THUMBS_SERVE_KEYS_SECRET=arn), s3_client=s3_client, secrets_client=client)
    client.put_secret_value(SecretId=arn, SecretString="k1:tooBrief9")  # read, then refused by the core, value unsaid
    with pytest.raises(ConfigError, match="THUMBS_SERVE_KEYS") as refused:
        build_handler(settings(source, dest, THUMBS_SERVE_KEYS_SECRET=arn), s3_client=s3_client, secrets_client=client)
    assert "tooBrief9" not in str(refused.value)
