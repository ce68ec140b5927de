"""Azure Blob Storage behind the core storage port (azure-storage-blob).

Azure specifics handled at this edge:

* **Metadata names** must be C# identifiers (letters, digits, ``_``, not starting with a digit);
  Azure answers 400 ``InvalidMetadata`` otherwise. They are refused here, before any request, with
  :class:`InvalidMetadata` naming the rule (never silently rewritten: a renamed key would not
  round-trip). Names are stored and returned lower-case (Azure preserves case, S3 folds it).
  Values must be printable ASCII; Azure trims surrounding whitespace from them.
* **ETags** come quoted from some calls and bare from others (listing); they are always returned
  without quotes, and re-quoted for conditions.
* **Conditional writes**: ``if_none_match`` is ``overwrite=False`` (``If-None-Match: *``, 409
  ``BlobAlreadyExists``); ``if_match`` is ``etag=..., match_condition=IfNotModified`` (412
  ``ConditionNotMet``). With blob versioning on, ``version`` is the version id and a revision given
  as a version id is checked against the current version, then written under that version's ETag.
* **Errors** map to :mod:`core.errors`: 404 -> NotFound; 401/403 -> PermissionDenied (never
  NotFound); 412 -> PreconditionFailed; 409 BlobAlreadyExists -> AlreadyExists; 408/429/5xx,
  timeouts and connection errors -> StorageUnavailable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from core.errors import (
    AlreadyExists,
    InvalidKey,
    NotFound,
    PermanentError,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    StorageUnavailable,
)
from core.once import Once
from core.storage.port import ObjectInfo, StoredObject
from core.storage.validation import check_key
from providers.azure import MISSING_SDK_HINT
from providers.azure.connection import StorageConnection, blob_service_client

try:
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        AzureError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.storage.blob import ContentSettings
except ImportError as exc:  # pragma: no cover - covered by the core-only isolation session
    raise ImportError(MISSING_SDK_HINT) from exc

if TYPE_CHECKING:
    from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient

# Azure metadata names are C# identifiers.
_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A blob version id is a timestamp ("2019-06-18T10:30:00.1234567Z"); an ETag is "0x..." hex.
_VERSION_ID = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_MAX_PAGE_SIZE = 5000  # List Blobs' maxresults ceiling


class InvalidMetadata(StorageError, PermanentError, ValueError):
    """A metadata name or value Azure Blob Storage refuses; retrying cannot help."""

    kind = "invalid_metadata"


class AzureBlobStorage:
    """One blob container behind the :class:`core.storage.Storage` port.

    Args:
        container: The container name.
        service: The process-wide :class:`BlobServiceClient` (see :class:`BlobStorageOpener`).
    """

    def __init__(self, container: str, *, service: BlobServiceClient) -> None:
        self._container_name = container
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)

    @property
    def bucket(self) -> str:
        return self._container_name

    @property
    def service(self) -> BlobServiceClient:
        """The process's shared client (the URL signer fetches its user delegation keys with it)."""
        return self._service

    @property
    def container(self) -> ContainerClient:
        """The container client (the URL signer signs its blobs' URLs)."""
        return self._container

    def head(self, key: str) -> ObjectInfo:
        check_key(key)
        try:
            properties = self._container.get_blob_client(key).get_blob_properties()
        except AzureError as exc:
            raise _translate(exc, self._where(key)) from exc
        return _info(key, properties)

    def get(self, key: str) -> StoredObject:
        check_key(key)
        try:
            # download_blob pins every chunk after the first to the first chunk's ETag, so the
            # bytes and ``downloader.properties`` describe one and the same revision.
            downloader = self._container.get_blob_client(key).download_blob()
            body = downloader.readall()
        except AzureError as exc:
            raise _translate(exc, self._where(key)) from exc
        return StoredObject(info=_info(key, downloader.properties), body=bytes(body))

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        check_key(key)
        clean_metadata = _check_metadata(metadata or {})
        blob = self._container.get_blob_client(key)
        conditions: dict[str, Any] = {"overwrite": not if_none_match}
        if if_match is not None:
            etag = self._etag_for_revision(key, if_match)
            conditions.update(etag=_quoted(etag), match_condition=MatchConditions.IfNotModified)
        try:
            # One Put Blob (bodies below max_single_put_size, 64 MiB): body, content settings and
            # metadata land atomically, and the ETag condition is evaluated on that single request.
            result = blob.upload_blob(
                body,
                length=len(body),
                content_settings=ContentSettings(content_type=content_type, cache_control=cache_control),
                metadata=clean_metadata,
                **conditions,
            )
        except AzureError as exc:
            error = _translate(exc, self._where(key), create_only=if_none_match)
            if if_match is not None and isinstance(error, NotFound) and _error_code(exc) == "BlobNotFound":
                error = PreconditionFailed(f"{self._where(key)} does not exist, so it is not at revision {if_match}")
            raise error from exc
        return ObjectInfo(
            key=key,
            size=len(body),
            etag=_unquoted(str(result["etag"])),
            version=result.get("version_id"),
            content_type=content_type,
            cache_control=cache_control,
            metadata=clean_metadata,
            last_modified=result.get("last_modified"),
        )

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._container.get_blob_client(key).delete_blob()
        except AzureError as exc:
            error = _translate(exc, self._where(key))
            # Idempotent for a missing blob; a missing container is a misconfiguration and is reported.
            if isinstance(error, NotFound) and _error_code(exc) != "ContainerNotFound":
                return
            raise error from exc

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        # Azure returns blob names in lexicographic order, one page per request (at most 5000 per page);
        # by_page() follows the continuation token (NextMarker) so every object under the prefix is yielded.
        per_page = min(max(page_size, 1), _MAX_PAGE_SIZE)
        pages = self._container.list_blobs(name_starts_with=prefix or None, results_per_page=per_page).by_page()
        try:
            for page in pages:
                for properties in page:
                    yield _info(str(properties.name), properties)
        except AzureError as exc:
            raise _translate(exc, self._where(prefix + "*")) from exc

    # -- helpers ------------------------------------------------------------------

    def _where(self, key: str) -> str:
        return f"{self._container_name}/{key}"

    def _etag_for_revision(self, key: str, revision: str) -> str:
        """The ETag to condition a write on, given a revision (an ETag, or a version id)."""
        if not _VERSION_ID.match(revision):
            return _unquoted(revision)
        # A version id cannot be a write condition on Azure; check it is the current version and
        # condition the write on that version's ETag, so a writer in between still fails the put.
        try:
            current = self.head(key)
        except NotFound:
            raise PreconditionFailed(f"{self._where(key)} does not exist, so it is not at version {revision}") from None
        if current.version != revision:
            raise PreconditionFailed(f"{self._where(key)} is at version {current.version}, not {revision}")
        return current.etag


