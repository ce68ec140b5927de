"""The AWS rig: S3 -> SQS -> Lambda on moto, for every shared suite (see :mod:`tests.rigs`).

* storage (``s3``): a fresh bucket on moto's server behind :class:`providers.aws.storage.S3Storage`;
* end to end: moto's S3 sends its real notification to an SQS queue; the message is handed to the Lambda
  handler in the event Lambda's SQS event source mapping builds (partial batch response);
* reliability: the same route, the function's client built by the provider's ``make_client`` from the
  environment Lambda gives it (``AWS_ENDPOINT_URL``), pointed at a fault proxy;
* backfill: ``polythumb backfill --target aws`` sends S3-shaped messages to SQS, drained into the handler;
* serve: each request is the event a Lambda function URL (payload format 2.0) hands the serve function
  (``providers.aws.serve``), the answer read back as the function URL would send it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote_plus

import pytest

from core.config import Config, load_config
from core.events import EventKind, ObjectEvent
from core.runtime import FunctionRuntime
from core.storage.port import Storage
from tests.contract.raw import RawObject, RequestLog
from tests.images import jpeg_bytes
from tests.log_capture import JsonLogs
from tests.providers.aws.emulator import CREDENTIALS, REGION
from tests.providers.aws.helpers import EVENTS, LambdaContext, Queue, function_url_event
from tests.reliability.faultproxy import FaultProxy, Rule, http_error
from tests.rigs.base import (
    EVENT_TIMEOUT,
    SETTINGS,
    Attempt,
    DeliveryReport,
    EntrypointRig,
    FaultRig,
    Notification,
    Schedule,
    guess_content_type,
    outcome_fields,
)

pytest_plugins = ["tests.providers.aws.emulator"]

from tests.providers.aws.observability_check import check_metric_lines, runaway_fires  # noqa: E402, F401  (the rig's hooks)

NAME = "aws"
STORES = ("s3",)
#: The optional suites this rig serves (tests/e2e/test_serve.py: the function URL of the serve function).
CAPABILITIES = ("serve",)
REQUIRES = ("boto3", "moto.server")
ROOT = Path(__file__).resolve().parents[3]
#: The vendor payloads the entrypoint's parsers are checked against.
SAMPLES = Path(__file__).resolve().parent / "events"


def _queue(s3: Any, sqs: Any, bucket: str, label: str) -> Queue:
    """A new SQS queue receiving the bucket's created and removed notifications, as the Terraform wires it."""
    url = sqs.create_queue(QueueName=f"pt-{label}-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": EVENTS}]}
    )
    return Queue(sqs, url, arn)


def _s3_record(message: Mapping[str, Any]) -> dict[str, Any] | None:
    body = json.loads(message["Body"])
    records = body.get("Records") if isinstance(body, dict) else None
    return records[0] if records else None


# -- end to end -----------------------------------------------------------------------------------


