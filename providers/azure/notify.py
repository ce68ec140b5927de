"""Completion events on Azure (``eventgrid:https://TOPIC/api/events``) and user-delegation SAS URLs.

The POST goes through :mod:`core.completion.http` (no redirect followed: the Entra token stays with the
topic; one deadline per publish); an event takes at most :data:`MAX_EVENT_BYTES` (Event Grid's 1 MB).

The Event Grid custom topic takes the structured CloudEvent as it is (input schema CloudEvents 1.0),
POSTed with a Microsoft Entra token of the function's managed identity (role *EventGrid Data
Sender* on the topic, granted by ``deploy/notify.tf``): no access key in the app settings.
``AZURE_CLIENT_ID`` selects a user-assigned identity, as azure-identity reads it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from core.completion import http
from core.completion.notify import CLOUDEVENT_CONTENT_TYPE, event_bytes
from core.completion.urls import SignedUrl
from core.errors import NotifyUnavailable, SigningRefused, SigningUnavailable
from core.once import given_or_once
from core.storage.port import Storage
from providers.azure import MISSING_SDK_HINT

EVENTGRID_SCOPE = "https://eventgrid.azure.net/.default"
_KEY_LIFETIME = timedelta(days=7)  # the longest a user delegation key lives
_CLOCK_SKEW = timedelta(minutes=5)
#: An Event Grid event may be 1 MB; the margin keeps room for the HTTP request around it.
MAX_EVENT_BYTES = 1024 * 1024 - 1024


class EventGridNotifier:
    """``eventgrid:ENDPOINT``: one CloudEvent per POST to a custom topic, authenticated by managed identity."""

    max_event_bytes: int | None = MAX_EVENT_BYTES

    def __init__(self, endpoint: str, *, eventgrid_credential: Any = None, **_: Any) -> None:
        self.endpoint = endpoint
        self.target = f"Event Grid topic {http.describe(endpoint)}"
        self._credential = given_or_once(eventgrid_credential, _default_credential)
        self._token_lock = threading.Lock()  # one token request at a time; the credential caches the token

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not a topic endpoint (None when it is)."""
        parts = urlsplit(rest)
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        problem = http.url_problem(rest)
        if (parts.scheme == "https" or local) and parts.path.endswith("/api/events") and not problem:
            return None
        if problem and parts.hostname:
            return problem
        return "eventgrid: needs the topic endpoint, eventgrid:https://TOPIC.REGION-1.eventgrid.azure.net/api/events"

    def _token(self) -> str:
        credential = self._credential()
        with self._token_lock:
            token: str = credential.get_token(EVENTGRID_SCOPE).token
            return token

    def publish(self, event: Mapping[str, Any], *, deadline: float | None = None) -> None:
        body = event_bytes(event)
        try:
            token = self._token()
        except Exception as exc:  # azure.identity's CredentialUnavailableError, ClientAuthenticationError
            raise NotifyUnavailable(
                f"no Entra token for Event Grid ({type(exc).__name__}); the platform will retry"
            ) from exc
        headers = {
            "Content-Type": CLOUDEVENT_CONTENT_TYPE,
            "Authorization": f"Bearer {token}",
            "User-Agent": "polythumb",
        }
        http.post(self.endpoint, body, headers=headers, what=self.target, deadline=deadline)


def _default_credential() -> Any:
    # Not the connection's credential(): azure-identity reads AZURE_CLIENT_ID for a user-assigned identity here.
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:  # pragma: no cover - the azure extra installs it
        raise ImportError(MISSING_SDK_HINT) from exc
    return DefaultAzureCredential()


