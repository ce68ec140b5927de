"""Google Cloud Storage behind the storage port, with google-cloud-storage.

* One ``storage.Client`` per container (:func:`shared_client`), created on
  first use and reused by every warm invocation. Creating it lazily, not at
  import, also keeps it out of the gunicorn master that functions-framework
  forks its worker from.
* ``STORAGE_EMULATOR_HOST`` (fake-gcs-server, the GCS emulator) switches the
  client to that endpoint with anonymous credentials and a placeholder project.
* The version of an object is its **generation**. Conditional writes use GCS's
  own primitive, ``ifGenerationMatch``: ``if_none_match`` is generation 0
  ("must not exist"), ``if_match`` is the generation read earlier.
* Errors are translated here, at the edge: 404 is NotFound, 401/403 are
  PermissionDenied (never NotFound), 412 is PreconditionFailed (AlreadyExists
  for a create-only write), 400 is a permanent refusal, and 408/429/5xx,
  timeouts, connection errors and exhausted retries are StorageUnavailable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from core import __version__
from core.errors import (
    AlreadyExists,
    InvalidKey,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    StorageUnavailable,
)
from core.once import Once, once
from core.storage.port import ObjectInfo, StoredObject
from core.storage.validation import check_key
from providers.gcp import import_storage

#: The variable google-cloud-storage itself reads to target an emulator.
EMULATOR_HOST_ENV = "STORAGE_EMULATOR_HOST"
#: Project id used against an emulator when ``GOOGLE_CLOUD_PROJECT`` is unset (the emulator ignores it).
EMULATOR_PROJECT = "polythumb-emulator"

#: Seconds the SDK may spend retrying one call (first attempt included). The SDK's default (120 s) is
#: twice a function's default timeout (60 s): one stuck call would use up the whole invocation and end
#: as a timeout with no useful log. After this, the call fails as StorageUnavailable, the invocation
#: raises, and Eventarc redelivers with its own, much longer backoff (10 s up to 10 min).
RETRY_DEADLINE = 30.0

#: (connect, read) timeouts in seconds for one HTTP request. Inside a region a connect takes
#: milliseconds; the read timeout bounds the silence between two reads, not a whole transfer, so a
#: 64 MiB source streams fine while a dead connection is abandoned early enough to be retried.
TIMEOUT = (3.0, 20.0)

#: Attempts of :meth:`GcsStorage.get` when the object is replaced between reading its metadata and its bytes.
_GET_ATTEMPTS = 3



def make_client() -> Any:
    """A new ``storage.Client``: the emulator's when ``STORAGE_EMULATOR_HOST`` is set, else with ADC."""
    storage = import_storage()
    from google.api_core.client_info import ClientInfo

    # google-api-core and google-auth ship these classes without annotations.
    client_info = ClientInfo(user_agent=f"polythumb/{__version__}")  # type: ignore[no-untyped-call]
    if os.environ.get(EMULATOR_HOST_ENV):
        from google.auth.credentials import AnonymousCredentials

        # The SDK would fall back to the same, but only after probing for ADC: be explicit and fast.
        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or EMULATOR_PROJECT
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project=project, credentials=credentials, client_info=client_info)
    return storage.Client(client_info=client_info)


#: The container's one GCS client, created on first use and reused by every warm invocation.
shared_client: Once[Any] = once(make_client)


def open_bucket(bucket: str) -> GcsStorage:
    """The :data:`core.pipeline.BucketOpener` of the GCP entrypoints: ``bucket`` on the shared client."""
    return GcsStorage(bucket)


def retry_policies(deadline: float = RETRY_DEADLINE) -> tuple[Any, Any]:
    """The SDK retry objects polythumb uses: ``(always, only_if_generation_specified)``.

    * Reads, metadata reads, listings and deletes use ``DEFAULT_RETRY`` (bounded by ``deadline``): they
      are idempotent (a delete retried after a lost 204 gets a 404, which :meth:`GcsStorage.delete`
      treats as done).
    * Uploads use ``DEFAULT_RETRY_IF_GENERATION_SPECIFIED``, rebuilt on the bounded retry (the SDK's
      constant wraps the unbounded one): a write is retried only when it carries
      ``ifGenerationMatch``, which makes it idempotent. The pipeline always sends one; should a retry
      follow a write whose response was lost, it gets 412, which surfaces as PreconditionFailed, the
      pipeline raises SupersededError, and the redelivered event finds the outputs current. An
      unconditional upload is not retried by the SDK: two writers could otherwise interleave.

    Both retry 408/429/5xx and connection errors with exponential backoff, for at most ``deadline`` s.
    """
    import_storage()
    from google.cloud.storage.retry import (
        DEFAULT_RETRY,
        ConditionalRetryPolicy,
        is_generation_specified,
    )

    always = DEFAULT_RETRY.with_timeout(deadline)
    conditional = ConditionalRetryPolicy(always, is_generation_specified, ["query_params"])
    return always, conditional


