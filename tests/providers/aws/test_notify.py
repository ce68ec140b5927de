"""Completion on AWS, on moto: SNS -> SQS and EventBridge -> SQS from the real Lambda handler, and S3 presign.

The handler is driven as :mod:`tests.e2e.rigs` drives it: S3's own notification on an SQS queue, handed
to the handler in the event Lambda's event source mapping builds, its partial batch response settled.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from core.completion.naming import manifest_key
from providers.aws.notify import EVENTBRIDGE_SOURCE, EventBridgeNotifier, SnsNotifier, sign_url
from providers.aws.storage import S3Storage
from tests.completion.servers import RawServer, hanging
from tests.completion.support import validate_event
from tests.images import jpeg_bytes
from tests.providers.aws.helpers import LambdaContext
from tests.providers.aws.rig import Entrypoint as AwsRig
from tests.providers.aws.rig import entrypoint

pytestmark = pytest.mark.aws


def _queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"pt-notify-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        for message in batch:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class Targets:
    """An SNS topic and an EventBridge rule, each delivering to its own SQS queue."""

    def __init__(self, aws_client: Callable[..., Any], sqs: Any) -> None:
        self.sns, self.events, self.sqs = aws_client("sns"), aws_client("events"), sqs
        suffix = uuid.uuid4().hex[:10]
        self.topic_arn = f"arn:aws:sns:us-east-1:123456789012:pt-{suffix}"
        self.sns_queue, self._sns_queue_arn = _queue(sqs)
        self.bus = f"pt-bus-{suffix}"
        self.events.create_event_bus(Name=self.bus)
        self.bus_queue, bus_queue_arn = _queue(sqs)
        self.events.put_rule(Name=f"pt-{suffix}", EventBusName=self.bus,
                             EventPattern=json.dumps({"source": [EVENTBRIDGE_SOURCE]}))  # fmt: skip
        self.events.put_targets(Rule=f"pt-{suffix}", EventBusName=self.bus,
                                Targets=[{"Id": "queue", "Arn": bus_queue_arn}])  # fmt: skip

    def create_topic(self) -> None:
        """Create the topic (the ARN is known before: a test can publish to it while it does not exist)."""
        created = self.sns.create_topic(Name=self.topic_arn.rsplit(":", 1)[1])["TopicArn"]
        assert created == self.topic_arn
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self._sns_queue_arn,
                           Attributes={"RawMessageDelivery": "true"})  # fmt: skip

    def from_sns(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in _drain(self.sqs, self.sns_queue)]

    def from_eventbridge(self) -> list[dict[str, Any]]:
        envelopes = [json.loads(body) for body in _drain(self.sqs, self.bus_queue)]
        assert all(e["source"] == EVENTBRIDGE_SOURCE and e["detail-type"] == e["detail"]["type"] for e in envelopes)
        return [e["detail"] for e in envelopes]


@pytest.fixture
def targets(aws_client: Callable[..., Any], sqs_client: Any) -> Targets:
    return Targets(aws_client, sqs_client)


@pytest.fixture
def rig(request: pytest.FixtureRequest, targets: Targets, aws_client: Callable[..., Any]) -> Iterator[AwsRig]:
    settings = {"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"sns:{targets.topic_arn},eventbridge:{targets.bus}",
                "THUMBS_URL_MODE": "signed", "THUMBS_URL_TTL": "10m"}  # fmt: skip
    made = _on_moto(entrypoint(request, in_place=False, extra=settings), targets)
    yield made
    made.close()


def _on_moto(made: AwsRig, targets: Targets) -> AwsRig:
    """``made``, whose handler built its notifiers from THUMBS_NOTIFY: the same ones, on the moto server's clients."""
    completion = made._handler.runtime.completion
    assert [type(n) for n in completion.notifiers] == [SnsNotifier, EventBridgeNotifier]
    completion.notifiers = [SnsNotifier(targets.topic_arn, sns_client=targets.sns),
                            EventBridgeNotifier(targets.bus, events_client=targets.events)]  # fmt: skip
    return made


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


