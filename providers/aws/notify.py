"""Completion events on AWS (``sns:TOPIC_ARN``, ``eventbridge:BUS``) and pre-signed S3 URLs.

Both notifiers publish the structured CloudEvent unchanged, so a consumer reads the same JSON
everywhere:

* SNS: the message body is the event; message attributes ``type`` and ``subject`` let a
  subscription filter policy pick events without parsing the body. An SQS queue subscribed with
  raw message delivery receives the event as its body.
* EventBridge: ``Source`` is ``dev.polythumb``, ``DetailType`` the event type and ``Detail`` the event;
  a rule matches ``{"source": ["dev.polythumb"], "detail-type": ["dev.polythumb.thumbnails.ready"]}``.

Clients are created on the first publish (boto3 honours ``AWS_ENDPOINT_URL``), with the same short
timeouts and bounded retries as the S3 client; an error becomes :class:`core.errors.NotifyUnavailable`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from core.errors import NotifyUnavailable
from core.storage.port import Storage
from providers.aws import import_boto3
from providers.aws.storage import S3Storage, client_config

EVENTBRIDGE_SOURCE = "dev.polythumb"
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_BUS = re.compile(r"^(?:[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]+)$")


class _Lazy:
    """One client per notifier, created on first use."""

    def __init__(self, service: str, client: Any) -> None:
        self._service = service
        self._client = client
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._client is None:
                session = import_boto3().session.Session()
                self._client = session.client(self._service, config=client_config())
            return self._client


def _unavailable(what: str, exc: Exception) -> NotifyUnavailable:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    return NotifyUnavailable(f"{what} did not take the event ({code or type(exc).__name__}); the platform will retry")


class SnsNotifier:
    """``sns:TOPIC_ARN``: one SNS message per event."""

    def __init__(self, topic_arn: str, *, sns_client: Any = None, **_: Any) -> None:
        self.topic_arn = topic_arn
        self._client = _Lazy("sns", sns_client)

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not a topic ARN (None when it is)."""
        return None if _TOPIC_ARN.match(rest) else "sns: needs a topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME"

    def publish(self, event: Mapping[str, Any]) -> None:
        params: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Message": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
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
            raise _unavailable(f"SNS topic {self.topic_arn}", exc) from exc


class EventBridgeNotifier:
    """``eventbridge:BUS``: one ``PutEvents`` entry per event (bus name or ARN)."""

    def __init__(self, bus: str, *, events_client: Any = None, **_: Any) -> None:
        self.bus = bus
        self._client = _Lazy("events", events_client)

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not an event bus name or ARN (None when it is)."""
        return None if _BUS.match(rest) else "eventbridge: needs an event bus name or ARN, e.g. eventbridge:default"

    def publish(self, event: Mapping[str, Any]) -> None:
        entry = {
            "Source": EVENTBRIDGE_SOURCE,
            "DetailType": str(event["type"]),
            "Detail": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
            "EventBusName": self.bus,
            "Resources": [],
        }
        try:
            answer = self._client().put_events(Entries=[entry])
        except Exception as exc:
            raise _unavailable(f"EventBridge bus {self.bus}", exc) from exc
        if answer.get("FailedEntryCount"):
            failed = answer.get("Entries", [{}])[0]
            raise NotifyUnavailable(
                f"EventBridge bus {self.bus} refused the event ({failed.get('ErrorCode', 'unknown')}); "
                "the platform will retry"
            )


def sign_url(store: Storage, key: str, ttl: int) -> str:
    """A pre-signed S3 GET URL for ``key``, valid ``ttl`` seconds.

    Signed locally with the function's credentials (no request is made). With the Lambda role's
    temporary credentials the URL stops working when the session token expires (at most the role
    session's lifetime, often under the requested ``ttl``): AWS's own limit of presigned URLs.
    """
    if not isinstance(store, S3Storage):
        raise TypeError(f"the AWS signer signs S3 objects, not {type(store).__name__}")
    url: str = store.client.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=ttl
    )
    return url
