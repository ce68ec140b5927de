"""Completion events on GCP (``pubsub:projects/P/topics/T``) and V4 signed GCS URLs.

Pub/Sub is called through its REST ``publish`` method (one small POST, no extra SDK: google-auth,
already installed with google-cloud-storage, provides the function's identity token). The message
data is the structured CloudEvent (attribute ``content-type: application/cloudevents+json``, the
CloudEvents Pub/Sub binding's structured mode); attributes ``type`` and ``subject`` repeat the event's
so a subscription filter (``attributes.type = "dev.polythumb.thumbnails.ready"``) needs no parsing.
``PUBSUB_EMULATOR_HOST`` is honoured as the Google client libraries honour it (plain HTTP, no token),
so the notifier runs against the Pub/Sub emulator or any server speaking the same REST method. The POST
goes through :mod:`core.completion.http`: no redirect is followed (the bearer token stays with Pub/Sub),
one deadline bounds the publish. An event takes at most :data:`MAX_EVENT_BYTES` (Pub/Sub's 10 MB request,
with the event base64-encoded in it).

Signed URLs (:class:`GcsUrlSigner`) are V4 signed GCS URLs: with a service-account key, signed locally;
with the function's own identity, through IAM ``signBlob``, called here (not by google-cloud-storage) so
that a missing permission is told apart from an outage: the first is a setting to fix
(:class:`core.errors.SigningRefused`, checked once at cold start), the second a retry
(:class:`core.errors.SigningUnavailable`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from core.completion import http
from core.completion.notify import event_bytes
from core.completion.urls import SignedUrl, expiry_in
from core.completion.window import PUBLISH_BUDGET
from core.errors import NotifyUnavailable, SigningRefused, SigningUnavailable
from core.once import given_or_once
from core.storage.port import Storage
from providers.gcp.storage import GcsStorage

PUBSUB_EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"
PUBSUB_ENDPOINT = "https://pubsub.googleapis.com"
PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"
#: Pub/Sub takes 10 MB per publish request; the event goes base64-encoded (4/3) inside the JSON body.
MAX_EVENT_BYTES = 7_000_000
IAM_ENDPOINT = "https://iamcredentials.googleapis.com"
_TOPIC = re.compile(r"^projects/[a-z][a-z0-9.:-]{4,62}/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")


class PubSubNotifier:
    """``pubsub:projects/P/topics/T``: one Pub/Sub message per event."""

    max_event_bytes: int | None = MAX_EVENT_BYTES

    def __init__(
        self, topic: str, *, pubsub_credentials: Any = None, pubsub_endpoint: str | None = None, **_: Any
    ) -> None:
        self.topic = topic
        self.target = f"Pub/Sub topic {topic}"
        emulator = os.environ.get(PUBSUB_EMULATOR_ENV)
        self._endpoint = pubsub_endpoint or (f"http://{emulator}" if emulator else PUBSUB_ENDPOINT)
        self._emulated = pubsub_endpoint is None and bool(emulator)
        self._credentials = given_or_once(pubsub_credentials, _default_credentials)
        self._refresh_lock = threading.Lock()  # google-auth credentials are refreshed in place

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not a topic path (None when it is)."""
        return None if _TOPIC.match(rest) else "pubsub: needs a topic path, pubsub:projects/PROJECT/topics/TOPIC"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "polythumb"}
        if self._emulated:
            return headers
        credentials = self._credentials()
        with self._refresh_lock:
            if not credentials.valid:
                from google.auth.transport.requests import Request

                credentials.refresh(Request())
            headers["Authorization"] = f"Bearer {credentials.token}"
        return headers

    def publish(self, event: Mapping[str, Any], *, deadline: float | None = None) -> None:
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
        answer = http.post(f"{self._endpoint}/v1/{self.topic}:publish", body, headers=headers, what=self.target,
                           deadline=deadline)  # fmt: skip
        try:
            ids = json.loads(answer).get("messageIds")
        except ValueError:
            ids = None
        if not ids:
            raise NotifyUnavailable(f"Pub/Sub topic {self.topic} returned no message id; the platform will retry")


def _default_credentials() -> Any:
    """The function's (or developer's) Application Default Credentials for Pub/Sub."""
    import google.auth

    credentials, _project = google.auth.default(scopes=[PUBSUB_SCOPE])
    return credentials


