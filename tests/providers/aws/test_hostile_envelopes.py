"""Hostile envelopes against the S3 notification parsers and the Lambda handler (hypothesis).

The properties and helpers shared by every provider are in :mod:`tests.reliability.envelopes`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from core.errors import MalformedEvent
from core.events import ObjectEvent
from tests.reliability.envelopes import (
    DEEP,
    HYPOTHESIS,
    assert_parsed_soundly,
    form_decoded,
    load,
    malformed_cases_test,
    memory_runtime,
    mutated,
    samples,
)

AWS_SAMPLES = samples("aws")


def aws_events(event: Any) -> list[ObjectEvent]:
    """Everything the Lambda handler would act on, routed as the handler routes it."""
    from providers.aws.events import parse_body, parse_lambda_event, sqs_messages

    messages = sqs_messages(event)
    if messages is None:
        return list(parse_lambda_event(event).events)
    found: list[ObjectEvent] = []
    for message in messages:
        try:
            found.extend(parse_body(message.body).events)
        except MalformedEvent:
            continue  # logged and acknowledged by the handler
    return found


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(AWS_SAMPLES))
def test_aws_parsers_return_sound_events_or_raise_malformed_event(data: st.DataObject, name: str) -> None:
    envelope = data.draw(mutated(load("aws", name)))
    assert_parsed_soundly(lambda: aws_events(envelope), envelope, form_decoded)


@HYPOTHESIS
@given(body=st.text(max_size=200) | st.sampled_from(["[" * 5000, '{"Records": ' * 3000, "1" * 5000, "\ud800"]))
def test_aws_message_bodies_of_any_text_parse_or_raise_malformed_event(body: str) -> None:
    from providers.aws.events import parse_body

    assert_parsed_soundly(lambda: parse_body(body).events, body, form_decoded)


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from([n for n in AWS_SAMPLES if "sqs" in n]))
@example(data=None, name="poison")  # replaced below: one deeply nested body in a batch of good ones
def test_aws_sqs_batches_never_fail_and_never_retry_a_malformed_message(data: Any, name: str) -> None:
    from providers.aws.handler import LambdaHandler
    from tests.providers.aws.helpers import LambdaContext

    if name == "poison":
        event = load("aws", "s3_via_sqs_powertools.json")
        event["Records"].append({**event["Records"][0], "messageId": "poison", "body": "[" * 100_000})
    else:
        event = data.draw(mutated(load("aws", name)))
    handler = LambdaHandler(memory_runtime())
    try:
        response = handler(event, LambdaContext())
    except MalformedEvent:
        return  # not an SQS batch after all: the direct route's documented error
    failures = response.get("batchItemFailures")
    if failures is not None:
        assert failures == [], "over in-memory storage nothing is transient: a failure here is a crash"


def test_every_vendor_sample_is_exercised() -> None:
    """A new sample in events/ is picked up by the properties above (no silent gap)."""
    assert set(samples("aws")) == set(AWS_SAMPLES)


# -- the hostile fields hypothesis found, pinned ---------------------------------------------

def _aws_record(key: str = "photo.jpg", bucket: str = "my-bucket", size: Any = 12) -> dict[str, Any]:
    record = load("aws", "s3_put_docs.json")["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"].update(key=key, size=size)
    return {"Records": [record]}


def _aws_parse(event: Any) -> list[ObjectEvent]:
    from providers.aws.events import parse_lambda_event

    return list(parse_lambda_event(event).events)


def _aws_body(body: str) -> list[ObjectEvent]:
    from providers.aws.events import parse_body

    return list(parse_body(body).events)


HOSTILE: dict[str, Callable[[], Any]] = {
    "aws key with an encoded NUL": lambda: _aws_parse(_aws_record(key="a%00b.jpg")),
    "aws key over 1024 bytes": lambda: _aws_parse(_aws_record(key="k" * 1025)),
    "aws bucket with a slash": lambda: _aws_parse(_aws_record(bucket="my-bucket/../other")),
    "aws bucket with a NUL": lambda: _aws_parse(_aws_record(bucket="my\x00bucket")),
    "aws body nested too deep": lambda: _aws_body(DEEP),
}  # fmt: skip


test_hostile_fields_are_malformed_events = malformed_cases_test(HOSTILE)


def test_a_hostile_size_is_dropped_not_fatal() -> None:
    """The size is advisory: one that cannot be read is unknown, and must not crash the parser."""
    [event] = _aws_parse(json.loads(json.dumps(_aws_record(size=float("inf")))))
    assert event.size is None