class Entrypoint(EntrypointRig):
    """S3 -> SQS -> Lambda on moto: real notifications, the handler's partial batch responses."""

    name = NAME

    def __init__(
        self,
        *,
        s3_client: Any,
        sqs_client: Any,
        new_bucket: Callable[..., str],
        in_place: bool,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        from providers.aws.handler import build_handler
        from providers.aws.storage import S3Storage

        source = new_bucket("e2e-src")
        dest = source if in_place else new_bucket("e2e-dst")
        settings = {**SETTINGS, **(extra or {}), "THUMBS_DEST_BUCKET": dest}
        super().__init__(
            source=S3Storage(source, client=s3_client),
            dest=S3Storage(dest, client=s3_client),
            settings=settings,
            provider=NAME,
        )
        self._s3 = s3_client
        self._settings = settings
        self._queue = _queue(s3_client, sqs_client, source, "e2e")
        self._handler = build_handler(settings, s3_client=s3_client)
        self._serve_handler: Callable[..., dict[str, Any]] | None = None
        self._logs = JsonLogs().attach()
        self._all_logs = JsonLogs().attach()  # never cleared: what the platform's log store would hold
        self._inbox: list[dict[str, Any]] = []
        self._created: dict[str, dict[str, Any]] = {}

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        kind = guess_content_type(key, content_type)
        self._s3.put_object(Bucket=self.source_bucket, Key=key, Body=body, ContentType=kind)

    def log_lines(self) -> list[dict[str, Any]]:
        return self._own(self._all_logs.lines())

    def deliver_rewritten(self, key: str) -> DeliveryReport:
        self._created.pop(key, None)  # the latest write's own event, not the first one's again
        return self.deliver_created(key)

    def deliver_created(self, key: str) -> DeliveryReport:
        duplicate = key in self._created
        message = self._created[key] if duplicate else self._message_for("ObjectCreated", key)
        self._created[key] = message
        return self._invoke(message, settle=not duplicate)  # a duplicate is the same S3 event delivered again

    def deliver_deleted(self, key: str) -> DeliveryReport:
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

    def _invoke(self, message: dict[str, Any], *, settle: bool) -> DeliveryReport:
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
            DeliveryReport(
                acknowledged=message["MessageId"] not in failed,
                envelope={"Records[].s3.object.key": raw_key},
                handler_ms=elapsed,
                answer="batchItemFailures: " + ("[<messageId>]" if failed else "[]"),
                **outcome_fields(outcome),
            )
        )

    def serve(
        self, method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        """One request to the serve function's URL: the payload 2.0 event in, its answer as the URL sends it."""
        from requests.structures import CaseInsensitiveDict

        answer = self.serve_handler()(function_url_event(method, path, query, dict(headers or {})), LambdaContext())
        body = answer.get("body") or ""
        raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        return int(answer["statusCode"]), CaseInsensitiveDict(answer.get("headers") or {}), raw

    def serve_handler(self) -> Callable[..., dict[str, Any]]:
        """The serve function (one warm container), with this rig's settings and its source bucket."""
        if self._serve_handler is None:
            from providers.aws.serve import build_handler

            settings = {**self._settings, "THUMBS_SERVE_SOURCE_BUCKET": self.source_bucket}
            self._serve_handler = build_handler(settings, s3_client=self._s3)
        return self._serve_handler

    def close(self) -> None:
        self._logs.detach()
        self._all_logs.detach()


def entrypoint(
    request: pytest.FixtureRequest, *, in_place: bool, extra: Mapping[str, str] | None = None
) -> Entrypoint:
    """The end-to-end rig (see :class:`Entrypoint`), with ``extra`` THUMBS_* settings if given."""
    return Entrypoint(
        s3_client=request.getfixturevalue("s3_client"),
        sqs_client=request.getfixturevalue("sqs_client"),
        new_bucket=request.getfixturevalue("new_bucket"),
        in_place=in_place,
        extra=extra,
    )


# -- reliability -----------------------------------------------------------------------------------

#: Credentials an SDK error message could echo (planted by the log-redaction test).
CANARIES = {
    "AWS_ACCESS_KEY_ID": "AKIAPOLYTHUMBCANARY7",
    "AWS_SECRET_ACCESS_KEY": "polythumb/Secret+Canary/0123456789abcdefghijKLMN",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEPolythumbSessionCanaryToken0123456789",
}


class Faulty(FaultRig):
    """S3 -> SQS -> Lambda on moto, the function's S3 client behind a fault proxy."""

    patterns: ClassVar[dict[str, tuple[str, str]]] = {
        "source_read": ("GET", "^/{source}/"),
        "dest_write": ("PUT", "^/{dest}/"),
        "source_head": ("HEAD", "^/{source}/"),
    }

    partial_batch = True

    def __init__(self, request: pytest.FixtureRequest, proxy: FaultProxy, **kwargs: Any) -> None:
        self.s3 = request.getfixturevalue("s3_client")
        self.sqs = request.getfixturevalue("sqs_client")
        new_bucket = request.getfixturevalue("new_bucket")
        from providers.aws.storage import S3Storage, make_client

        def direct(bucket: str) -> Storage:
            return S3Storage(bucket, client=self.s3)

        super().__init__(NAME, proxy, new_bucket("src"), new_bucket("dst"), direct, **kwargs)
        self.queue = _queue(self.s3, self.sqs, self.source, "rel")
        # The function's client: the provider's own factory, configured from the environment Lambda gives it.
        patch = request.getfixturevalue("monkeypatch")
        patch.setenv("AWS_ENDPOINT_URL", proxy.url)
        patch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for name, value in CREDENTIALS.items():
            patch.setenv(name.upper(), value)
        self._make_client = make_client
        self._receive()  # the s3:TestEvent moto sends when the configuration is saved

    def throttle(self) -> Rule:
        """S3's throttling answer: 503 with the ``SlowDown`` error document."""
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message><RequestId>FAULTPROXY</RequestId></Error>"
        )
        return http_error(503, body, **{"Content-Type": "application/xml"})

    def plant_credentials(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        for name, value in CANARIES.items():
            monkeypatch.setenv(name, value)  # read by make_client() when the runtime is built
        return list(CANARIES.values())

    def malformed(self, template: Notification, ident: str) -> Any:
        return {**template.payload, "MessageId": ident, "Body": "{not json"}

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        from providers.aws.storage import S3Storage

        client = self._make_client()  # AWS_ENDPOINT_URL points at the proxy for the whole test
        return FunctionRuntime(lambda bucket: S3Storage(bucket, client=client), environ=environ)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def _notification(self, key: str, kind: EventKind) -> Notification:
        found = [message for message in self._receive() if _s3_record(message) is not None]
        assert len(found) == 1, f"expected one S3 notification for {key}, got {len(found)}"
        notification = Notification(key, kind, found[0], found[0]["MessageId"])
        self.notifications.append(notification)
        return notification

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        self.s3.put_object(Bucket=self.source, Key=key, Body=body, ContentType=content_type)
        return self._notification(key, EventKind.CREATED)

    def delete(self, key: str) -> Notification:
        self.s3.delete_object(Bucket=self.source, Key=key)
        return self._notification(key, EventKind.DELETED)

    def deliver_batch(self, notifications: list[Notification], runtime: FunctionRuntime | None = None) -> list[Attempt]:
        from providers.aws.handler import LambdaHandler

        event = self.queue.lambda_event([n.payload for n in notifications])
        response = LambdaHandler(runtime or self.runtime())(event, LambdaContext())
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        self.last_batch_response = response
        return [Attempt(retry=n.ident in failed) for n in notifications]


def faulty(request: pytest.FixtureRequest, proxy: FaultProxy) -> FaultRig:
    """The reliability rig (see :class:`Faulty`)."""
    return Faulty(request, proxy)


def upstream(request: pytest.FixtureRequest) -> str:
    """The emulator's base URL, for a fault proxy to forward to."""
    return str(request.getfixturevalue("moto_endpoint"))


def patch_sdk_sleeps(monkeypatch: pytest.MonkeyPatch, shim: Any) -> None:
    """Route botocore's retry sleeps through ``shim`` (a stand-in for the ``time`` module)."""
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", shim)


def _window(retry: int, fault: str) -> tuple[float, float]:
    # botocore standard mode: rand(0, 1) * min(base * 2**(retry - 1), 20); base 1 s for throttling
    # errors (SlowDown), 50 ms otherwise.
    base = 1.0 if fault == "throttle" else 0.05
    return 0.0, min(base * 2 ** (retry - 1), 20.0)


RETRY = Schedule(attempts=(3, 3), window=_window, total_sleep=3.0)


# -- secrets in logs --------------------------------------------------------------------------------------

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: Shapes of this cloud's credentials -> (text holding one, the secret): core.logs.redact must remove each.
SECRET_SHAPES = {
    "s3 presigned URL (v4)": (
        f"https://b.s3.amazonaws.com/k?X-Amz-Credential={AKID}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Signature=abcdef0123456789",
        "abcdef0123456789",
    ),
    "s3 presigned URL security token": (
        "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FwoGZXIvYXdzEJrTOKEN&X-Amz-Signature=x",
        "FwoGZXIvYXdzEJrTOKEN",
    ),
    "s3 presigned URL (v2)": (
        f"https://b.s3.amazonaws.com/k?AWSAccessKeyId={AKID}&Expires=1&Signature=dGVzdHNpZ25hdHVyZQ%3D%3D",
        "dGVzdHNpZ25hdHVyZQ",
    ),
    "aws access key id": (f"credentials {AKID} were refused", AKID),
    "aws secret in env form": (f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}", SECRET_KEY),
    "aws secret in JSON form": (f'{{"aws_secret_access_key": "{SECRET_KEY}"}}', SECRET_KEY),
    "aws session token in JSON form": ('{"SessionToken": "FwoGZXIvYXdzEJrSESSION"}', "FwoGZXIvYXdzEJrSESSION"),
}


# -- contract observations ----------------------------------------------------------------------------


def raw_put(request: pytest.FixtureRequest, store: Storage, key: str, metadata: Mapping[str, str]) -> None:
    """Write ``key`` with boto3, bypassing the adapter (and its name rules)."""
    request.getfixturevalue("s3_client").put_object(Bucket=store.bucket, Key=key, Body=b"raw", Metadata=dict(metadata))


def raw_get(request: pytest.FixtureRequest, store: Storage, key: str) -> RawObject:
    """``key`` as boto3 reports it: metadata as stored, ETags as sent by HEAD and by LIST."""
    client = request.getfixturevalue("s3_client")
    head = client.head_object(Bucket=store.bucket, Key=key)
    [listed] = client.list_objects_v2(Bucket=store.bucket, Prefix=key)["Contents"]
    return RawObject(head["Metadata"], head["ETag"], listed["ETag"])


@contextmanager
def record_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, log: RequestLog) -> Iterator[None]:
    """Record what the adapter sends, from botocore's before-send event."""
    events = request.getfixturevalue("s3_client").meta.events

    def before_send(request: Any, **_: Any) -> None:
        log.add(request.method, request.url, dict(request.headers))

    events.register("before-send.s3.*", before_send)
    try:
        yield
    finally:
        events.unregister("before-send.s3.*", before_send)