class _DelegationKeys:
    """The process's user delegation keys (one per account), reused while they serve the TTL asked for.

    A key lives :data:`_KEY_LIFETIME` (Azure's longest, 7 days). A URL signed with it expires when it does at
    the latest, so a key is fetched again only once it would cut a URL short by more than :func:`_slack`:
    with ``THUMBS_URL_TTL`` near 7 days that is one fetch an hour per container, not one per URL.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}

    def key_for(self, service: Any, *, ttl: int) -> Any:
        """A key from the account of ``service`` (the store's own ``BlobServiceClient``) that outlives now +
        ``ttl`` less :func:`_slack` (fetched when none does).

        Raises:
            SigningRefused: the identity may not get a key (no ``Storage Blob Delegator`` role).
            SigningUnavailable: Blob Storage failed to issue one for now.
        """
        now = datetime.now(UTC)
        with self._lock:
            key = self._keys.get(service.url)
            if key is None or _expiry(key) < now + timedelta(seconds=ttl) - _slack(ttl):
                key = self._fetch(service, now)
                self._keys[service.url] = key
            return key

    def _fetch(self, service: Any, now: datetime) -> Any:
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            return service.get_user_delegation_key(now - _CLOCK_SKEW, now + _KEY_LIFETIME - _CLOCK_SKEW)
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise SigningRefused(
                    "THUMBS_URL_MODE=signed: the function's identity may not get a user delegation key "
                    f"(HTTP {exc.status_code} {getattr(exc, 'error_code', None) or ''}); grant it Storage Blob "
                    "Delegator on the storage account (deploy/notify.tf does with signed_urls = true), or set "
                    "THUMBS_URL_MODE to none | public"
                ) from exc
            problem = f"HTTP {exc.status_code}"
        except AzureError as exc:
            problem = type(exc).__name__
        raise SigningUnavailable(f"no user delegation key ({problem}); the platform will retry")


def _slack(ttl: int) -> timedelta:
    """How much shorter than asked a URL may be, to reuse a key: a tenth of the TTL, an hour at most."""
    return min(timedelta(hours=1), timedelta(seconds=ttl) / 10)


def _expiry(key: Any) -> datetime:
    value = key.signed_expiry
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class AzureUrlSigner:
    """Read-only SAS URLs for blobs (at most 7 days).

    With the function's managed identity (the deploy's connection) this is a **user delegation SAS**: signed
    with a key Blob Storage issues to the identity (``Storage Blob Delegator`` on the account, granted by
    ``deploy/notify.tf`` when ``signed_urls = true``); it reads only what the identity may read, and revoking
    the identity's delegation keys revokes it. A URL never outlives its key: it expires at the earlier of the
    TTL and the key's expiry (and says so: :class:`core.completion.urls.SignedUrl`). With an account-key
    connection string (Azurite; not the deploy) it is a service SAS signed with that key.
    """

    def __init__(self) -> None:
        self._keys = _DelegationKeys()

    def __call__(self, store: Storage, key: str, ttl: int) -> SignedUrl:
        """A read-only SAS URL for blob ``key``, valid ``ttl`` seconds at most.

        Raises:
            SigningRefused: the identity may not get a user delegation key.
            SigningUnavailable: Blob Storage failed to issue one for now.
        """
        from providers.azure.storage import AzureBlobStorage

        if not isinstance(store, AzureBlobStorage):
            raise TypeError(f"the Azure signer signs Blob Storage objects, not {type(store).__name__}")
        try:
            from azure.storage.blob import BlobSasPermissions, generate_blob_sas
        except ImportError as exc:  # pragma: no cover
            raise ImportError(MISSING_SDK_HINT) from exc
        container = store.container
        blob = container.get_blob_client(key)
        now = datetime.now(UTC)
        expiry = now + timedelta(seconds=ttl)
        options: dict[str, Any] = {
            "account_name": container.account_name,
            "container_name": container.container_name,
            "blob_name": key,
            "permission": BlobSasPermissions(read=True),
            "start": now - _CLOCK_SKEW,
            "protocol": "https" if urlsplit(blob.url).scheme == "https" else "https,http",
        }
        account_key = getattr(container.credential, "account_key", None)
        if account_key:
            options["account_key"] = account_key
        else:
            delegation = self._keys.key_for(store.service, ttl=ttl)
            options["user_delegation_key"] = delegation
            expiry = min(expiry, _expiry(delegation))  # never past the key: Azure refuses the URL after it
        expiry = expiry.replace(microsecond=0)  # the SAS carries whole seconds; never round up
        return SignedUrl(f"{blob.url}?{generate_blob_sas(expiry=expiry, **options)}", expiry)

    def check(self, store: Storage) -> None:
        """At cold start: with the managed identity, fetch the user delegation key (kept for the URLs)."""
        self(store, "polythumb-signing-check", 60)


sign_url = AzureUrlSigner()
