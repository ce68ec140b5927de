"""Find a storage service the way Azure Functions finds a connection, and build one client for it.

A connection has a *name* (default ``AzureWebJobsStorage``). The Functions host, and this module,
read it from app settings (environment variables, looked up case-insensitively as the host does):

* ``<name>`` (or ``AzureWebJobs<name>``) holding a **connection string**: shared-key, SAS or
  ``UseDevelopmentStorage=true`` (Azurite);
* else **identity-based** settings: the service's endpoint, ``<name>__blobServiceUri`` (also
  ``__serviceUri``) for Blob Storage or ``<name>__queueServiceUri`` for Queue Storage, or
  ``<name>__accountName`` (public cloud endpoint), authenticated with azure-identity:
  ``ManagedIdentityCredential`` when ``<name>__credential=managedidentity``, else
  ``DefaultAzureCredential``; ``<name>__clientId`` selects a user-assigned identity.

A connection string is a secret: it is never logged, never part of a ``repr`` or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from core.errors import ConfigError
from providers.azure import MISSING_SDK_HINT
from providers.azure.settings import DEFAULT_CONNECTION

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

# A storage connection string names at least one of these (lower-cased) keys.
_KNOWN_KEYS = {"accountname", "blobendpoint", "queueendpoint", "usedevelopmentstorage", "sharedaccesssignature"}

#: The storage services a connection reaches.
Service = Literal["blob", "queue"]

#: Per service: the settings naming its endpoint in an identity-based connection, as the Functions host
#: reads them (``__serviceUri`` is the Blob trigger's older name), and its public-cloud host name suffix.
_ENDPOINTS: dict[Service, tuple[tuple[str, ...], str]] = {
    "blob": (("blobServiceUri", "serviceUri"), "blob.core.windows.net"),
    "queue": (("queueServiceUri",), "queue.core.windows.net"),
}

#: Client timeouts in seconds. A thumbnail job moves a few MB: a read that stalls for 30 s is a
#: failure to hand back to the platform's retry, not something to wait out inside one invocation.
CONNECTION_TIMEOUT = 10
READ_TIMEOUT = 30


@dataclass(frozen=True)
class StorageConnection:
    """How to reach one storage service: a connection string, or the service's URL plus an identity.

    Attributes:
        name: The connection name it was resolved from (for messages).
        connection_string: The secret connection string, when one was configured.
        account_url: The service's endpoint for identity-based connections.
        credential_kind: ``"managedidentity"`` or ``"default"`` for identity-based connections.
        client_id: A user-assigned managed identity's client id, if configured.
    """

    name: str
    connection_string: str | None = field(default=None, repr=False)
    account_url: str | None = None
    credential_kind: str | None = None
    client_id: str | None = None

    @property
    def identity_based(self) -> bool:
        """True when the connection authenticates with Microsoft Entra ID rather than a key or SAS."""
        return self.connection_string is None

    def describe(self) -> str:
        """A description safe to log: never the key or the SAS token."""
        if self.connection_string is not None:
            parts = _parse_connection_string(self.connection_string)
            where = parts.get("blobendpoint") or parts.get("accountname")
            if parts.get("usedevelopmentstorage", "").lower() == "true":
                where = "the local storage emulator"
            return f"connection string in {self.name} ({where or 'unnamed account'})"
        return f"{self.credential_kind} identity on {self.account_url} ({self.name}__*)"


def resolve_connection(
    name: str = DEFAULT_CONNECTION,
    *,
    environ: Mapping[str, str],
    service: Service = "blob",
    otherwise: str = "point THUMBS_STORAGE_CONNECTION at another connection name",
) -> StorageConnection:
    """Resolve connection ``name`` to ``service`` from app settings, as the Functions host does.

    Args:
        name: The connection name.
        environ: The app settings.
        service: Which of the account's services the connection is for (its identity-based endpoint).
        otherwise: What else the operator may do, for the message of a missing connection.

    Raises:
        ConfigError: when neither a connection string nor identity-based settings are present,
            naming the settings looked for (never their values).
    """
    settings = AppSettings(environ)
    for setting in (name, f"AzureWebJobs{name}"):
        value = (settings.get(setting) or "").strip()
        if value:
            parts = _parse_connection_string(value)
            if not _KNOWN_KEYS & parts.keys():
                raise ConfigError(
                    f"app setting {setting} is set but is not a storage connection string "
                    "(expected 'Key=Value;...' pairs, e.g. AccountName=...;AccountKey=..., "
                    "or UseDevelopmentStorage=true)"
                )
            return StorageConnection(name=name, connection_string=value)

    uri_settings, host = _ENDPOINTS[service]
    uri_setting = f"{name}__{uri_settings[0]}"
    account_url = next(filter(None, ((settings.get(f"{name}__{s}") or "").strip() for s in uri_settings)), "")
    account_name = (settings.get(f"{name}__accountName") or "").strip()
    if not account_url and account_name:
        # The host builds the public-cloud endpoint from the account name; sovereign clouds need the URI setting.
        account_url = f"https://{account_name}.{host}"
    if not account_url:
        raise ConfigError(
            f"no {service} connection named {name!r}: set app setting {name} to a connection string, or "
            f"{uri_setting} / {name}__accountName for an identity-based connection (or {otherwise})"
        )
    if not account_url.startswith("https://"):
        raise ConfigError(
            f"{uri_setting}={account_url!r} is not valid; accepted values: an https:// {service} endpoint, "
            f"e.g. https://myaccount.{host} (tokens are never sent over plain http)"
        )
    chosen = (settings.get(f"{name}__credential") or "").strip().lower()
    kind = "managedidentity" if chosen == "managedidentity" else "default"
    client_id = (settings.get(f"{name}__clientId") or "").strip() or None
    return StorageConnection(name=name, account_url=account_url.rstrip("/"), credential_kind=kind, client_id=client_id)


def retry_policy() -> Any:
    """The SDK retry policy, chosen on purpose.

    The SDK default (15 s initial back-off, base 3, 3 retries) can spend about a minute inside one
    invocation. The platform already retries a failed delivery (Event Grid with back-off, then its
    dead-letter; the blob trigger up to ``maxDequeueCount``), so in-process retries only need to
    smooth a blip: 3 retries. ``ExponentialRetry`` waits ``initial_backoff + increment_base**n``
    before retry ``n`` (n = 1, 2, 3), +/- ``random_jitter_range``: about 3 s, 5 s and 9 s, each
    +/- 1 s of jitter, at most 20 s in all -- under the 30 s Event Grid waits for an answer before it
    redelivers, and well inside ``functionTimeout``. Retrying to the secondary region is off: RA-GRS
    is not assumed. (``tests/reliability/test_retry_policy.py`` measures this schedule.)
    """
    from azure.storage.blob import ExponentialRetry

    return ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3, random_jitter_range=1)


def blob_service_client(connection: StorageConnection, **options: Any) -> BlobServiceClient:
    """Build the one :class:`BlobServiceClient` a process uses for ``connection``.

    Args:
        connection: From :func:`resolve_connection`.
        **options: Extra client options (tests pass ``api_version`` or a faster retry policy).
    """
    try:
        from azure.storage.blob import BlobServiceClient
    except ImportError as exc:  # pragma: no cover - covered by the core-only isolation session
        raise ImportError(MISSING_SDK_HINT) from exc

    kwargs: dict[str, Any] = {
        "retry_policy": retry_policy(),
        "connection_timeout": CONNECTION_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
    }
    kwargs.update(options)
    if connection.connection_string is not None:
        return BlobServiceClient.from_connection_string(connection.connection_string, **kwargs)
    return BlobServiceClient(account_url=str(connection.account_url), credential=credential(connection), **kwargs)


def credential(connection: StorageConnection | None = None) -> Any:
    """The Entra ID credential of an identity-based ``connection`` (None: the developer's or host's default).

    ``ManagedIdentityCredential`` for ``__credential=managedidentity``, else ``DefaultAzureCredential``;
    ``__clientId`` selects a user-assigned identity in either.
    """
    # Imported here: azure-identity (and msal) cost cold-start time and are unused with connection strings.
    try:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    except ImportError as exc:  # pragma: no cover - covered by the core-only isolation session
        raise ImportError(MISSING_SDK_HINT) from exc
    client_id = connection.client_id if connection is not None else None
    if connection is not None and connection.credential_kind == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(managed_identity_client_id=client_id)


def _parse_connection_string(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in value.split(";"):
        key, sep, rest = item.partition("=")
        if sep and key.strip():
            parts[key.strip().lower()] = rest.strip()
    return parts


class AppSettings:
    """App-setting lookup that ignores case, as the Functions host's configuration does."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._exact = environ
        self._folded = {key.lower(): value for key, value in environ.items()}

    def get(self, name: str) -> str | None:
        value = self._exact.get(name)
        return value if value is not None else self._folded.get(name.lower())
