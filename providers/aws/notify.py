"""Completion events on AWS (``sns:TOPIC_ARN``, ``eventbridge:BUS``) and pre-signed S3 URLs.

Both notifiers publish the structured CloudEvent unchanged, so a consumer reads the same JSON
everywhere:

* SNS: the message body is the event; message attributes ``type`` and ``subject`` let a
  subscription filter policy pick events without parsing the body. An SQS queue subscribed with
  raw message delivery receives the event as its body.
* EventBridge: ``Source`` is ``dev.polythumb``, ``DetailType`` the event type and ``Detail`` the event;
  a rule matches ``{"source": ["dev.polythumb"], "detail-type": ["dev.polythumb.thumbnails.ready"]}``.

Clients are created on the first publish (boto3 honours ``AWS_ENDPOINT_URL``) with short timeouts and two
attempts (:func:`notify_client_config`), so one publish stays near the core's publish budget; a publish is
not started when less than one attempt's time is left of its deadline, and a timeout becomes
:class:`core.errors.NotifyTimeout` (the rest of the delivery is then not published). Any other error
becomes :class:`core.errors.NotifyUnavailable`. Both targets take at most 256 KiB (SNS's message, an
EventBridge entry): a larger event goes without its outputs' URLs (see :func:`core.completion.events.fit`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from core import __version__
from core.completion.events import event_bytes
from core.completion.http import ATTEMPT_TIMEOUT
from core.completion.urls import SignedUrl, expiry_in
from core.errors import NotifyTimeout, NotifyUnavailable, SigningRefused
from core.once import given_or_once
from core.storage.port import Storage
from providers.aws import import_boto3
from providers.aws.storage import S3Storage

EVENTBRIDGE_SOURCE = "dev.polythumb"
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_BUS = re.compile(r"^(?:[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]+)$")
#: 256 KiB, SNS's message and EventBridge's entry limit, less 1 KiB for attributes, source and detail type.
MAX_EVENT_BYTES = 256 * 1024 - 1024
CONNECT_TIMEOUT = 2.0
_TIMEOUTS = ("ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError")


def notify_client_config() -> Any:
    """The botocore ``Config`` of the SNS and EventBridge clients: two attempts, each at most ~7 s."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": 2},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=ATTEMPT_TIMEOUT,
        user_agent_extra=f"polythumb/{__version__}",
    )


def _notify_client(service: str) -> Any:
    """A new boto3 client of ``service`` (``sns`` or ``events``) for publishing."""
    return import_boto3().session.Session().client(service, config=notify_client_config())


def _unavailable(what: str, exc: Exception) -> NotifyUnavailable:
    if type(exc).__name__ in _TIMEOUTS:
        return NotifyTimeout(f"{what} did not answer in time ({type(exc).__name__}); the platform will retry")
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    return NotifyUnavailable(f"{what} did not take the event ({code or type(exc).__name__}); the platform will retry")


def _require_time(what: str, deadline: float | None) -> None:
    """Refuse to start a call that its deadline leaves no time for (botocore cannot be given a deadline)."""
    if deadline is not None and deadline - time.monotonic() < CONNECT_TIMEOUT:
        raise NotifyTimeout(f"{what}: no time left in this invocation to publish; the platform will retry")


class SnsNotifier:
    """``sns:TOPIC_ARN``: one SNS message per event."""

    max_event_bytes: int | None = MAX_EVENT_BYTES

    def __init__(self, topic_arn: str, *, sns_client: Any = None, **_: Any) -> None:
        self.topic_arn = topic_arn
        self.target = f"SNS topic {topic_arn}"
        self._client = given_or_once(sns_client, lambda: _notify_client("sns"))

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not a topic ARN (None when it is)."""
        return None if _TOPIC_ARN.match(rest) else "sns: needs a topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME"

    def publish(self, event: Mapping[str, Any], *, deadline: float | None = None) -> None:
        _require_time(self.target, deadline)
        params: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Message": event_bytes(event).decode(),
            "MessageAttributes": {
                "type": {"DataType": "String", "StringValue": str(event["type"])},
                "subject": {"DataType": "String", "StringValue": str(event["subject"])[:256] or "-"},
            },
        }
        if self.topic_arn.endswith(".fifo"):  # per-source order; the stable id de-duplicates redeliveries
            params["MessageGroupId"] = str(event["subject"])[:128] or "-"
            params["MessageDeduplicationId"] = str(event["id"])
        try:
            self._client().publish(**params)
        except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ...: all retryable here
            raise _unavailable(self.target, exc) from exc


class EventBridgeNotifier:
    """``eventbridge:BUS``: one ``PutEvents`` entry per event (bus name or ARN)."""

    max_event_bytes: int | None = MAX_EVENT_BYTES

    def __init__(self, bus: str, *, events_client: Any = None, **_: Any) -> None:
        self.bus = bus
        self.target = f"EventBridge bus {bus}"
        self._client = given_or_once(events_client, lambda: _notify_client("events"))

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not an event bus name or ARN (None when it is)."""
        return None if _BUS.match(rest) else "eventbridge: needs an event bus name or ARN, e.g. eventbridge:default"

    def publish(self, event: Mapping[str, Any], *, deadline: float | None = None) -> None:
        _require_time(self.target, deadline)
        entry = {
            "Source": EVENTBRIDGE_SOURCE,
            "DetailType": str(event["type"]),
            "Detail": event_bytes(event).decode(),
            "EventBusName": self.bus,
            "Resources": [],
        }
        try:
            answer = self._client().put_events(Entries=[entry])
        except Exception as exc:
            raise _unavailable(self.target, exc) from exc
        if answer.get("FailedEntryCount"):
            failed = answer.get("Entries", [{}])[0]
            raise NotifyUnavailable(
                f"EventBridge bus {self.bus} refused the event ({failed.get('ErrorCode', 'unknown')}); "
                "the platform will retry"
            )


class S3UrlSigner:
    """Pre-signed S3 GET URLs (SigV4), signed locally with the function's credentials (no request is made).

    With the Lambda role's temporary credentials a URL stops working when the session token expires (at
    most the role session's lifetime, often under the requested TTL): AWS's own limit of presigned URLs.
    """

    def __call__(self, store: Storage, key: str, ttl: int) -> SignedUrl:
        """A pre-signed GET URL for ``key``, valid ``ttl`` seconds.

        Raises:
            SigningRefused: the function has no credentials to sign with.
        """
        if not isinstance(store, S3Storage):
            raise TypeError(f"the AWS signer signs S3 objects, not {type(store).__name__}")
        expires = expiry_in(ttl)  # taken before signing: the URL lasts at least until then, never less
        try:
            url: str = store.client.generate_presigned_url(
                "get_object", Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=ttl
            )
        except Exception as exc:
            if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
                raise SigningRefused(
                    "THUMBS_URL_MODE=signed needs AWS credentials to presign with, and there are none "
                    f"({type(exc).__name__}); accepted values: none | public, or give the function a role"
                ) from exc
            raise
        return SignedUrl(url, expires)

    def check(self, store: Storage) -> None:
        """At start: sign one URL (locally), so missing credentials fail the cold start, not an event."""
        self(store, "polythumb-signing-check", 60)


sign_url = S3UrlSigner()
