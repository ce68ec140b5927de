"""Completion events on GCP (``pubsub:projects/P/topics/T``) and V4 signed GCS URLs.

Pub/Sub is called through its REST ``publish`` method (one small POST, no extra SDK: google-auth,
already installed with google-cloud-storage, provides the function's identity token). The message
data is the structured CloudEvent (attribute ``content-type: application/cloudevents+json``, the
CloudEvents Pub/Sub binding's structured mode); attributes ``type`` and ``subject`` repeat the event's
so a subscription filter (``attributes.type = "dev.polythumb.thumbnails.ready"``) needs no parsing.
``PUBSUB_EMULATOR_HOST`` is honoured as the Google client libraries honour it (plain HTTP, no token),
so the notifier runs against the Pub/Sub emulator or any server speaking the same REST method.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.completion import http
from core.completion.notify import event_bytes
from core.errors import NotifyUnavailable
from core.storage.port import Storage
from providers.gcp.storage import GcsStorage

PUBSUB_EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"
PUBSUB_ENDPOINT = "https://pubsub.googleapis.com"
PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"
_TOPIC = re.compile(r"^projects/[a-z][a-z0-9.:-]{4,62}/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")


class PubSubNotifier:
    """``pubsub:projects/P/topics/T``: one Pub/Sub message per event."""

    def __init__(
        self, topic: str, *, pubsub_credentials: Any = None, pubsub_endpoint: str | None = None, **_: Any
    ) -> None:
        self.topic = topic
        emulator = os.environ.get(PUBSUB_EMULATOR_ENV)
        self._endpoint = pubsub_endpoint or (f"http://{emulator}" if emulator else PUBSUB_ENDPOINT)
        self._emulated = pubsub_endpoint is None and bool(emulator)
        self._credentials = pubsub_credentials
        self._lock = threading.Lock()

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not a topic path (None when it is)."""
        return None if _TOPIC.match(rest) else "pubsub: needs a topic path, pubsub:projects/PROJECT/topics/TOPIC"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "polythumb"}
        if self._emulated:
            return headers
        with self._lock:
            if self._credentials is None:
                import google.auth

                self._credentials, _ = google.auth.default(scopes=[PUBSUB_SCOPE])
            if not self._credentials.valid:
                from google.auth.transport.requests import Request

                self._credentials.refresh(Request())
            headers["Authorization"] = f"Bearer {self._credentials.token}"
        return headers

    def publish(self, event: Mapping[str, Any]) -> None:
        message = {
            "data": base64.b64encode(event_bytes(event)).decode(),
            "attributes": {
                "content-type": "application/cloudevents+json",
                "type": str(event["type"]),
                "subject": str(event["subject"])[:1024],
            },
        }
        body = json.dumps({"messages": [message]}).encode()
        try:
            headers = self._headers()
        except Exception as exc:  # google.auth's RefreshError, TransportError: the identity is unavailable
            raise NotifyUnavailable(f"no token for Pub/Sub ({type(exc).__name__}); the platform will retry") from exc
        answer = http.post(f"{self._endpoint}/v1/{self.topic}:publish", body, headers=headers,
                           what=f"Pub/Sub topic {self.topic}")  # fmt: skip
        try:
            ids = json.loads(answer).get("messageIds")
        except ValueError:
            ids = None
        if not ids:
            raise NotifyUnavailable(f"Pub/Sub topic {self.topic} returned no message id; the platform will retry")


def sign_url(store: Storage, key: str, ttl: int) -> str:
    """A V4 signed GET URL for ``key``, valid ``ttl`` seconds (at most 7 days).

    With a service-account key the URL is signed locally. With the function's own identity (Cloud
    Run's metadata-server credentials hold no key) google-cloud-storage asks IAM ``signBlob`` to
    sign: the function's service account needs ``iam.serviceAccounts.signBlob`` on itself
    (``roles/iam.serviceAccountTokenCreator``, granted by ``deploy/notify.tf``).
    """
    if not isinstance(store, GcsStorage):
        raise TypeError(f"the GCP signer signs GCS objects, not {type(store).__name__}")
    bucket = store.handle
    credentials = bucket.client._credentials
    options: dict[str, Any] = {"version": "v4", "method": "GET", "expiration": timedelta(seconds=ttl)}
    if not hasattr(credentials, "sign_bytes"):
        from google.auth.transport.requests import Request

        if not credentials.valid:
            credentials.refresh(Request())
        options["service_account_email"] = credentials.service_account_email
        options["access_token"] = credentials.token
    else:
        options["credentials"] = credentials
    url: str = bucket.blob(key).generate_signed_url(**options)
    return url
