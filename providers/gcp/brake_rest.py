"""The brake's :class:`~providers.gcp.brake_steps.Transport` over Google Cloud's REST APIs, as the caller itself.

Inside a function there is no ``gcloud``: the automatic brake (:mod:`providers.gcp.brake_function`) does the
same steps as ``polythumb brake gcp`` through the APIs ``gcloud`` itself calls -- Eventarc v1
``projects.locations.triggers.get``, Pub/Sub v1 ``subscriptions.get``, ``subscriptions.patch`` (labels and
message retention, with an update mask) and ``subscriptions.modifyPushConfig`` -- and writes its records with
google-cloud-storage. Requests are authorised by google-auth's default credentials (the function's service
account); no token is ever logged.

A failure is classified: throttling, a 5xx or an unreachable API is a :class:`~core.errors.TransientError` (the
caller's platform retries); any other refusal (403: a missing permission, 404: no such trigger) a
:class:`~core.errors.ConfigError` naming the method and the resource.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError, NotFound, TransientError
from providers.gcp.brake_steps import RETENTION_DURATIONS

#: The APIs' roots (``endpoint`` replaces both with one stand-in's, in tests).
EVENTARC_ROOT, PUBSUB_ROOT = "https://eventarc.googleapis.com/v1/", "https://pubsub.googleapis.com/v1/"
#: The scope google-auth's default credentials are asked for.
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: (connect, read) timeouts of one request, in seconds.
TIMEOUT = (5.0, 30.0)
#: HTTP statuses worth retrying later.
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class RestTransport:
    """:class:`~providers.gcp.brake_steps.Transport` over REST.

    Args:
        session: A ``requests``-like session that authorises its requests (google-auth's ``AuthorizedSession``).
        storage_client: A ``google.cloud.storage.Client`` for the records.
        endpoint: One root serving both APIs (a stand-in); default: Google's.
    """

    def __init__(self, *, session: Any, storage_client: Any, endpoint: str | None = None) -> None:
        self._session = session
        self._storage = storage_client
        root = endpoint.rstrip("/") + "/v1/" if endpoint else None
        self._eventarc, self._pubsub = root or EVENTARC_ROOT, root or PUBSUB_ROOT

    def trigger(self, name: str) -> Mapping[str, Any]:
        return self._call("GET", self._eventarc + name, "eventarc triggers.get")

    def subscription(self, name: str) -> dict[str, Any]:
        return self._call("GET", self._pubsub + name, "pubsub subscriptions.get")

    def update_subscription(
        self,
        name: str,
        *,
        set_label: tuple[str, str] | None = None,
        remove_label: str | None = None,
        retention: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {}
        if set_label or remove_label:  # the API replaces the whole map: read it, change one label (as gcloud does)
            labels = dict(self.subscription(name).get("labels") or {})
            if set_label:
                labels[set_label[0]] = set_label[1]
            if remove_label:
                labels.pop(remove_label, None)
            fields["labels"] = labels
        if retention:
            fields["messageRetentionDuration"] = RETENTION_DURATIONS[retention]
        if fields:
            body = {"subscription": fields, "updateMask": ",".join(fields)}
            self._call("PATCH", self._pubsub + name, "pubsub subscriptions.patch", body)

    def push_to(self, name: str, push: Mapping[str, Any]) -> None:
        body = {"pushConfig": dict(push)}
        self._call("POST", f"{self._pubsub}{name}:modifyPushConfig", "pubsub subscriptions.modifyPushConfig", body)

    def write_record(self, url: str, text: str) -> None:
        self._record(url, "write", lambda blob: blob.upload_from_string(text, content_type="application/json"))

    def read_record(self, url: str) -> str:
        try:
            text: str = self._record(url, "read", lambda blob: blob.download_as_text())
        except NotFound as exc:
            raise ConfigError(
                f"{url}: no brake record there: restore the subscription's push endpoint by hand"
            ) from exc
        return text

    def remove_record(self, url: str) -> None:
        with contextlib.suppress(NotFound):  # already gone: a release completed by a second run
            self._record(url, "remove", lambda blob: blob.delete())

    # -- the two channels ------------------------------------------------------------------------------------

    def _call(self, method: str, url: str, what: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        import requests

        resource = url.split("/v1/", 1)[-1]
        try:
            # A redirect is not followed: no Google API answers one, and it would take the request elsewhere.
            response = self._session.request(method, url, json=body, timeout=TIMEOUT, allow_redirects=False)
        except (requests.RequestException, OSError) as exc:
            raise TransientError(f"{what} {resource}: unreachable ({type(exc).__name__}), retry later") from exc
        except Exception as exc:  # google-auth failing to mint a token: TransportError / RefreshError
            from google.auth import exceptions as auth

            if isinstance(exc, auth.GoogleAuthError):
                raise TransientError(f"{what} {resource}: no token for the call ({type(exc).__name__})") from exc
            raise
        status = int(response.status_code)
        if 300 <= status < 400:
            raise ConfigError(f"{what} {resource}: answered {status}, a redirect, not followed")
        if status >= 400:
            detail = _error_message(response)
            if status in RETRYABLE:
                raise TransientError(f"{what} {resource}: answered {status} ({detail}), retry later")
            raise ConfigError(f"{what} {resource}: answered {status} ({detail})")
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    def _record(self, url: str, operation: str, act: Any) -> Any:
        from providers.gcp.storage import translate_error

        bucket, _, name = url.removeprefix("gs://").partition("/")
        try:
            return act(self._storage.bucket(bucket).blob(name))
        except Exception as exc:
            raise translate_error(exc, f"brake record {operation}", url) from exc


def _error_message(response: Any) -> str:
    """The API's ``error.message`` (never the request or its headers), shortened."""
    try:
        message = str(((response.json() or {}).get("error") or {}).get("message") or "")
    except ValueError:
        message = ""
    return (message or str(getattr(response, "reason", "") or "no detail"))[:300]
