"""The AWS cloud fan-out on moto: ``polythumb backfill --target aws`` sends S3-shaped messages to SQS.

The message the sink sends is the S3 notification the handler reads back; SQS's refusals and batches; the
sink's options; the operator's policy. The kill-and-resume run itself, drained into the real handler as
Lambda's event source mapping would drain it, is the shared scenario of ``tests/test_backfill_resume.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.events import ObjectEvent
from providers.aws.backfill import MAX_BATCH, SqsSink, message_body, s3_record
from providers.aws.events import parse_body
from tests.providers.aws.emulator import REGION
from tests.rigs.base import TRICKY_KEYS, sink_request

from .helpers import Queue

pytestmark = pytest.mark.aws

ROOT = Path(__file__).parents[3]
# One size: moto serves S3 inside this process, so every request of a render costs the test's own CPU; the
# handler's own tests cover multi-size sets. 200 sources keep the kill half-way meaningful.


@pytest.fixture
def queue(sqs_client: Any) -> Iterator[Queue]:
    url = sqs_client.create_queue(QueueName=f"pt-backfill-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield Queue(sqs_client, url, arn)
    sqs_client.delete_queue(QueueUrl=url)


def test_message_is_the_s3_notification_the_handler_reads_back_exactly() -> None:
    for key in TRICKY_KEYS:
        event = ObjectEvent.created("bkt", key, size=12, etag="abc", version="v1", event_id="backfill-1")
        [parsed] = parse_body(message_body(event, region=REGION)).events
        assert (parsed.bucket, parsed.key, parsed.size, parsed.etag, parsed.version) == ("bkt", key, 12, "abc", "v1")
        # The id travels as x-amz-request-id, which the parser makes unique per record (issue 17).
        assert parsed.event_id is not None and parsed.event_id.startswith("backfill-1:")
    record = s3_record(ObjectEvent.created("bkt", "a dir/b+c%.jpg"), region=REGION)
    assert record["eventVersion"] == "2.1" and record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "a+dir/b%2Bc%25.jpg"  # form-URL-encoded as S3 does, "/" kept


def test_a_message_sqs_refuses_is_reported_alone_and_not_retryable(sqs_client: Any, aws_client: Any) -> None:
    url = sqs_client.create_queue(
        QueueName=f"pt-small-{uuid.uuid4().hex[:12]}", Attributes={"MaximumMessageSize": "1024"}
    )["QueueUrl"]
    sink = SqsSink(url, client=aws_client("sqs"))
    assert sink.max_batch_size == MAX_BATCH == 10
    batch = [ObjectEvent.created("bkt", f"k{i}.jpg", size=1, etag="e", event_id=f"id-{i}") for i in range(3)]
    batch.insert(1, ObjectEvent.created("bkt", "long/" + "x" * 1000 + ".jpg", size=1, event_id="id-long"))
    result = sink.send(batch)
    assert result.accepted == (0, 2, 3)
    [failure] = result.failed
    assert failure.index == 1 and failure.retryable is False
    received = Queue(sqs_client, url, "").receive()
    assert sorted(parse_body(m["Body"]).events[0].key for m in received) == ["k0.jpg", "k1.jpg", "k2.jpg"]


def test_batches_of_ten_go_out_in_parallel_and_all_arrive(sqs_client: Any, aws_client: Any, queue: Queue) -> None:
    sink = SqsSink(queue.url, client=aws_client("sqs"), workers=3)
    try:
        assert sink.max_batch_size == 30
        events = [ObjectEvent.created("bkt", f"k{i:02}.jpg", size=1, etag="e", event_id=f"id-{i}") for i in range(25)]
        assert sink.send(events).accepted == tuple(range(25))
    finally:
        sink.close()
    assert sorted(parse_body(m["Body"]).events[0].key for m in queue.receive()) == [f"k{i:02}.jpg" for i in range(25)]


def test_make_sink_needs_a_queue_and_knows_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import ConfigError
    from providers.aws.backfill import make_sink

    monkeypatch.delenv("THUMBS_BACKFILL_QUEUE_URL", raising=False)
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_QUEUE_URL"):
        make_sink(sink_request("aws"))
    with pytest.raises(ConfigError, match="unknown --sink-option url"):
        make_sink(sink_request("aws", url="x"))


def test_a_queue_setting_that_is_no_url_is_refused_at_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``polythumb backfill --target aws`` validates the provider's settings with the shared ones, before any work."""
    from core.config import load_config
    from core.errors import ConfigError
    from providers.aws import PROVIDER
    from providers.aws.backfill import make_sink

    environ = {"THUMBS_BACKFILL_QUEUE_URL": "pt-backfill"}  # the queue's name, not its URL
    with pytest.raises(ConfigError, match=r"THUMBS_BACKFILL_QUEUE_URL='pt-backfill' is not valid; accepted values: "):
        load_config(environ, extra_settings=PROVIDER.settings)
    monkeypatch.setenv("THUMBS_BACKFILL_QUEUE_URL", "pt-backfill")
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_QUEUE_URL='pt-backfill' is not valid"):
        make_sink(sink_request("aws"))
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/pt-backfill"
    assert load_config({"THUMBS_BACKFILL_QUEUE_URL": url}, extra_settings=PROVIDER.settings).sources


def test_operator_policy_sends_to_the_events_queue_only() -> None:
    import hcl2

    with (ROOT / "providers/aws/deploy/backfill.tf").open() as handle:
        parsed = hcl2.load(handle)
    [document] = [block['"aws_iam_policy_document"']['"backfill_operator"'] for block in parsed["data"]]
    statements = {s["sid"].strip('"'): s for s in document["statement"]}
    assert statements["SendWorkItems"]["actions"] == ['"sqs:SendMessage"']
    assert statements["SendWorkItems"]["resources"] == ["${aws_sqs_queue.events[0].arn}"]
    for statement in statements.values():
        assert not any("*" in action for action in statement["actions"])
        assert not any(resource.strip('"') == "*" for resource in statement["resources"])
    writes = [s for s in statements.values() if any("Put" in a or "Delete" in a for a in s["actions"])]
    assert writes == []  # deleting orphans is opt-in (a dynamic statement), writing never


def test_a_missing_queue_stops_the_run(aws_client: Any, moto_endpoint: str) -> None:
    from core.errors import ConfigError

    sink = SqsSink(f"{moto_endpoint}/123456789012/pt-no-such-queue", client=aws_client("sqs"), workers=2)
    try:
        with pytest.raises(ConfigError, match="pt-no-such-queue does not exist"):
            sink.send([ObjectEvent.created("bkt", f"k{i}.jpg", event_id=f"id-{i}") for i in range(12)])
    finally:
        sink.close()
