"""The AWS cloud fan-out on moto: ``polythumb backfill --target aws`` sends S3-shaped messages to SQS.

The CLI runs in a subprocess against moto's S3 and SQS. The queue is drained the way Lambda's event source
mapping would drain it -- received messages become the SQS batch event handed to the real handler -- and
the destination is read back. The run is SIGKILLed half-way, the queue drained, the run resumed from its
checkpoint and the queue drained again: every image ends with exactly one correct set of thumbnails and
nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.events import ObjectEvent
from core.keys import META_SOURCE_REVISION, decode_meta_value, output_keys
from providers.aws.backfill import MAX_BATCH, SqsSink, message_body, s3_record
from providers.aws.events import parse_body
from providers.aws.handler import LambdaHandler, build_handler
from providers.aws.storage import S3Storage
from tests.backfill_support import wait_for_progress
from tests.images import jpeg_bytes, open_bytes
from tests.providers.aws.emulator import CREDENTIALS, REGION

from .helpers import LambdaContext, Queue

pytestmark = pytest.mark.aws

ROOT = Path(__file__).parents[3]
# One size: moto serves S3 inside this process, so every request of a render costs the test's own CPU; the
# handler's own tests cover multi-size sets. 200 sources keep the kill half-way meaningful.
SIZES = "48x48"
COUNT = 200
TRICKY = ["plus+sign/a+b.jpg", "unicode/café/日本語 写真.jpg", "percent/100% off.jpg", "space dir/x y.jpg"]


def settings(dest: str) -> dict[str, str]:
    return {"THUMBS_DEST_BUCKET": dest, "THUMBS_SIZES": SIZES}


def sources() -> list[str]:
    return sorted([f"photos/{i % 4}/img {i:03}.jpg" for i in range(COUNT - len(TRICKY))] + TRICKY)


def cli(source: str, dest: str, checkpoint: Path, queue_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "core.ops.cli", "backfill", source, "--target", "aws", "--out", dest, "--sizes", SIZES,
        "--sink-option", f"queue_url={queue_url}", "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05",
        "--json", "--no-progress", "--delete-orphans", "--workers", "2", "--batch", "10", *extra,
    ]  # fmt: skip


def environment(moto_endpoint: str) -> dict[str, str]:
    """The CLI's environment: moto's endpoint and fake credentials, nothing of the developer's AWS setup."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "THUMBS_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
        AWS_DEFAULT_REGION=REGION,
    )
    return env


def drain(queue: Queue, handler: LambdaHandler) -> list[str]:
    """Hand every visible message to the handler, 10 per invocation, as the event source mapping does."""
    keys: list[str] = []
    while messages := queue.receive():
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = handler(queue.lambda_event(chunk), LambdaContext())
            assert response == {"batchItemFailures": []}
            queue.settle(chunk, response)
            keys += [event.key for m in chunk for event in parse_body(m["Body"]).events]
    return keys


