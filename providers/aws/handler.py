"""The Lambda entrypoint: handler string ``providers.aws.handler.handler``, for every S3 event route.

* SQS batches (S3 -> SQS, S3 -> SNS -> SQS, S3 -> EventBridge -> SQS) return a partial batch response,
  ``{"batchItemFailures": [{"itemIdentifier": <messageId>}]}``, naming exactly the messages that hit a
  transient error (or an unexpected one), so only those come back after the visibility timeout and, after
  ``maxReceiveCount`` tries, go to the dead-letter queue. A malformed body is a permanent error: it is
  logged once and acknowledged, never retried.
* Direct invocations (S3 -> Lambda, S3 -> SNS -> Lambda, S3 -> EventBridge -> Lambda) handle every
  record, then raise the first transient error, so Lambda's asynchronous retry runs the event again
  (finished records are found unchanged and skipped).
* Permanent image errors come back from the core as FAILED outcomes: logged once as a structured record,
  acknowledged, not retried.

Configuration is read once per container. In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) the runtime is
built at import, so a bad ``THUMBS_*`` setting fails the cold start loudly; elsewhere it is built on the
first call, and tests build their own with :func:`build_handler`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import Any

from core.completion import PublishWindow
from core.delivery import Parsed, deliver, refuse
from core.errors import MalformedEvent
from core.once import Once, once
from core.runtime import FunctionRuntime
from providers.aws.events import SqsMessage, parse_body, parse_lambda_event, sqs_messages
from providers.aws.storage import S3Storage, shared_client


class LambdaHandler:
    """One container's handler: Lambda's event in, :func:`core.delivery.deliver`, Lambda's answer out."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Handle one Lambda invocation.

        Raises:
            MalformedEvent: ``event`` is no S3 notification route polythumb knows (logged once first).
            TransientError: a direct (non-SQS) invocation hit a transient error; Lambda retries it.
        """
        request_id = getattr(context, "aws_request_id", None)
        # One window for the whole invocation: a target that hangs costs one wait, not one per message.
        window = self.runtime.publish_window(_remaining_seconds(context))

        def parse() -> Parsed:
            return parse_lambda_event(event).items

        try:
            messages = sqs_messages(event)
        except MalformedEvent as exc:  # logged once by deliver(), like any malformed delivery
            messages, parse = None, refuse(exc)
        if messages is not None:
            return self._sqs_batch(messages, request_id, window)
        delivery = deliver(self.runtime, parse, window=window, aws_request_id=request_id, route="direct")
        if delivery.malformed is not None:
            raise delivery.malformed  # a direct invocation has no way to acknowledge it silently
        delivery.raise_for_retry()  # after every record: the retry skips the done ones
        return {"outcomes": [outcome.to_dict() for outcome in delivery.outcomes]}

    def _sqs_batch(self, messages: list[SqsMessage], request_id: str | None, window: PublishWindow) -> dict[str, Any]:
        failures: list[str] = []
        for message in messages:
            if failures and message.fifo:
                # A FIFO queue must not see a later message succeed before an earlier one: retry the rest too.
                failures.append(message.message_id)
                continue
            delivery = deliver(
                self.runtime, partial(_items, message.body), keep_going=False, window=window,
                aws_request_id=request_id, message_id=message.message_id, route="sqs",
            )  # fmt: skip
            if delivery.retryable:  # the retry redoes this message's other records; they are idempotent
                failures.append(message.message_id)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def _items(body: str) -> tuple[Any, ...]:
    return parse_body(body).items


def _remaining_seconds(context: Any) -> float | None:
    """What the invocation has left (Lambda's context tells); None without a Lambda context (tests, tools)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None


def build_handler(
    environ: Mapping[str, str] | None = None, *, s3_client: Any = None, notifier_options: dict[str, Any] | None = None
) -> LambdaHandler:
    """Build a handler from ``environ`` (``os.environ`` by default).

    Args:
        environ: The THUMBS_* settings to validate and use.
        s3_client: A boto3 S3 client; by default the container's shared one (created lazily, honouring
            ``AWS_ENDPOINT_URL``).
        notifier_options: Clients for the THUMBS_NOTIFY targets (``sns_client``, ``events_client``);
            by default each creates its own on first publish.

    Raises:
        ConfigError: a setting is missing or invalid (THUMBS_DEST_BUCKET is required).
    """

    def open_bucket(bucket: str) -> S3Storage:
        return S3Storage(bucket, client=s3_client)

    runtime = FunctionRuntime(open_bucket, environ=environ, provider="aws", notifier_options=notifier_options)
    return LambdaHandler(runtime)


#: The container's handler, built from ``os.environ`` on first use.
default_handler: Once[LambdaHandler] = once(build_handler)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda handler (``providers.aws.handler.handler``)."""
    return default_handler()(event, context)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Cold start in Lambda: validate the configuration now (a wrong setting fails the init, loudly), and
    # create the S3 client during init rather than in the first invocation.
    default_handler()
    shared_client()