class BlobStorageOpener:
    """Opens containers on one lazily created, shared :class:`BlobServiceClient`.

    This is the ``open_bucket`` of :class:`core.runtime.FunctionRuntime`: built at cold start from a
    resolved connection (so a missing setting fails the start), the client itself is created on the
    first event and reused by every container and every warm invocation of the process.
    """

    def __init__(self, connection: StorageConnection, **client_options: Any) -> None:
        self.connection = connection
        self._service = Once(lambda: blob_service_client(connection, **client_options))

    @property
    def service(self) -> BlobServiceClient:
        """The shared client, created on first use."""
        return self._service()

    def __call__(self, container: str) -> AzureBlobStorage:
        return AzureBlobStorage(container, service=self.service)


# -- translation ------------------------------------------------------------------


def _translate(exc: AzureError, where: str, *, create_only: bool = False) -> StorageError:
    """Map an azure-core exception to the core vocabulary (the caller raises it ``from exc``)."""
    code = _error_code(exc)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        # Connection refused/reset, DNS, and read/connect timeouts (the *TimeoutError subclasses).
        return StorageUnavailable(f"{where}: Blob service unreachable ({type(exc).__name__}); retry later")
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    detail = f"{status} {code}" if code else str(status)
    if status == 404:
        return NotFound(f"{where}: not found ({code or 404})")
    if status in (401, 403):
        return PermissionDenied(f"{where}: permission denied ({detail}); check the identity's data-plane role")
    if status == 412:
        return PreconditionFailed(f"{where}: condition not met ({detail})")
    if status == 409 and create_only and code == "BlobAlreadyExists":
        return AlreadyExists(f"{where} already exists")
    if status == 409:
        # A lease, a pending copy, a blob being rehydrated: the state may clear, so let the platform retry.
        return StorageUnavailable(f"{where}: conflict ({detail}); retry later")
    if status in _TRANSIENT_STATUS:
        return StorageUnavailable(f"{where}: Blob service busy or failing ({detail}); retry later")
    if status == 400 and code in ("InvalidResourceName", "InvalidUri", "OutOfRangeInput"):
        return InvalidKey(f"{where}: Azure refuses this blob name ({detail})")
    if status == 400 and code == "InvalidMetadata":
        return InvalidMetadata(f"{where}: Azure refuses the metadata ({detail})")
    return StorageError(f"{where}: Blob Storage error ({detail or type(exc).__name__})")


def _error_code(exc: AzureError) -> str | None:
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    # StorageErrorCode is a str enum; .value gives the wire name ("BlobNotFound").
    return str(getattr(code, "value", code))


# -- records ------------------------------------------------------------------------


def _info(key: str, properties: BlobProperties) -> ObjectInfo:
    settings = properties.content_settings
    return ObjectInfo(
        key=key,
        size=int(properties.size or 0),
        etag=_unquoted(str(properties.etag)),
        version=getattr(properties, "version_id", None),
        content_type=settings.content_type if settings else None,
        cache_control=settings.cache_control if settings else None,
        metadata={name.lower(): value for name, value in (properties.metadata or {}).items()},
        last_modified=properties.last_modified,
        copy_status=_copy_status(properties),
    )


def _copy_status(properties: BlobProperties) -> str | None:
    """``x-ms-copy-status`` as the port's lower-case word, or None when the blob records no copy.

    The blob properties of a Copy Blob destination say whether the copy is still running: on an
    account with a hierarchical namespace Event Grid sends BlobCreated when the copy *starts*.
    """
    copy = getattr(properties, "copy", None)
    status = getattr(copy, "status", None)
    if not status:
        return None
    return str(getattr(status, "value", status)).lower()


def _check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for name, value in metadata.items():
        if not _METADATA_NAME.match(name):
            hint = f" (try {name.replace('-', '_')!r})" if "-" in name else ""
            raise InvalidMetadata(
                f"metadata name {name!r} is not valid on Azure Blob Storage: names must be C# identifiers "
                f"(letters, digits and '_', not starting with a digit){hint}"
            )
        if not all(0x20 <= ord(char) <= 0x7E for char in value):
            raise InvalidMetadata(
                f"metadata value of {name!r} is not printable ASCII; percent-encode it (core.keys.encode_meta_value)"
            )
        lowered = name.lower()
        if lowered in clean:
            raise InvalidMetadata(f"metadata name {name!r} repeats another name that differs only by case")
        clean[lowered] = value
    return clean


def _unquoted(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def _quoted(etag: str) -> str:
    return f'"{etag}"'