class GcsStorage:
    """One GCS bucket, seen through :class:`core.storage.Storage`.

    Args:
        bucket: The bucket name.
        client: A ``google.cloud.storage.Client``; the container's shared one by default.
        retry_deadline: Seconds the SDK may spend retrying one call (see :data:`RETRY_DEADLINE`).
        timeout: ``(connect, read)`` seconds per HTTP request (see :data:`TIMEOUT`).
    """

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        retry_deadline: float = RETRY_DEADLINE,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        if not bucket:
            raise ValueError("a GCS bucket name is required")
        self._name = bucket
        self._client = client if client is not None else shared_client()
        self._handle = self._client.bucket(bucket)  # a local handle: no request is made
        self._retry, self._conditional_retry = retry_policies(retry_deadline)
        self._timeout = timeout

    @property
    def bucket(self) -> str:
        return self._name

    @property
    def handle(self) -> Any:
        """The ``google.cloud.storage.Bucket`` handle (the URL signer reuses its client)."""
        return self._handle

    def __repr__(self) -> str:
        return f"GcsStorage({self._name!r})"

    def head(self, key: str) -> ObjectInfo:
        check_key(key)
        blob = self._handle.blob(key)
        try:
            blob.reload(retry=self._retry, timeout=self._timeout)
        except Exception as exc:
            raise self._translate(exc, "head", key) from exc
        return _info(blob)

    def get(self, key: str) -> StoredObject:
        check_key(key)
        for _ in range(_GET_ATTEMPTS):
            info = self.head(key)
            # Download exactly the generation whose metadata we hold, so body and info always match.
            # (A generation-pinned read works on GCS and on fake-gcs-server alike; ifGenerationMatch on
            # a download is ignored by fake-gcs-server.) If the object was replaced in between, that
            # generation is gone (404): read the new one.
            pinned = self._handle.blob(key, generation=int(info.version or 0) or None)
            try:
                body: bytes = pinned.download_as_bytes(retry=self._retry, timeout=self._timeout)
            except Exception as exc:
                error = self._translate(exc, "get", key)
                if isinstance(error, NotFound):
                    continue
                raise error from exc
            return StoredObject(info=info, body=body)
        raise StorageUnavailable(
            f"get gs://{self._name}/{key}: replaced {_GET_ATTEMPTS} times while being read, retry later"
        )

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
        generation = self._generation_condition(key, if_match=if_match, if_none_match=if_none_match)
        blob = self._handle.blob(key)
        blob.cache_control = cache_control
        # Names are folded to lower case, as on S3: the port promises lower-case names everywhere.
        blob.metadata = {name.lower(): value for name, value in (metadata or {}).items()} or None
        try:
            blob.upload_from_string(
                body,
                content_type=content_type,
                if_generation_match=generation,
                retry=self._conditional_retry,
                timeout=self._timeout,
            )
        except Exception as exc:
            raise self._translate(exc, "put", key, if_match=if_match, if_none_match=if_none_match) from exc
        # The upload response is the new object's full resource: generation, etag, metadata and all.
        return _info(blob)

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._handle.blob(key).delete(retry=self._retry, timeout=self._timeout)
        except Exception as exc:
            error = self._translate(exc, "delete", key)
            # GCS answers 404 for a missing bucket too; only its message tells them apart.
            if isinstance(error, NotFound) and "bucket does not exist" not in str(exc).lower():
                return
            raise error from exc

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        blobs = self._client.list_blobs(
            self._name,
            prefix=prefix or None,
            page_size=min(page_size, 1000),  # the API caps a page at 1000 items
            retry=self._retry,
            timeout=self._timeout,
        )
        try:
            # GCS lists in UTF-8 byte order, which is code point order: the order of Python's sorted().
            for blob in blobs:
                yield _info(blob)
        except Exception as exc:
            raise self._translate(exc, "list", prefix) from exc

    # -- helpers ---------------------------------------------------------------

    def _generation_condition(self, key: str, *, if_match: str | None, if_none_match: bool) -> int | None:
        """The ``ifGenerationMatch`` value of a write, or None for an unconditional one."""
        if if_none_match:
            if if_match is not None:
                raise ValueError("if_match and if_none_match exclude each other")
            return 0  # GCS: generation 0 means "no live object"
        if if_match is None:
            return None
        # A GCS revision is a generation: a positive integer. Anything else (an etag from another
        # backend, "0", which GCS would read as "must not exist") can never match.
        if not if_match.isdigit() or int(if_match) == 0:
            raise PreconditionFailed(f"gs://{self._name}/{key} is not at revision {if_match!r} (not a generation)")
        return int(if_match)

    def _translate(
        self, exc: Exception, operation: str, key: str, *, if_match: str | None = None, if_none_match: bool = False
    ) -> StorageError:
        where = f"gs://{self._name}/{key}"
        return translate_error(exc, operation, where, if_match=if_match, if_none_match=if_none_match)


