"""End to end through REAL notifications on moto: S3 -> SQS (and SNS, EventBridge) -> the Lambda handler.

Uploads and deletes are done with boto3; moto emits the notifications; the tests read them from SQS and
hand them to ``handler`` exactly as Lambda's event source mapping would, then look at the destination.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.errors import MalformedEvent, StorageUnavailable
from core.keys import META_PARAMS, META_SOURCE, META_SOURCE_BUCKET, META_SOURCE_REVISION, decode_meta_value
from core.once import once
from core.runtime import FunctionRuntime
from providers.aws.handler import LambdaHandler, build_handler
from providers.aws.storage import S3Storage
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes
from tests.log_capture import JsonLogs

from .helpers import LambdaContext, Queue

pytestmark = pytest.mark.aws

SIZES = "160x120,64x64"
TRICKY_KEYS = {
    "plain.jpg": "jpeg",
    "with space/red flower.jpg": "jpeg",
    "plus+sign/a+b.png": "png",
    "unicode/café/日本語 写真.jpg": "jpeg",
    "deep/a/b/c/d/leaf.jpg": "jpeg",
    "symbols/a@b=c&d;e,f(1).png": "png",
}


def settings(dest: str, **extra: str) -> dict[str, str]:
    return {"THUMBS_DEST_BUCKET": dest, "THUMBS_SIZES": SIZES, **extra}


def image_for(key: str) -> tuple[bytes, str]:
    if key.endswith(".png"):
        return png_rgba_bytes(300, 200), "image/png"
    return jpeg_bytes(640, 480), "image/jpeg"


def expected_outputs(dest: str, key: str) -> dict[str, Any]:
    config = load_config(settings(dest))
    return {output.key: output.box for output in config.profiles.outputs_for(key)}


def dead_endpoint() -> str:
    """An address on this machine where nothing listens: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def keys_in(s3_client: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture
def route(new_bucket: Callable[..., str], new_queue: Callable[[], Queue], notify_queue: Any) -> dict[str, Any]:
    source, dest, queue = new_bucket("src"), new_bucket("dst"), new_queue()
    notify_queue(source, queue)
    return {"source": source, "dest": dest, "queue": queue}


def test_uploads_make_thumbnails_and_deletes_remove_them(
    route: dict[str, Any], s3_client: Any, json_logs: JsonLogs
) -> None:
    source, dest, queue = route["source"], route["dest"], route["queue"]
    handler = build_handler(settings(dest), s3_client=s3_client)
    for key in TRICKY_KEYS:
        body, content_type = image_for(key)
        s3_client.put_object(Bucket=source, Key=key, Body=body, ContentType=content_type)

    messages = queue.receive()
    bodies = [json.loads(m["Body"]) for m in messages]
    assert bodies[0]["Event"] == "s3:TestEvent"  # moto, like S3, announces the new configuration first
    assert len(messages) == 1 + len(TRICKY_KEYS)
    context = LambdaContext()
    response = handler(queue.lambda_event(messages), context)
    assert response == {"batchItemFailures": []}
    queue.settle(messages, response)

    for key, fmt in TRICKY_KEYS.items():
        source_etag = s3_client.head_object(Bucket=source, Key=key)["ETag"].strip('"')
        for output_key, box in expected_outputs(dest, key).items():
            head = s3_client.head_object(Bucket=dest, Key=output_key)
            assert head["ContentType"] == f"image/{fmt}"
            assert head["CacheControl"] == "public, max-age=86400"
            meta = head["Metadata"]
            assert decode_meta_value(meta[META_SOURCE]) == key
            assert decode_meta_value(meta[META_SOURCE_BUCKET]) == source
            assert decode_meta_value(meta[META_SOURCE_REVISION]) == source_etag
            assert meta[META_PARAMS]
            assert all(v.isascii() for v in meta.values())
            image = open_bytes(s3_client.get_object(Bucket=dest, Key=output_key)["Body"].read())
            assert image.format == fmt.upper()
            assert image.width <= box.width and image.height <= box.height
            assert max(image.width / box.width, image.height / box.height) > 0.99  # fits the box snugly

    lines = json_logs.lines()
    written = [line for line in lines if line.get("status") == "ok"]
    assert sorted(line["key"] for line in written) == sorted(TRICKY_KEYS)
    for line in written:
        assert line["aws_request_id"] == context.aws_request_id
        assert line["message_id"] in {m["MessageId"] for m in messages}
        assert line["duration_ms"] >= 0 and line["severity"] == "INFO"
    assert any(line.get("reason") == "not_applicable" and "s3:TestEvent" in line["message"] for line in lines)
    assert not any("testing" in json.dumps(line) for line in lines)  # the fake credentials never reach a log

    # Delete the originals: the removal notifications take the thumbnails away.
    for key in TRICKY_KEYS:
        s3_client.delete_object(Bucket=source, Key=key)
    removals = queue.receive()
    assert {json.loads(m["Body"])["Records"][0]["eventName"] for m in removals} == {"ObjectRemoved:Delete"}
    response = handler(queue.lambda_event(removals), LambdaContext())
    assert response == {"batchItemFailures": []}
    assert keys_in(s3_client, dest) == []


def test_duplicate_delivery_does_no_work_twice(route: dict[str, Any], s3_client: Any, json_logs: JsonLogs) -> None:
    source, dest, queue = route["source"], route["dest"], route["queue"]
    handler = build_handler(settings(dest), s3_client=s3_client)
    s3_client.put_object(Bucket=source, Key="dup/photo.jpg", Body=jpeg_bytes())
    event = queue.lambda_event(queue.receive())

    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    first = {k: s3_client.head_object(Bucket=dest, Key=k) for k in keys_in(s3_client, dest)}
    assert len(first) == 2
    json_logs.clear()

    assert handler(event, LambdaContext()) == {"batchItemFailures": []}  # SQS delivers at least once
    second = {k: s3_client.head_object(Bucket=dest, Key=k) for k in keys_in(s3_client, dest)}
    assert {k: h["ETag"] for k, h in second.items()} == {k: h["ETag"] for k, h in first.items()}
    assert {k: h["LastModified"] for k, h in second.items()} == {k: h["LastModified"] for k, h in first.items()}
    [outcome] = [line for line in json_logs.lines() if line.get("key") == "dup/photo.jpg"]
    assert outcome["status"] == "skipped" and outcome["reason"] == "unchanged"
    assert {o["action"] for o in outcome["outputs"]} == {"unchanged"}


def test_a_non_image_is_a_permanent_error_that_is_not_retried(
    route: dict[str, Any], s3_client: Any, json_logs: JsonLogs
) -> None:
    source, dest, queue = route["source"], route["dest"], route["queue"]
    handler = build_handler(settings(dest), s3_client=s3_client)
    s3_client.put_object(Bucket=source, Key="broken/not-really.jpg", Body=b"<html>not an image</html>")
    s3_client.put_object(Bucket=source, Key="fine.jpg", Body=jpeg_bytes())
    messages = queue.receive()

    response = handler(queue.lambda_event(messages), LambdaContext())

    assert response == {"batchItemFailures": []}  # acknowledged: a retry would fail the same way
    [failed] = [line for line in json_logs.lines() if line.get("status") == "failed"]
    assert failed["key"] == "broken/not-really.jpg"
    assert failed["error_kind"] == "not_an_image"
    assert failed["severity"] == "ERROR"
    assert not any(k.startswith("broken/") for k in keys_in(s3_client, dest))  # nothing half-written
    assert len([k for k in keys_in(s3_client, dest) if k.startswith("fine-")]) == 2


def test_transient_errors_name_exactly_their_messages_and_the_retry_completes(
    new_bucket: Callable[..., str],
    new_queue: Callable[[], Queue],
    notify_queue: Any,
    s3_client: Any,
    aws_client: Callable[..., Any],
    json_logs: JsonLogs,
) -> None:
    healthy, broken, dest, queue = new_bucket("ok"), new_bucket("down"), new_bucket("dst"), new_queue()
    notify_queue(healthy, queue)
    notify_queue(broken, queue)
    # Reads of the "down" bucket go to an endpoint where nothing listens: connection refused, a transient error.
    unreachable = aws_client("s3", endpoint_url=dead_endpoint())

    def open_bucket(bucket: str) -> S3Storage:
        return S3Storage(bucket, client=unreachable if bucket == broken else s3_client)

    handler = LambdaHandler(FunctionRuntime(open_bucket, environ=settings(dest)))
    s3_client.put_object(Bucket=healthy, Key="ok.jpg", Body=jpeg_bytes())
    s3_client.put_object(Bucket=broken, Key="later.jpg", Body=jpeg_bytes())
    messages = queue.receive()
    malformed = {**messages[-1], "MessageId": "malformed-1", "Body": "{not json"}
    batch = [*messages, malformed]
    [down_message] = [m for m in messages if f'"{broken}"' in m["Body"] and "Records" in m["Body"]]

    response = handler(queue.lambda_event(batch), LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": down_message["MessageId"]}]}
    lines = json_logs.lines()
    assert any(line.get("error_kind") == "storage_unavailable" and line["key"] == "later.jpg" for line in lines)
    [bad] = [line for line in lines if line.get("message_id") == "malformed-1"]
    assert bad["error_kind"] == "malformed_event" and "S3 event notification" in bad["message"]
    assert "{not json" not in bad["message"]  # payloads are never logged
    assert len(keys_in(s3_client, dest)) == 2  # ok.jpg done

    # Lambda deletes the successes and the failed message comes back; this time S3 answers.
    queue.settle(batch[:-1], response)
    [retried] = queue.receive()
    assert retried["MessageId"] == down_message["MessageId"]
    assert retried["Attributes"]["ApproximateReceiveCount"] == "2"
    recovered = build_handler(settings(dest), s3_client=s3_client)
    assert recovered(queue.lambda_event([retried]), LambdaContext()) == {"batchItemFailures": []}
    assert len(keys_in(s3_client, dest)) == 4


def test_direct_s3_invocation_writes_thumbnails_and_raises_on_transient_errors(
    route: dict[str, Any], s3_client: Any, aws_client: Callable[..., Any]
) -> None:
    source, dest, queue = route["source"], route["dest"], route["queue"]
    s3_client.put_object(Bucket=source, Key="direct/one.jpg", Body=jpeg_bytes())
    s3_client.put_object(Bucket=source, Key="direct/two.png", Body=png_rgba_bytes())
    records = [r for m in queue.receive() for r in json.loads(m["Body"]).get("Records", [])]
    event = {"Records": records}  # S3 -> Lambda delivers this document itself, several records possible

    down = build_handler(settings(dest), s3_client=aws_client("s3", endpoint_url=dead_endpoint()))
    with pytest.raises(StorageUnavailable):
        down(event, LambdaContext())  # raised, so Lambda's asynchronous retry runs the event again

    result = build_handler(settings(dest), s3_client=s3_client)(event, LambdaContext())
    assert [o["status"] for o in result["outcomes"]] == ["ok", "ok"]
    assert len(keys_in(s3_client, dest)) == 4


def test_a_top_level_event_of_another_shape_raises_malformed_event(s3_client: Any, json_logs: JsonLogs) -> None:
    handler = build_handler(settings("unused-bucket"), s3_client=s3_client)
    with pytest.raises(MalformedEvent, match="aws:sqs"):
        handler({"detail-type": "Scheduled Event", "source": "aws.events"}, LambdaContext())
    assert json_logs.lines()[-1]["error_kind"] == "malformed_event"


def test_s3_to_sns_to_sqs_with_envelope_and_raw_delivery_and_sns_to_lambda(
    new_bucket: Callable[..., str],
    new_queue: Callable[[], Queue],
    s3_client: Any,
    aws_client: Callable[..., Any],
) -> None:
    sns = aws_client("sns")
    source, dest = new_bucket("src"), new_bucket("dst")
    enveloped, raw = new_queue(), new_queue()
    topic = sns.create_topic(Name=f"pt-{source}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=enveloped.arn)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw.arn, Attributes={"RawMessageDelivery": "true"})
    s3_client.put_bucket_notification_configuration(
        Bucket=source,
        NotificationConfiguration={"TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]},
    )
    handler = build_handler(settings(dest), s3_client=s3_client)
    s3_client.put_object(Bucket=source, Key="sns/red flower.jpg", Body=jpeg_bytes())
    expected = sorted(expected_outputs(dest, "sns/red flower.jpg"))

    via_envelope = enveloped.receive()
    assert json.loads(via_envelope[-1]["Body"])["Type"] == "Notification"
    assert handler(enveloped.lambda_event(via_envelope), LambdaContext()) == {"batchItemFailures": []}
    assert keys_in(s3_client, dest) == expected

    for key in expected:  # start again from an empty destination for the next route
        s3_client.delete_object(Bucket=dest, Key=key)
    via_raw = raw.receive()
    assert "Records" in json.loads(via_raw[-1]["Body"])
    assert handler(raw.lambda_event(via_raw), LambdaContext()) == {"batchItemFailures": []}
    assert keys_in(s3_client, dest) == expected

    # S3 -> SNS -> Lambda: the same envelope inside Records[].Sns (Lambda spells the URL fields "Url").
    for key in expected:
        s3_client.delete_object(Bucket=dest, Key=key)
    envelope = json.loads(via_envelope[-1]["Body"])
    sns_record = {key.replace("URL", "Url"): value for key, value in envelope.items()}
    event = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": sns_record}]}
    result = handler(event, LambdaContext())
    assert [o["status"] for o in result["outcomes"]] == ["ok"]
    assert keys_in(s3_client, dest) == expected


def test_s3_to_eventbridge_to_sqs_and_to_lambda(
    new_bucket: Callable[..., str], new_queue: Callable[[], Queue], s3_client: Any, aws_client: Callable[..., Any]
) -> None:
    events = aws_client("events")
    source, dest, queue = new_bucket("src"), new_bucket("dst"), new_queue()
    s3_client.put_bucket_notification_configuration(
        Bucket=source, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    rule = f"pt-{source}"
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"],
               "detail": {"bucket": {"name": [source]}}}  # fmt: skip
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue.arn}])
    handler = build_handler(settings(dest), s3_client=s3_client)
    try:
        # moto sends EventBridge keys raw (see providers/aws/README.md); a space decodes the same either way.
        s3_client.put_object(Bucket=source, Key="bridge/red flower.jpg", Body=jpeg_bytes())
        [created] = queue.receive()
        assert json.loads(created["Body"])["detail-type"] == "Object Created"
        assert handler(queue.lambda_event([created]), LambdaContext()) == {"batchItemFailures": []}
        expected = sorted(expected_outputs(dest, "bridge/red flower.jpg"))
        assert keys_in(s3_client, dest) == expected

        s3_client.delete_object(Bucket=source, Key="bridge/red flower.jpg")
        [deleted] = queue.receive()
        # EventBridge -> Lambda delivers the event itself.
        result = handler(json.loads(deleted["Body"]), LambdaContext())
        assert [(o["kind"], o["status"]) for o in result["outcomes"]] == [("deleted", "ok")]
        assert keys_in(s3_client, dest) == []
    finally:
        events.remove_targets(Rule=rule, Ids=["queue"])
        events.delete_rule(Name=rule)


def test_the_module_handler_reads_its_environment_once(
    route: dict[str, Any], s3_client: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``providers.aws.handler.handler`` as Lambda calls it: configured from os.environ, one shared client."""
    from providers.aws import handler as module
    from providers.aws import storage
    from tests.providers.aws.emulator import CREDENTIALS

    monkeypatch.setattr(module, "default_handler", once(module.build_handler))
    monkeypatch.setattr(storage, "shared_client", once(storage.make_client))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    for name, value in settings(route["dest"]).items():
        monkeypatch.setenv(name, value)
    s3_client.put_object(Bucket=route["source"], Key="env/photo.jpg", Body=jpeg_bytes())

    response = module.handler(route["queue"].lambda_event(route["queue"].receive()), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert module.default_handler() is module.default_handler()
    assert storage.shared_client().meta.endpoint_url == moto_endpoint
    assert sorted(keys_in(s3_client, route["dest"])) == sorted(expected_outputs(route["dest"], "env/photo.jpg"))


def test_a_bad_setting_fails_the_lambda_cold_start(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("THUMBS_", "AWS_"))}
    environment |= {"AWS_LAMBDA_FUNCTION_NAME": "polythumb", "THUMBS_SIZES": "big"}
    result = subprocess.run(
        [sys.executable, "-c", "import providers.aws.handler"],
        capture_output=True, text=True, env=environment, cwd=str(Path(__file__).parents[3]),
    )  # fmt: skip
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and "THUMBS_SIZES" in result.stderr


EVENTBRIDGE_SAMPLES = Path(__file__).parent / "events"


@pytest.mark.parametrize(
    "sample",
    ["s3_eventbridge_object_created_special_key_raw_docs.json",
     "s3_eventbridge_object_created_special_key_encoded_docs.json"],
)  # fmt: skip
def test_an_eventbridge_key_with_special_characters_is_found_in_either_form(
    new_bucket: Callable[..., str], s3_client: Any, json_logs: JsonLogs, sample: str
) -> None:
    # Issue 17: AWS does not document whether EventBridge keys are encoded. Before, a key sent raw with
    # "+" or "%" was form-decoded into a key that does not exist, and the image was skipped as missing.
    source, dest = new_bucket("src"), new_bucket("dst")
    stored = "photos/2023-08-08T14:03:40 red flower+1 100%.jpg"
    s3_client.put_object(Bucket=source, Key=stored, Body=jpeg_bytes(), ContentType="image/jpeg")
    event = json.loads((EVENTBRIDGE_SAMPLES / sample).read_text(encoding="utf-8"))
    event["detail"]["bucket"]["name"] = source
    event["resources"] = [f"arn:aws:s3:::{source}"]

    response = build_handler(settings(dest), s3_client=s3_client)(event, LambdaContext())

    [outcome] = response["outcomes"]
    assert (outcome["status"], outcome["key"]) == ("ok", stored)
    assert sorted(keys_in(s3_client, dest)) == sorted(expected_outputs(dest, stored))


def test_the_handler_s_cold_start_loads_no_serve_code_or_local_backend() -> None:
    """As Lambda's init does (AWS_LAMBDA_FUNCTION_NAME set: the runtime and the S3 client are built at import)."""
    from tests.serve_support import event_cold_start

    environ = {"AWS_LAMBDA_FUNCTION_NAME": "polythumb", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true", "THUMBS_DEST_BUCKET": "thumbnails"}  # fmt: skip
    event_cold_start("providers.aws.handler", environ)