def test_ready_reaches_sns_and_eventbridge_with_working_signed_urls(rig: AwsRig, targets: Targets) -> None:
    targets.create_topic()
    key = rig.key("photos/cat.jpg")
    rig.upload(key, jpeg_bytes(400, 300))
    assert rig.deliver_created(key).status == "ok"

    (via_sns,), (via_bus,) = targets.from_sns(), targets.from_eventbridge()
    assert via_sns == via_bus
    validate_event(via_sns)
    assert via_sns["type"] == "dev.polythumb.thumbnails.ready" and via_sns["subject"] == key
    for output in via_sns["data"]["outputs"]:  # pre-signed GETs that S3 (moto) serves
        assert "X-Amz-Signature=" in output["url"] and "X-Amz-Expires=600" in output["url"]
        assert _get(output["url"]) == rig.read_body(output["key"])
    assert json.loads(_get(via_sns["data"]["manifest"]["url"]))["source"]["key"] == key

    again = rig.deliver_created(key)
    assert again.reason == "unchanged"
    (repeat,) = targets.from_sns()
    assert repeat["id"] == via_sns["id"] and targets.from_eventbridge()[0]["id"] == via_sns["id"]


def test_failed_and_deleted_events(rig: AwsRig, targets: Targets) -> None:
    targets.create_topic()
    bad, good = rig.key("x/bad.jpg"), rig.key("x/good.jpg")
    rig.upload(bad, b"<html>not an image</html>")
    rig.upload(good, jpeg_bytes(200, 100))
    assert rig.deliver_created(bad).error_kind == "not_an_image"
    assert rig.deliver_created(good).status == "ok"
    assert rig.deliver_deleted(good).status == "ok"
    types = [(e["subject"], e["type"].rsplit(".", 1)[1]) for e in targets.from_sns()]
    assert types == [(bad, "failed"), (good, "ready"), (good, "deleted")]
    assert manifest_key(rig.config, good) not in rig.read_outputs()


def test_a_missing_topic_is_retried_by_sqs_and_loses_nothing(rig: AwsRig, targets: Targets) -> None:
    """The topic does not exist yet: the message comes back (batchItemFailures); once it does, only the event goes."""
    key = rig.key("later/photo.jpg")
    rig.upload(key, jpeg_bytes(300, 200))
    first = rig.deliver_created(key)
    assert first.verdict == "retry"
    written = {k: info.revision for k, info in rig.read_outputs().items()}
    assert manifest_key(rig.config, key) in written  # the outputs were stored before the publish failed

    targets.create_topic()
    again = rig.deliver_created(key)  # the same S3 event, as SQS redelivers it
    assert (again.verdict, again.reason) == ("acknowledged", "unchanged")
    assert {k: info.revision for k, info in rig.read_outputs().items()} == written
    (event,) = targets.from_sns()
    validate_event(event)
    assert event["type"] == "dev.polythumb.thumbnails.ready" and event["subject"] == key


def test_presign_signs_for_the_store_only(s3_client: Any, new_bucket: Callable[..., str]) -> None:
    bucket = new_bucket("presign")
    s3_client.put_object(Bucket=bucket, Key="a b/c.jpg", Body=b"bytes")
    url = sign_url(S3Storage(bucket, client=s3_client), "a b/c.jpg", 60).url
    assert _get(url) == b"bytes"
    with pytest.raises(TypeError):
        sign_url(object(), "k", 60)  # type: ignore[arg-type]


# -- issue 20: a hanging webhook in an SQS batch; an event over SNS's 256 KiB ------------------------------