def translate_error(
    exc: Exception, operation: str, where: str, *, if_match: str | None = None, if_none_match: bool = False
) -> StorageError:
    """Map a google-cloud-storage exception onto :mod:`core.errors` (the caller raises it ``from exc``)."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

    if isinstance(exc, StorageError):
        return exc
    detail = f"{operation} {where}"
    if isinstance(exc, api.PreconditionFailed):
        if if_none_match:
            return AlreadyExists(f"{detail}: the object already exists (create-only write, ifGenerationMatch=0)")
        return PreconditionFailed(f"{detail}: the object is not at generation {if_match} (ifGenerationMatch)")
    if isinstance(exc, api.NotFound):
        return NotFound(f"{detail}: no such object (or bucket)")
    if isinstance(exc, (api.Forbidden, api.Unauthorized)):
        return PermissionDenied(f"{detail}: {exc.code} access denied; the function's service account lacks a role")
    if isinstance(exc, api.RetryError):
        return StorageUnavailable(f"{detail}: GCS still failing after retrying ({exc.cause!r}), retry later")
    if isinstance(exc, api.GoogleAPICallError):
        status = int(exc.code or 0)
        if status in (408, 429) or status >= 500:
            return StorageUnavailable(f"{detail}: GCS answered {status}, retry later")
        if status == 400:
            return InvalidKey(f"{detail}: GCS refuses the request as invalid (object name or metadata): {exc.message}")
        return StorageError(f"{detail}: GCS answered {status}: {exc.message}")
    if isinstance(exc, auth.RefreshError) and not getattr(exc, "retryable", False):
        return PermissionDenied(f"{detail}: the credentials could not be refreshed ({type(exc).__name__})")
    transport = (auth.TransportError, auth.RefreshError, requests.RequestException, ConnectionError, TimeoutError)
    if isinstance(exc, transport):
        return StorageUnavailable(f"{detail}: GCS unreachable or too slow ({type(exc).__name__}), retry later")
    if isinstance(exc, DataCorruption):  # a checksum mismatch on download: the next read may be fine
        return StorageUnavailable(f"{detail}: downloaded bytes failed their checksum, retry later")
    if isinstance(exc, InvalidResponse):  # a raw media response the SDK did not convert to an API error
        status = int(getattr(exc.response, "status_code", 0) or 0)
        if status in (408, 429) or status >= 500:
            return StorageUnavailable(f"{detail}: GCS answered {status}, retry later")
    return StorageError(f"{detail}: unexpected {type(exc).__name__}: {exc}")


def _info(blob: Any) -> ObjectInfo:
    """ObjectInfo from a blob whose properties were loaded (reload, upload response or listing)."""
    generation = blob.generation
    etag = str(blob.etag or blob.md5_hash or generation or "").strip('"')
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        etag=etag,
        version=str(generation) if generation is not None else None,
        content_type=blob.content_type,
        cache_control=blob.cache_control,
        metadata={name.lower(): value for name, value in (blob.metadata or {}).items()},
        last_modified=blob.updated,
    )
