"""The AWS backfill sink: work items as S3 event notifications on the SQS queue the Lambda already consumes.

``polythumb backfill SRC --target aws --sink-option queue_url=https://sqs.<region>.amazonaws.com/<account>/<name>``
(or ``THUMBS_BACKFILL_QUEUE_URL``) lists and compares on the laptop, then sends one SQS message per source
that needs a render, with ``SendMessageBatch`` (10 messages per request, SQS's maximum; ``--workers``
requests in flight, default 16). Each message body is the document S3 itself would have sent for an
upload -- ``{"Records": [{eventVersion 2.1, ObjectCreated:Put, bucket, key, size, eTag, versionId}]}`` --
so the deployed handler and its event source mapping (partial batch responses, visibility timeout,
``maxReceiveCount``, the dead-letter queue) do the work unchanged. Keys are form-URL-encoded as S3
encodes them (``quote_plus``, ``/`` kept), because the handler decodes every notification key exactly
once (:func:`providers.aws.events.decode_key`).

Failures:

* an entry SQS reports failed with ``SenderFault: true`` (too large, invalid characters) cannot pass on a
  resend: non-retryable, straight to the local dead-letter file; other failed entries are retried;
* a request refused for throttling, a 5xx, a timeout or a lost connection: its entries are reported
  retryable, and the driver sends them again with backoff;
* a missing queue, denied access or missing credentials stop the run (the checkpoint keeps what is done).

Only ``sqs:SendMessage`` on that one queue is needed to send (``SendMessageBatch`` is authorised as
``SendMessage``); see ``deploy/backfill.tf`` for the operator's whole policy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import quote_plus

from core import __version__
from core.errors import ConfigError, PermissionDenied, PolythumbError, TransientError
from core.events import ObjectEvent
from core.ops.backfill.dispatch import SendFailure, SendResult, SinkRequest
from providers.aws import BACKFILL_QUEUE_URL, import_boto3

#: ``SendMessageBatch`` takes at most 10 entries.
MAX_BATCH = 10

#: ``SendMessageBatch`` requests in flight when ``--workers`` is not given.
DEFAULT_WORKERS = 16

#: The ``--sink-option`` keys this sink understands.
SINK_OPTIONS = ("queue_url",)

#: The S3 notification version written; the handler reads any 2.x.
EVENT_VERSION = "2.1"

#: Marks the records as polythumb's (S3 puts the notification configuration's id here).
CONFIGURATION_ID = "polythumb-backfill"

# SQS error codes by meaning (botocore's Error.Code; the JSON protocol also sends the AWS.SimpleQueueService.* forms).
_THROTTLED = frozenset(
    {"RequestThrottled", "ThrottlingException", "Throttling", "KmsThrottled", "ServiceUnavailable",
     "InternalError", "InternalFailure", "RequestTimeout"}
)  # fmt: skip
_MISSING_QUEUE = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue"})
_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
     "InvalidSecurity", "KmsAccessDenied", "KmsDisabled", "KmsNotFound", "UnrecognizedClientException"}
)  # fmt: skip
# A request SQS refuses because of what a message holds (size, characters): resending it unchanged cannot pass.
_REFUSED = frozenset(
    {"InvalidParameterValue", "InvalidMessageContents", "BatchRequestTooLong",
     "AWS.SimpleQueueService.BatchRequestTooLong", "MessageTooLong"}
)  # fmt: skip
_SQS_HOST = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


def s3_record(event: ObjectEvent, *, region: str) -> dict[str, Any]:
    """The S3 event notification record S3 sends for an upload of ``event``'s object.

    The key is form-URL-encoded exactly as S3 encodes it (``+`` for a space, ``%XX`` for the rest, ``/`` kept),
    since the handler decodes it once.
    """
    obj: dict[str, Any] = {"key": quote_plus(event.key, safe="/")}
    if event.size is not None:
        obj["size"] = event.size
    if event.etag:
        obj["eTag"] = event.etag
    if event.version:
        obj["versionId"] = event.version
    return {
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event.event_time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": CONFIGURATION_ID},
        # The handler logs x-amz-request-id as the event id: the plan's stable id, so repeats can be matched.
        "responseElements": {"x-amz-request-id": event.event_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": CONFIGURATION_ID,
            "bucket": {"name": event.bucket, "arn": f"arn:aws:s3:::{event.bucket}"},
            "object": obj,
        },
    }


def message_body(event: ObjectEvent, *, region: str) -> str:
    """The SQS message body: one S3 notification document holding one record."""
    return json.dumps({"Records": [s3_record(event, region=region)]}, ensure_ascii=False, separators=(",", ":"))


class SqsSink:
    """Sends work items to one SQS queue with ``SendMessageBatch``, up to ``workers`` requests at a time.

    Args:
        queue_url: The queue the function consumes (standard or FIFO).
        client: A boto3 SQS client (thread-safe); by default one is built (region from the URL or the AWS
            settings, endpoint from ``AWS_ENDPOINT_URL[_SQS]``, as boto3 reads them).
        workers: ``SendMessageBatch`` requests in flight at once: one request takes a round trip (tens of
            milliseconds from outside the region), so a single one would cap the fan-out at a few hundred
            messages per second.
    """

    def __init__(self, queue_url: str, *, client: Any = None, workers: int = 1) -> None:
        if not queue_url.startswith(("https://", "http://")):
            raise ConfigError(
                "the SQS queue URL must be an http(s) URL (https://sqs.<region>.amazonaws.com/<account>/<name>), "
                f"not {queue_url[:80]!r}"
            )
        self.queue_url = queue_url
        self._client = client if client is not None else make_client(queue_url)
        self._region = str(self._client.meta.region_name or "us-east-1")
        self._fifo = queue_url.rstrip("/").endswith(".fifo")
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="polythumb-sqs")

    @property
    def max_batch_size(self) -> int:
        return MAX_BATCH * self._workers

    def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
        """Send ``batch`` as ``SendMessageBatch`` requests of 10, in parallel; report each entry."""
        starts = range(0, len(batch), MAX_BATCH)
        outcomes = list(self._pool.map(lambda start: self._send_ten(batch[start : start + MAX_BATCH]), starts))
        failures: list[SendFailure] = []
        for start, outcome in zip(starts, outcomes, strict=True):
            if isinstance(outcome, Exception):
                raise outcome  # a missing queue or denied access: resending cannot help
            failures += [replace(failure, index=start + failure.index) for failure in outcome]
        return SendResult.with_failures(len(batch), failures)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def _send_ten(self, chunk: Sequence[ObjectEvent]) -> list[SendFailure] | PolythumbError:
        """One ``SendMessageBatch``: the entries that failed, or the error that must stop the run."""
        entries = [self._entry(index, event) for index, event in enumerate(chunk)]
        try:
            response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:
            if len(entries) > 1 and _error_code(exc) in _REFUSED:
                # SQS refuses the whole request when one message is invalid or too large: send them one by
                # one, so only the bad one is dead-lettered.
                return self._send_singly(entries)
            error = self._error(exc)
            if isinstance(error, TransientError):  # only this request's entries are retried
                return [SendFailure(index, f"[{error.kind}] {error}") for index in range(len(entries))]
            if isinstance(error, PolythumbError):
                return error
            raise
        return [
            SendFailure(
                index=int(failed["Id"]),
                reason=f"{failed.get('Code', 'unknown')}: {str(failed.get('Message', ''))[:200]}",
                retryable=not failed.get("SenderFault", False),
            )
            for failed in response.get("Failed", [])
        ]

    def _send_singly(self, entries: list[dict[str, Any]]) -> list[SendFailure]:
        failures: list[SendFailure] = []
        for entry in entries:
            single = {name: value for name, value in entry.items() if name != "Id"}
            try:
                self._client.send_message(QueueUrl=self.queue_url, **single)
            except Exception as exc:
                code = _error_code(exc)
                if code in _REFUSED:
                    failures.append(SendFailure(int(entry["Id"]), f"{code}: refused by SQS", retryable=False))
                    continue
                error = self._error(exc)
                if not isinstance(error, TransientError):
                    raise error from exc
                failures.append(SendFailure(int(entry["Id"]), f"[{error.kind}] {error}"))
        return failures

    def _error(self, exc: Exception) -> Exception:
        error = _translate(exc, self.queue_url)
        return exc if error is None else error  # not an SDK error: a bug, re-raised with its traceback

    def _entry(self, index: int, event: ObjectEvent) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": message_body(event, region=self._region)}
        if self._fifo:
            # One group per item: order between sources does not matter, parallelism does. The plan's stable
            # event id also lets SQS drop a resend within its 5-minute de-duplication window.
            ident = event.event_id or "backfill-" + hashlib.sha256(event.key.encode()).hexdigest()[:24]
            entry["MessageGroupId"] = entry["MessageDeduplicationId"] = ident
        return entry


def make_client(queue_url: str) -> Any:
    """A boto3 SQS client for ``queue_url``: region from the URL when it names one, else from the AWS settings."""
    boto3 = import_boto3()
    from botocore.config import Config

    match = _SQS_HOST.match(queue_url)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    if match:
        region = match.group(1)
    config = Config(
        # Standard mode retries throttling and 5xx with backoff a little; the dispatcher retries for longer.
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=5,
        read_timeout=20,
        user_agent_extra=f"polythumb/{__version__} backfill",
    )
    session = boto3.session.Session()
    return session.client("sqs", region_name=region or "us-east-1", config=config)


def make_sink(request: SinkRequest) -> SqsSink:
    """The sink for ``polythumb backfill --target aws`` (see :mod:`core.ops.backfill.dispatch`).

    Raises:
        ConfigError: no queue URL (``--sink-option queue_url=...`` or ``THUMBS_BACKFILL_QUEUE_URL``),
            or an unknown sink option.
    """
    options = request.checked_options(SINK_OPTIONS)
    queue_url = (options.get("queue_url") or "").strip() or BACKFILL_QUEUE_URL.read(os.environ)
    if not queue_url:
        raise ConfigError(
            f"--target aws needs the SQS queue the function consumes: --sink-option queue_url=<url> or "
            f"{BACKFILL_QUEUE_URL.name} (Terraform output events_queue_url)"
        )
    return SqsSink(queue_url, workers=int(request.workers or DEFAULT_WORKERS))


def _translate(exc: Exception, queue_url: str) -> PolythumbError | None:
    """A whole-request SDK failure: transient (the driver retries the batch) or one that stops the run.

    Returns None for an exception that is not the SDK's (a bug: the caller re-raises it as is).
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    queue = queue_url.rstrip("/").rsplit("/", 1)[-1]  # the name only: the URL holds the account id
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return TransientError(f"SQS unreachable or too slow ({type(exc).__name__}); queue {queue}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return PermissionDenied(f"no usable AWS credentials to send to queue {queue} ({type(exc).__name__})")
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _THROTTLED or status >= 500 or status == 429:
            return TransientError(f"SQS is throttling or unavailable ({code or status}); queue {queue}")
        if code in _MISSING_QUEUE:
            return ConfigError(f"SQS queue {queue} does not exist (check the queue URL and the region)")
        if code in _DENIED or status == 403:
            return PermissionDenied(
                f"sending to SQS queue {queue} was refused ({code}): the sender needs sqs:SendMessage on it"
            )
        return PolythumbError(f"SQS refused the batch for queue {queue}: {code or status}")
    if isinstance(exc, BotoCoreError):
        return PolythumbError(f"SQS client error for queue {queue}: {type(exc).__name__}")
    return None


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    # The JSON protocol sends "AWS.SimpleQueueService.NonExistentQueue" and the short "QueueDoesNotExist" too.
    return str(error.get("QueryErrorCode") or error.get("Code") or "")