@dataclass
class _ShortContext(LambdaContext):
    """An invocation with ``remaining_ms`` left, as Lambda's context says it."""

    remaining_ms: int = 3_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_hanging_target_costs_one_wait_per_sqs_batch_and_every_message_comes_back(
    request: pytest.FixtureRequest,
) -> None:
    """Four S3 notifications in one SQS batch, a webhook that never answers: the batch ends in the invocation's
    time (not 4 x 15 s), and all four messages are reported for retry, their thumbnails already written."""
    hang = RawServer(hanging)
    settings = {"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"{hang.url}/hook", "THUMBS_NOTIFY_SECRET": "k" * 16}
    made = entrypoint(request, in_place=False, extra=settings)
    try:
        keys = [made.key(f"batch/{n}.jpg") for n in range(4)]
        for key in keys:
            made.upload(key, jpeg_bytes(120, 80))
        messages = [made._message_for("ObjectCreated", key) for key in keys]
        started = time.monotonic()
        answer = made._handler(made._queue.lambda_event(messages), _ShortContext(remaining_ms=3_000))
        elapsed = time.monotonic() - started
        assert sorted(item["itemIdentifier"] for item in answer["batchItemFailures"]) == sorted(
            message["MessageId"] for message in messages
        )
        assert elapsed < 3.0, elapsed  # within the invocation: Lambda would otherwise redeliver the whole batch
        assert hang.connections == 1
        stored = made.read_outputs()
        assert all(manifest_key(made.config, key) in stored for key in keys)
    finally:
        made.close()
        hang.close()


@pytest.fixture
def many_outputs(request: pytest.FixtureRequest, targets: Targets) -> Iterator[AwsRig]:
    """The SNS + EventBridge rig with 128 outputs (64 sizes, the most, in JPEG and WebP) and signed URLs: a
    ready event with URLs is over 256 KiB."""
    profiles = {"profiles": {"many": {"match": ["*"], "sizes": [str(n) for n in range(8, 72)],
                                      "formats": ["jpeg", "webp"]}}}
    settings = {"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"sns:{targets.topic_arn},eventbridge:{targets.bus}",
                "THUMBS_URL_MODE": "signed", "THUMBS_PROFILES": json.dumps(profiles)}  # fmt: skip
    made = _on_moto(entrypoint(request, in_place=False, extra=settings), targets)
    yield made
    made.close()


def test_an_event_over_256_kib_reaches_sns_without_urls(many_outputs: AwsRig, targets: Targets) -> None:
    targets.create_topic()
    key = many_outputs.key("long/" + "n" * 900 + ".jpg")  # 128 presigned URLs of ~2 KB each
    many_outputs.upload(key, jpeg_bytes(160, 120))
    assert many_outputs.deliver_created(key).status == "ok"  # before: SNS refused it, retried to the DLQ
    (via_sns,), (via_bus,) = targets.from_sns(), targets.from_eventbridge()
    assert via_sns == via_bus
    validate_event(via_sns)
    data = via_sns["data"]
    assert data["urls_omitted"] is True and len(data["outputs"]) == 128
    assert all("url" not in output for output in data["outputs"])
    manifest = json.loads(_get(data["manifest"]["url"]))  # the manifest's signed URL works, and lists every URL
    assert len(manifest["outputs"]) == 128 and all("X-Amz-Signature=" in o["url"] for o in manifest["outputs"])


def test_each_client_is_made_on_the_first_publish_once_however_many_threads_publish(
    targets: Targets, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import providers.aws.notify as module
    from tests.providers.aws.emulator import CREDENTIALS, REGION

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # what Lambda's boto3 reads, pointed at moto
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    made: list[str] = []
    real = module._notify_client

    def counting(service: str) -> Any:
        made.append(service)
        time.sleep(0.05)  # a slow first creation: every other thread arrives while it runs
        return real(service)

    monkeypatch.setattr(module, "_notify_client", counting)
    targets.create_topic()
    notifiers = [SnsNotifier(targets.topic_arn), EventBridgeNotifier(targets.bus)]
    assert made == []  # the handler builds its notifiers at cold start: no client, no credentials read there
    event = {"specversion": "1.0", "id": "e-1", "type": "dev.polythumb.thumbnails.ready", "subject": "a.jpg"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda notifier: notifier.publish(event), notifiers * 8))
    assert sorted(made) == ["events", "sns"]
    assert len(targets.from_sns()) == len(targets.from_eventbridge()) == 8
