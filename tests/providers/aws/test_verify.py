"""``polythumb verify aws --endpoint <moto>``: the verifier against S3 -> SQS -> the Lambda handler on moto."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from providers.aws.handler import build_handler
from tests.verify_support import (
    PROFILE_CHECKS,
    PROFILE_OUTPUTS,
    PROFILE_SETTINGS,
    SETTINGS,
    Relay,
    ServeRelay,
    assert_served,
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


# -- the serve step (issue 23) ------------------------------------------------------------------------------------


def function_url(handler: Callable[..., Any]) -> Callable[..., tuple[int, dict[str, str], bytes]]:
    """A Lambda function URL in front of the serve handler: each HTTP request becomes its payload 2.0 event."""
    import base64

    from .helpers import function_url_event

    def handle(method: str, path: str, query: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        answer = handler(function_url_event(method, path, query, dict(headers)), LambdaContext())
        body = base64.b64decode(answer["body"]) if answer["isBase64Encoded"] else answer["body"].encode()
        return answer["statusCode"], answer["headers"], body

    return handle


def batching_poller(queue: Queue, handler: Callable[..., Any], *, window: float = 1.5) -> Callable[[], None]:
    """:func:`lambda_poller` with the event source mapping's batching window (Terraform: 1 s): a batch is handed
    over once its newest message is ``window`` seconds old, as Lambda waits for more messages before invoking."""

    def step() -> None:
        messages = queue.receive()
        if messages:
            newest = max(int(message["Attributes"]["SentTimestamp"]) for message in messages) / 1000
            time.sleep(max(0.0, newest + window - time.time()))
            queue.settle(messages, handler(queue.lambda_event(messages), LambdaContext()))

    return step


def test_verify_requests_a_thumbnail_before_the_upload_function_and_sees_the_event_write_nothing(
    moto_endpoint: str, s3_client: Any, notified: tuple[str, str, Queue]
) -> None:
    from providers.aws.serve import build_handler as build_serve_handler

    source, dest, queue = notified
    settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_URL_MODE": "signed"}
    handler = build_handler(settings, s3_client=s3_client)
    serve = build_serve_handler({**settings, "THUMBS_SERVE_SOURCE_BUCKET": source}, s3_client=s3_client)
    with ServeRelay(function_url(serve)) as url, Relay(batching_poller(queue, handler)):
        result = run_verify(
            "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60", "--serve-url", url.url,
            environment={"THUMBS_URL_MODE": "signed"},
        )  # fmt: skip
    assert_verified(result)
    assert_served(result)  # a 302 to a pre-signed S3 URL, followed; then the event found every output current
    assert "HTTP 200 after a redirect" in result.stdout
    [(method, path, _)] = url.requests
    assert method == "GET" and path.startswith("/uploads/polythumb-verify-") and path.endswith("-160x120.jpg")
    assert s3_client.list_objects_v2(Bucket=dest).get("KeyCount", 0) == 0


def test_the_serve_step_fails_when_the_upload_function_renders_the_served_thumbnail_again(
    moto_endpoint: str, s3_client: Any, notified: tuple[str, str, Queue]
) -> None:
    """An event function running other settings (another quality) finds the served outputs stale and rewrites them:
    the step says so (verify's other checks fail too: the thumbnails are not what the settings say)."""
    from providers.aws.serve import build_handler as build_serve_handler

    source, dest, queue = notified
    settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest}
    handler = build_handler({**settings, "THUMBS_QUALITY": "41"}, s3_client=s3_client)
    serve = build_serve_handler({**settings, "THUMBS_SERVE_SOURCE_BUCKET": source}, s3_client=s3_client)
    with ServeRelay(function_url(serve)) as url, Relay(batching_poller(queue, handler)):
        result = run_verify(
            "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60", "--serve-url", url.url,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("serve: upload event writes nothing")]
    assert " FAIL " in line and "rewritten: uploads/polythumb-verify-" in line
    [first] = [line for line in result.stdout.splitlines() if line.startswith("serve: first request")]
    assert " pass " in first and "miss" in first  # 200 with the bytes: no URL mode


def test_verify_runs_against_functions_with_ad_hoc_outputs_whose_keys_it_never_holds(
    moto_endpoint: str, s3_client: Any, notified: tuple[str, str, Queue], aws_client: Callable[..., Any]
) -> None:
    """A stack with serve_adhoc hands both functions THUMBS_SERVE_ADHOC and the keys' secret ARN (the keys are read
    at cold start); verify, reading the same settings, has no keys. It used to stop there with a ConfigError
    (THUMBS_SERVE_ADHOC=true needs THUMBS_SERVE_KEYS); the serve settings change no thumbnail it checks."""
    source, dest, queue = notified
    secrets = aws_client("secretsmanager")
    arn = secrets.create_secret(Name=f"verify-keys-{dest}", SecretString="k1:" + "s" * 40)["ARN"]
    serve_settings = {"THUMBS_SERVE_ADHOC": "true", "THUMBS_SERVE_KEYS_SECRET": arn}
    settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest, **serve_settings}
    handler = build_handler(settings, s3_client=s3_client, secrets_client=secrets)
    with Relay(lambda_poller(queue, handler)):
        result = run_verify(
            "aws", "--endpoint", moto_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60", environment=serve_settings,
        )  # fmt: skip
    assert_verified(result)
    assert s3_client.list_objects_v2(Bucket=dest).get("KeyCount", 0) == 0