@pytest.fixture
def queue(sqs_client: Any) -> Iterator[Queue]:
    url = sqs_client.create_queue(QueueName=f"pt-backfill-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield Queue(sqs_client, url, arn)
    sqs_client.delete_queue(QueueUrl=url)


def test_message_is_the_s3_notification_the_handler_reads_back_exactly() -> None:
    for key in TRICKY:
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


def test_killed_fan_out_resumes_and_ends_with_one_correct_set_per_image(
    new_bucket: Callable[..., str], s3_client: Any, queue: Queue, moto_endpoint: str, tmp_path: Path
) -> None:
    source_name, dest_name = new_bucket("src"), new_bucket("dst")
    dest = S3Storage(dest_name, client=s3_client)
    handler = build_handler(settings(dest_name), s3_client=s3_client)
    keys = sources()
    body = jpeg_bytes(96, 72)
    for key in keys:
        s3_client.put_object(Bucket=source_name, Key=key, Body=body, ContentType="image/jpeg")

    # Some thumbnails exist already: current ones, stale ones (the original changed since) and orphans.
    current, stale, gone = keys[5:8], keys[40:42], ["gone/old 1.jpg", "gone/old 2.jpg"]
    for key in gone:
        s3_client.put_object(Bucket=source_name, Key=key, Body=body, ContentType="image/jpeg")
    for key in current + stale + gone:
        handler({"Records": [s3_record(ObjectEvent.created(source_name, key), region=REGION)]}, LambdaContext())
    for key in stale:
        s3_client.put_object(Bucket=source_name, Key=key, Body=jpeg_bytes(90, 70), ContentType="image/jpeg")
    for key in gone:
        s3_client.delete_object(Bucket=source_name, Key=key)
    orphans = {thumb for key in gone for thumb in output_keys(load_config(settings(dest_name)), key).values()}
    assert orphans <= {info.key for info in dest.list()}

    env = environment(moto_endpoint)
    checkpoint = tmp_path / "aws.checkpoint.json"
    command = cli(source_name, dest_name, checkpoint, queue.url)

    dry = subprocess.run([*command, "--dry-run"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["missing"], plan["stale"], plan["current"], plan["orphaned"]) == (
        COUNT - len(current) - len(stale), len(stale), len(current), len(orphans),
    )  # fmt: skip
    assert queue.receive() == []  # a dry run sends nothing

    # Paced at 150 items/s so the kill lands half-way; start_new_session: killed by its process group id.
    first = subprocess.Popen(
        [*command, "--rate", "150"], cwd=tmp_path, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_progress(first, checkpoint, at_least=COUNT // 3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    saved = json.loads(checkpoint.read_text())
    assert saved["finished"] is False
    mark = saved["last_key"]
    sent_before_kill = drain(queue, handler)
    to_render = {key for key in keys if key not in current}
    assert {key for key in to_render if key <= mark} <= set(sent_before_kill)
    assert not orphans & {info.key for info in dest.list()}  # orphans are deleted by the CLI itself
    # Every message was rendered (the handler reported no failure): what is left is what was never sent.
    unfinished = sorted(key for key in to_render if key > mark and key not in sent_before_kill)
    assert unfinished, "the first run finished everything before it was killed"

    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_after"] == mark
    assert summary["skipped_before_checkpoint"] == len([key for key in keys if key <= mark])
    assert (summary["sent"], summary["dead_lettered"]) == (len(unfinished), 0)
    assert sorted(drain(queue, handler)) == unfinished
    assert json.loads(checkpoint.read_text())["finished"] is True

    config = load_config(settings(dest_name))
    expected = {thumb for key in keys for thumb in output_keys(config, key).values()}
    assert {info.key for info in dest.list()} == expected  # one set per image, no orphan left
    # "current" is the planner's verdict that each thumbnail renders the source's revision with these settings.
    final = subprocess.run([*command, "--dry-run"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60)
    report = json.loads(final.stdout)
    assert (report["missing"], report["stale"], report["orphaned"], report["current"]) == (0, 0, 0, COUNT)
    for key in [*TRICKY, *stale]:  # and the pixels are right: the encoded keys and the changed originals
        revision = s3_client.head_object(Bucket=source_name, Key=key)["ETag"].strip('"')
        for box, thumb in output_keys(config, key).items():
            stored = dest.get(thumb)
            assert decode_meta_value(stored.info.metadata[META_SOURCE_REVISION]) == revision
            image = open_bytes(stored.body)
            assert image.format == "JPEG" and max(image.width / box.width, image.height / box.height) > 0.99


def test_make_sink_needs_a_queue_and_knows_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from core.errors import ConfigError
    from providers.aws.backfill import make_sink

    monkeypatch.delenv("THUMBS_BACKFILL_QUEUE_URL", raising=False)
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_QUEUE_URL"):
        make_sink(argparse.Namespace(sink_options={}, workers=None))
    with pytest.raises(ConfigError, match="unknown --sink-option url"):
        make_sink(argparse.Namespace(sink_options={"url": "x"}, workers=None))


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
