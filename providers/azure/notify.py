"""Completion events on Azure (``eventgrid:https://TOPIC/api/events``) and user-delegation SAS URLs.

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
from core.errors import NotifyUnavailable
from core.storage.port import Storage
from providers.azure import MISSING_SDK_HINT

EVENTGRID_SCOPE = "https://eventgrid.azure.net/.default"
_KEY_LIFETIME = timedelta(days=7)  # the longest a user delegation key lives
_CLOCK_SKEW = timedelta(minutes=5)


class EventGridNotifier:
    """``eventgrid:ENDPOINT``: one CloudEvent per POST to a custom topic, authenticated by managed identity."""

    def __init__(self, endpoint: str, *, eventgrid_credential: Any = None, **_: Any) -> None:
        self.endpoint = endpoint
        self._credential = eventgrid_credential
        self._lock = threading.Lock()

    @staticmethod
    def check_target(rest: str) -> str | None:
        """Why ``rest`` is not a topic endpoint (None when it is)."""
        parts = urlsplit(rest)
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if (parts.scheme == "https" or local) and parts.hostname and parts.path.endswith("/api/events"):
            return None
        return "eventgrid: needs the topic endpoint, eventgrid:https://TOPIC.REGION-1.eventgrid.azure.net/api/events"

    def _token(self) -> str:
        with self._lock:
            if self._credential is None:
                try:
                    from azure.identity import DefaultAzureCredential
                except ImportError as exc:  # pragma: no cover - the azure extra installs it
                    raise ImportError(MISSING_SDK_HINT) from exc
                self._credential = DefaultAzureCredential()
            token: str = self._credential.get_token(EVENTGRID_SCOPE).token
            return token

    def publish(self, event: Mapping[str, Any]) -> None:
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
        where = urlsplit(self.endpoint)
        http.post(self.endpoint, body, headers=headers, what=f"Event Grid topic {where.hostname}{where.path}")


class _DelegationKeys:
    """The process's user delegation key, reused while it outlives the URLs it signs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}

    def key_for(self, service: Any, account: str, until: datetime) -> Any:
        with self._lock:
            key = self._keys.get(account)
            if key is None or _expiry(key) < until + timedelta(minutes=1):
                now = datetime.now(UTC)
                key = service.get_user_delegation_key(now - _CLOCK_SKEW, now + _KEY_LIFETIME - _CLOCK_SKEW)
                self._keys[account] = key
            return key


def _expiry(key: Any) -> datetime:
    value = key.signed_expiry
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_KEYS = _DelegationKeys()


def sign_url(store: Storage, key: str, ttl: int) -> str:
    """A read-only SAS URL for blob ``key``, valid ``ttl`` seconds (at most 7 days).

    With the function's managed identity (the deploy's connection) this is a **user delegation SAS**:
    signed with a key Blob Storage issues to the identity (``Storage Blob Delegator`` on the account,
    granted by ``deploy/notify.tf`` when ``signed_urls = true``); it reads only what the identity may
    read, and revoking the identity's delegation keys revokes it. With an account-key connection
    string (Azurite; not the deploy) it is a service SAS signed with that key.
    """
    from providers.azure.storage import AzureBlobStorage

    if not isinstance(store, AzureBlobStorage):
        raise TypeError(f"the Azure signer signs Blob Storage objects, not {type(store).__name__}")
    try:
        from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
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
        "expiry": expiry,
        "protocol": "https" if urlsplit(blob.url).scheme == "https" else "https,http",
    }
    account_key = getattr(container.credential, "account_key", None)
    if account_key:
        options["account_key"] = account_key
    else:
        service = BlobServiceClient(account_url=blob.url.split(f"/{container.container_name}/", 1)[0],
                                    credential=container.credential)  # fmt: skip
        options["user_delegation_key"] = _KEYS.key_for(service, str(container.account_name), expiry)
    return f"{blob.url}?{generate_blob_sas(**options)}"
