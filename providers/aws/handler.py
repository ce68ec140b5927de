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

import logging
import os
from collections.abc import Mapping
from typing import Any

from core.errors import MalformedEvent, TransientError
from core.events import ObjectEvent
from core.once import Once, once
from core.outcome import Outcome
from core.runtime import FunctionRuntime
from providers.aws.events import SqsMessage, parse_body, parse_lambda_event, sqs_messages
from providers.aws.storage import S3Storage, shared_client

#: Provider-specific THUMBS_* settings read by this entrypoint (none: AWS has its own variables).
EXTRA_SETTINGS: tuple[str, ...] = ()


class LambdaHandler:
    """One container's handler: the runtime (config, logger, stores) and the route logic."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime

    @property
    def logger(self) -> logging.Logger:
        return self.runtime.logger

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Handle one Lambda invocation.

        Raises:
            MalformedEvent: ``event`` is no S3 notification route polythumb knows.
            TransientError: a direct (non-SQS) invocation hit a transient error; Lambda retries it.
        """
        request_id = getattr(context, "aws_request_id", None)
        try:
            messages = sqs_messages(event)
            if messages is not None:
                return self._sqs_batch(messages, request_id)
            parsed = parse_lambda_event(event)
        except MalformedEvent as exc:
            self.logger.error(
                "malformed event, not retried: %s",
                exc,
                extra={"fields": {"aws_request_id": request_id, "outcome": "failed", "error_kind": exc.kind}},
            )
            raise
        self._log_ignored(parsed.ignored, aws_request_id=request_id)
        outcomes: list[Outcome] = []
        first_error: Exception | None = None
        for object_event in parsed.events:
            try:
                outcomes.append(self._handle(object_event, aws_request_id=request_id, route="direct"))
            except Exception as exc:
                first_error = first_error or exc  # finish the other records; the retry skips the done ones
        if first_error is not None:
            raise first_error
        return {"outcomes": [outcome.to_dict() for outcome in outcomes]}

    def _sqs_batch(self, messages: list[SqsMessage], request_id: str | None) -> dict[str, Any]:
        failures: list[str] = []
        for message in messages:
            context = {"aws_request_id": request_id, "message_id": message.message_id, "route": "sqs"}
            if failures and message.fifo:
                # A FIFO queue must not see a later message succeed before an earlier one: retry the rest too.
                failures.append(message.message_id)
                continue
            try:
                parsed = parse_body(message.body)
            except MalformedEvent as exc:
                self.logger.error(
                    "malformed SQS message %s acknowledged and dropped (a retry cannot fix it): %s",
                    message.message_id,
                    exc,
                    extra={"fields": {**context, "outcome": "failed", "error_kind": exc.kind}},
                )
                continue
            self._log_ignored(parsed.ignored, **context)
            for object_event in parsed.events:
                try:
                    self._handle(object_event, **context)
                except Exception:
                    failures.append(message.message_id)
                    break  # the retry redoes this message's other records; they are idempotent
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    def _handle(self, event: ObjectEvent, **context: Any) -> Outcome:
        try:
            return self.runtime.handle(event, **context)
        except TransientError:
            raise  # the runtime has logged it
        except Exception as exc:
            # A bug or an unclassified storage error: log it with its traceback and let the platform retry,
            # so the event ends in the dead-letter queue rather than being lost.
            self.logger.exception(
                "unexpected error on %s/%s, the platform will retry: %s",
                event.bucket,
                event.key,
                type(exc).__name__,
                extra={"fields": {**context, "key": event.key, "outcome": "error", "error_kind": type(exc).__name__}},
            )
            raise

    def _log_ignored(self, ignored: tuple[str, ...], **context: Any) -> None:
        for what in ignored:
            self.logger.info(
                "acknowledged without work: %s",
                what,
                extra={"fields": {**context, "outcome": "skipped", "reason": "not_applicable"}},
            )


def build_handler(environ: Mapping[str, str] | None = None, *, s3_client: Any = None) -> LambdaHandler:
    """Build a handler from ``environ`` (``os.environ`` by default).

    Args:
        environ: The THUMBS_* settings to validate and use.
        s3_client: A boto3 S3 client; by default the container's shared one (created lazily, honouring
            ``AWS_ENDPOINT_URL``).

    Raises:
        ConfigError: a setting is missing or invalid (THUMBS_DEST_BUCKET is required).
    """

    def open_bucket(bucket: str) -> S3Storage:
        return S3Storage(bucket, client=s3_client)

    return LambdaHandler(FunctionRuntime(open_bucket, environ=environ, extra_settings=EXTRA_SETTINGS))


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