class GcsUrlSigner:
    """V4 signed GET URLs for GCS objects (at most 7 days).

    With a service-account key the URL is signed locally. With the function's own identity (Cloud Run's
    metadata-server credentials hold no key) IAM ``signBlob`` signs: the function's service account needs
    ``iam.serviceAccounts.signBlob`` on itself (``roles/iam.serviceAccountTokenCreator``, granted by
    ``deploy/notify.tf``).

    Args:
        iam_endpoint: The IAM Credentials API (tests point it at a local server).
    """

    def __init__(self, *, iam_endpoint: str = IAM_ENDPOINT) -> None:
        self.iam_endpoint = iam_endpoint

    def __call__(self, store: Storage, key: str, ttl: int) -> SignedUrl:
        """A V4 signed GET URL for ``key``, valid ``ttl`` seconds.

        Raises:
            SigningRefused: the identity may not sign (no key, no ``signBlob`` permission).
            SigningUnavailable: the metadata server or IAM failed for now.
        """
        if not isinstance(store, GcsStorage):
            raise TypeError(f"the GCP signer signs GCS objects, not {type(store).__name__}")
        bucket = store.handle
        credentials = bucket.client._credentials
        if not hasattr(credentials, "sign_bytes"):
            credentials = _IamSigning(credentials, self.iam_endpoint)
        expires = expiry_in(ttl)  # taken before signing: the URL lasts at least until then
        url: str = bucket.blob(key).generate_signed_url(
            version="v4", method="GET", expiration=timedelta(seconds=ttl), credentials=credentials
        )
        return SignedUrl(url, expires)

    def check(self, store: Storage) -> None:
        """At cold start: sign one URL (one ``signBlob`` call with the function's identity; none with a key)."""
        self(store, "polythumb-signing-check", 60)


def _iam_signing_base() -> Any:
    from google.auth.credentials import Signing

    return Signing


class _IamSigning(_iam_signing_base()):  # type: ignore[misc]
    """Signs through IAM ``signBlob`` as the function's own service account (google-auth's ``Signing``)."""

    def __init__(self, credentials: Any, endpoint: str) -> None:
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/")

    def _fresh(self) -> Any:
        if not hasattr(self._credentials, "service_account_email"):
            raise SigningRefused(
                "THUMBS_URL_MODE=signed needs a service account to sign with, and the function's credentials "
                f"({type(self._credentials).__name__}) have none; accepted values: none | public, or run the function "
                "as a service account"
            )
        if not self._credentials.valid:
            from google.auth.exceptions import GoogleAuthError
            from google.auth.transport.requests import Request

            try:
                self._credentials.refresh(Request())
            except GoogleAuthError as exc:
                raise SigningUnavailable(
                    f"no token to sign URLs with ({type(exc).__name__}); the platform will retry"
                ) from exc
        return self._credentials

    @property
    def signer_email(self) -> str:
        email: str = self._fresh().service_account_email
        return email

    @property
    def signer(self) -> Any:
        return self

    def sign_bytes(self, message: bytes) -> bytes:
        credentials = self._fresh()
        email = credentials.service_account_email
        url = f"{self._endpoint}/v1/projects/-/serviceAccounts/{quote(email, safe='@')}:signBlob"
        body = json.dumps({"payload": base64.b64encode(message).decode()}).encode()
        headers = {"Authorization": f"Bearer {credentials.token}", "Content-Type": "application/json"}
        try:
            answer = http.exchange("POST", url, body, headers=headers, deadline=time.monotonic() + PUBLISH_BUDGET)
        except OSError as exc:  # TimeoutError is an OSError
            problem = type(exc).__name__
            raise SigningUnavailable(f"IAM signBlob did not answer ({problem}); the platform will retry") from exc
        if answer.status in (401, 403, 404):
            raise SigningRefused(
                f"THUMBS_URL_MODE=signed: the function's service account {email} may not sign URLs (IAM signBlob "
                f"answered HTTP {answer.status}); grant it roles/iam.serviceAccountTokenCreator on itself "
                "(deploy/notify.tf does with signed_urls = true), or set THUMBS_URL_MODE to none | public"
            )
        try:
            if answer.status != 200:
                raise ValueError(f"HTTP {answer.status}")
            return base64.b64decode(json.loads(answer.body)["signedBlob"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SigningUnavailable(f"IAM signBlob failed ({exc}); the platform will retry") from exc


sign_url = GcsUrlSigner()
