"""``polythumb verify aws --endpoint <moto>``: the verifier against S3 -> SQS -> the Lambda handler on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from providers.aws.handler import build_handler
from tests.verify_support import (
    PROFILE_CHECKS,
    PROFILE_OUTPUTS,
    PROFILE_SETTINGS,
    SETTINGS,
    Relay,
    assert_verified,
    run_verify,
)

from .helpers import LambdaContext, Queue

pytestmark = pytest.mark.aws


def lambda_poller(queue: Queue, handler: Callable[..., Any]) -> Callable[[], None]:
    """One poll of the event source mapping: receive, invoke with the batch, settle the partial response."""

    def step() -> None:
        messages = queue.receive()
        if messages:
            queue.settle(messages, handler(queue.lambda_event(messages), LambdaContext()))

    return step


@pytest.fixture
def notified(
    new_bucket: Callable[..., str], new_queue: Callable[[], Queue], notify_queue: Callable[[str, Queue], None]
) -> tuple[str, str, Queue]:
    """A source bucket whose S3 notifications go to a queue, as the Terraform wires them, and a destination."""
    source, dest = new_bucket("verify-src"), new_bucket("verify-dst")
    queue = new_queue()
    notify_queue(source, queue)
    return source, dest, queue


def test_verify_passes_against_moto_with_the_handler_behind_real_notifications(
    moto_endpoint: str, s3_client: Any, notified: tuple[str, str, Queue]
) -> None:
    source, dest, queue = notified
    handler = build_handler({**SETTINGS, "THUMBS_DEST_BUCKET": dest}, s3_client=s3_client)
    with Relay(lambda_poller(queue, handler)):
        result = run_verify(
            "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60",
        )  # fmt: skip
    assert_verified(result)
    assert "uploads/polythumb-verify-" in result.stdout
    leftovers = s3_client.list_objects_v2(Bucket=dest).get("KeyCount", 0)
    assert leftovers == 0  # delete sync removed every thumbnail, verify left nothing behind


def test_verify_fails_with_a_table_when_no_function_answers(
    moto_endpoint: str, s3_client: Any, new_bucket: Callable[..., str]
) -> None:
    source, dest = new_bucket("verify-src"), new_bucket("verify-dst")
    result = run_verify(
        "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest, "--timeout", "2"
    )
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("thumbnails appear") and "FAIL" in line and "0/4" in line for line in lines), lines
    assert lines[-1].split() == ["verdict", "FAIL"]
    assert s3_client.list_objects_v2(Bucket=source).get("KeyCount", 0) == 0  # the originals were removed again


def test_verify_fails_when_the_function_runs_other_settings(
    moto_endpoint: str, s3_client: Any, notified: tuple[str, str, Queue]
) -> None:
    source, dest, queue = notified
    handler = build_handler(
        {**SETTINGS, "THUMBS_CACHE_CONTROL": "no-store", "THUMBS_DEST_BUCKET": dest}, s3_client=s3_client
    )
    with Relay(lambda_poller(queue, handler)):
        result = run_verify(
            "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest, "--timeout", "60"
        )
    assert result.returncode == 1
    assert "cache control 'no-store', expected 'public, max-age=3600'" in result.stdout


def test_verify_walks_every_output_of_a_profiles_deployment(
    moto_endpoint: str, s3_client: Any, notified: tuple[str, str, Queue]
) -> None:
    """THUMBS_PROFILES: each profile gets a sample it takes; each size in each format is checked, then deleted."""
    source, dest, queue = notified
    handler = build_handler({**SETTINGS, **PROFILE_SETTINGS, "THUMBS_DEST_BUCKET": dest}, s3_client=s3_client)
    with Relay(lambda_poller(queue, handler)):
        result = run_verify(
            "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60", environment=PROFILE_SETTINGS,
        )  # fmt: skip
    assert_verified(result, labels=PROFILE_CHECKS)
    assert f"{PROFILE_OUTPUTS}/{PROFILE_OUTPUTS} in" in result.stdout
    assert s3_client.list_objects_v2(Bucket=dest).get("KeyCount", 0) == 0
    assert s3_client.list_objects_v2(Bucket=source).get("KeyCount", 0) == 0