def parse_sample(document: Any) -> tuple[int, int]:
    """Object events and acknowledged non-events the handler's parser finds in a vendor payload."""
    from providers.aws.events import Notifications, parse_body, parse_lambda_event, sqs_messages

    messages = sqs_messages(document)
    parsed = Notifications()
    if messages is None:
        parsed = parse_lambda_event(document)
    else:
        for message in messages:
            parsed += parse_body(message.body)
    return len(parsed.events), len(parsed.ignored)


# -- backfill -----------------------------------------------------------------------------------------


class Backfill:
    """``polythumb backfill --target aws``: S3-shaped messages into SQS, drained into the Lambda handler.

    One size: moto serves S3 inside this process, so every request of a render costs the test's own CPU.
    """

    name = NAME
    count = 200
    sizes = "48x48"
    pace = ("--rate", "150")
    work_field = "sent"
    suffix, content_type = ".jpg", "image/jpeg"

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        from providers.aws.handler import build_handler
        from providers.aws.storage import S3Storage

        s3, sqs = request.getfixturevalue("s3_client"), request.getfixturevalue("sqs_client")
        new_bucket = request.getfixturevalue("new_bucket")
        self._endpoint = request.getfixturevalue("moto_endpoint")
        self.source, self.dest = S3Storage(new_bucket("src"), client=s3), S3Storage(new_bucket("dst"), client=s3)
        url = sqs.create_queue(QueueName=f"pt-backfill-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        request.addfinalizer(lambda: sqs.delete_queue(QueueUrl=url))
        self.queue = Queue(
            sqs, url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )
        self._settings = {"THUMBS_DEST_BUCKET": self.dest.bucket, "THUMBS_SIZES": self.sizes}
        self._handler = build_handler(self._settings, s3_client=s3)

    @property
    def config(self) -> Config:
        return load_config(self._settings)

    def body(self, variant: int = 0) -> bytes:
        return jpeg_bytes(96, 72) if variant == 0 else jpeg_bytes(90, 70)

    def render(self, keys: Sequence[str]) -> None:
        from providers.aws.backfill import s3_record

        for key in keys:
            event = {"Records": [s3_record(ObjectEvent.created(self.source.bucket, key), region=REGION)]}
            response = self._handler(event, LambdaContext())  # an S3 event straight to Lambda
            assert [str(outcome["status"]) for outcome in response["outcomes"]] == ["ok"], response

    def command(self, checkpoint: Path, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "core.ops.cli", "backfill", self.source.bucket, "--target", NAME, "--out",
            self.dest.bucket, "--sizes", self.sizes, "--sink-option", f"queue_url={self.queue.url}",
            "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", "--json", "--no-progress",
            "--delete-orphans", "--workers", "2", "--batch", "10", *extra,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        """moto's endpoint and fake credentials, nothing of the developer's AWS setup."""
        env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "THUMBS_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            AWS_ENDPOINT_URL=self._endpoint,
            AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
            AWS_DEFAULT_REGION=REGION,
        )
        return env

    def settle(self) -> list[str] | None:
        """Hand every visible message to the handler, 10 per invocation, as the event source mapping does."""
        from providers.aws.events import parse_body

        keys: list[str] = []
        while messages := self.queue.receive():
            for start in range(0, len(messages), 10):
                chunk = messages[start : start + 10]
                response = self._handler(self.queue.lambda_event(chunk), LambdaContext())
                assert response == {"batchItemFailures": []}
                self.queue.settle(chunk, response)
                keys += [event.key for m in chunk for event in parse_body(m["Body"]).events]
        return keys

    def check_logs(self) -> None:
        """The handler ran in this process; every failure already showed in its batch responses."""


def backfill(request: pytest.FixtureRequest, tmp_path: Path) -> Backfill:
    """The backfill rig (see :class:`Backfill`)."""
    return Backfill(request, tmp_path)
