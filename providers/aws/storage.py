"""S3 behind the storage port, with boto3.

* One client per container lifetime (:func:`shared_client`), created on first
  use and reused by every warm invocation; its retry and timeout settings are
  chosen on purpose (see :data:`RETRIES`).
* ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) is honoured by boto3 itself,
  so the adapter runs against moto, MinIO or any S3-compatible endpoint.
* Errors are translated here, at the edge: NoSuchKey/404 is NotFound;
  AccessDenied/403 is PermissionDenied (S3 also answers 403 to HEAD of a
  missing key when the caller lacks ``s3:ListBucket``: that stays
  PermissionDenied, never a guessed NotFound); 412 and 409 on a conditional
  write are PreconditionFailed (AlreadyExists for create-only); throttling,
  5xx, timeouts and connection errors are StorageUnavailable.
* Conditional writes use S3's own primitives: ``If-None-Match: *`` creates
  only, ``If-Match: "<etag>"`` replaces only that content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from core import __version__
from core.errors import (
    AlreadyExists,
    ConfigError,
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
from providers.aws import import_boto3

#: botocore retry policy. "standard" retries throttling (SlowDown, 503), 500/502/504, RequestTimeout and
#: connection errors with exponential backoff and jitter, behind a client-side retry quota that stops a
#: retry storm when S3 is really down ("legacy" knows fewer error codes; "adaptive" adds client-side rate
#: limiting, which pays off for long-lived bulk clients, not for one short invocation). Three attempts in
#: all (one call, two retries) ride out a brief throttle inside the invocation; a longer outage becomes
#: StorageUnavailable quickly and the platform's own retry (SQS visibility timeout, Lambda async retry)
#: waits far longer than botocore would. Note botocore's spelling: ``max_attempts`` counts RETRIES (3 would
#: mean 4 calls); ``total_max_attempts`` counts calls, so it says what we mean. Written explicitly, it also
#: ignores AWS_MAX_ATTEMPTS / ~/.aws/config, which must not change a deployed function's behaviour.
RETRIES: Mapping[str, Any] = MappingProxyType({"mode": "standard", "total_max_attempts": 3})

#: Seconds to open a connection. Inside a region a TCP+TLS connect takes milliseconds; botocore's default
#: (60 s) would spend the whole function timeout on one dead connection.
CONNECT_TIMEOUT = 3.0

#: Seconds of silence tolerated between two reads of a response (not a whole-transfer limit). S3 answers
#: a PUT of a thumbnail or starts streaming a 64 MiB GET well within this; the default (60 s) is too long to
#: fail over to a retry inside a 60 s function.
READ_TIMEOUT = 10.0

#: The first botocore (and boto3) whose S3 model has ``IfMatch`` and ``IfNoneMatch`` on PutObject: S3's ETag
#: conditional writes, released 2024-11-25. Older SDKs refuse the parameters client-side, which would
#: fail every render; the Lambda zip uses the runtime's boto3, which can lag behind.
MIN_BOTOCORE = "1.35.68"
CONDITIONAL_PUT_PARAMETERS = ("IfMatch", "IfNoneMatch")

_ETAG = re.compile(r"[0-9a-f]{32}(?:-\d+)?")

# Error codes (botocore's ``Error.Code``) by meaning. HEAD responses carry no body, so their code is the
# bare status ("404", "403"); the status is checked as well.
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound", "404"})
_DENIED_CODES = frozenset(
    {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
     "AccountProblem", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
)  # fmt: skip
_CONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "RequestLimitExceeded",
     "TooManyRequestsException", "RequestTimeout", "InternalError", "ServiceUnavailable", "OperationAborted",
     "500", "502", "503", "504"}
)  # fmt: skip
_REFUSED_CODES = frozenset({"KeyTooLongError", "MetadataTooLarge"})  # permanent: the same write can never pass

def client_config() -> Any:
    """The botocore ``Config`` of polythumb's S3 clients (see :data:`RETRIES`)."""
    from botocore.config import Config

    return Config(
        retries=dict(RETRIES),  # a copy: botocore rewrites this dict in place
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        user_agent_extra=f"polythumb/{__version__}",
        signature_version="s3v4",  # what S3 requests use anyway; also for presigned URLs (botocore's default is v2)
    )


def make_client(*, endpoint_url: str | None = None, region_name: str | None = None) -> Any:
    """A new S3 client. Without ``endpoint_url`` boto3 reads ``AWS_ENDPOINT_URL[_S3]`` itself.

    Raises:
        ConfigError: the SDK is too old for conditional writes (see :func:`require_conditional_writes`).
    """
    boto3 = import_boto3()
    # A private session: boto3's default session is shared module state and not thread-safe to create.
    session = boto3.session.Session()
    client = session.client("s3", endpoint_url=endpoint_url, region_name=region_name, config=client_config())
    require_conditional_writes(client)
    return client


def require_conditional_writes(client: Any) -> None:
    """Fail now, naming the minimum version, when ``client``'s SDK cannot send conditional PutObjects.

    Checked on the client's own service model (no extra load: the client has it), so a runtime whose
    boto3 predates :data:`MIN_BOTOCORE` fails the cold start with one clear message instead of every
    render with a parameter validation error.

    Raises:
        ConfigError: PutObject lacks ``IfMatch`` or ``IfNoneMatch`` in this botocore.
    """
    members = client.meta.service_model.operation_model("PutObject").input_shape.members
    missing = [name for name in CONDITIONAL_PUT_PARAMETERS if name not in members]
    if missing:
        import botocore

        raise ConfigError(
            f"botocore {botocore.__version__} cannot send S3 conditional writes ({', '.join(missing)} on PutObject);"
            f" polythumb needs boto3/botocore >= {MIN_BOTOCORE} (November 2024): upgrade the Lambda runtime,"
            " or bundle a newer boto3 in the package"
        )


#: The container's one S3 client, created on first use and reused by every warm invocation.
shared_client: Once[Any] = once(make_client)


def open_bucket(bucket: str) -> S3Storage:
    """The :data:`core.pipeline.BucketOpener` of the AWS entrypoint: ``bucket`` on the shared client."""
    return S3Storage(bucket)


class S3Storage:
    """One S3 bucket, seen through :class:`core.storage.Storage`.

    Args:
        bucket: The bucket name.
        client: A boto3 S3 client; the container's shared one by default.
    """

    def __init__(self, bucket: str, *, client: Any = None) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self._bucket = bucket
        self._client = client if client is not None else shared_client()

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def client(self) -> Any:
        """The boto3 S3 client (the URL signer reuses its credentials and endpoint)."""
        return self._client

    def __repr__(self) -> str:
        return f"S3Storage({self._bucket!r})"

    def head(self, key: str) -> ObjectInfo:
        check_key(key)
        try:
            response = self._client.head_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            raise self._translate(exc, "head", key) from exc
        return _info(key, response, size=response.get("ContentLength", 0))

    def get(self, key: str) -> StoredObject:
        check_key(key)
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            body: bytes = response["Body"].read()
        except Exception as exc:
            raise self._translate(exc, "get", key) from exc
        # Info and bytes come from one response, so they describe exactly the same object.
        return StoredObject(info=_info(key, response, size=len(body)), body=body)

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
        names = _s3_metadata(key, metadata or {})
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "Metadata": names,
        }
        if cache_control is not None:
            params["CacheControl"] = cache_control
        if if_none_match:
            params["IfNoneMatch"] = "*"
        if if_match is not None:
            # HTTP entity tags are quoted; moto refuses a bare one, S3 accepts both.
            params["IfMatch"] = f'"{self._etag_of_revision(key, if_match)}"'
        try:
            response = self._client.put_object(**params)
        except Exception as exc:
            raise self._translate(exc, "put", key, if_match=if_match, if_none_match=if_none_match) from exc
        return ObjectInfo(
            key=key,
            size=len(body),
            etag=_unquote_etag(response.get("ETag", "")),
            version=_version(response),
            content_type=content_type,
            cache_control=cache_control,
            metadata=names,
        )

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            # S3 answers 204 for a missing key too, so this is idempotent without a HEAD first.
            self._client.delete_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            error = self._translate(exc, "delete", key)
            if isinstance(error, NotFound) and _error_code(exc) != "NoSuchBucket":
                return
            raise error from exc

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket, Prefix=prefix, PaginationConfig={"PageSize": min(page_size, 1000)}
        )
        try:
            # S3 lists in UTF-8 byte order, which is code point order: the order of Python's sorted().
            for page in pages:
                for item in page.get("Contents", ()):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=_unquote_etag(item.get("ETag", "")),
                        last_modified=item.get("LastModified"),
                    )
        except Exception as exc:
            raise self._translate(exc, "list", prefix) from exc

    # -- helpers ---------------------------------------------------------------

    def _etag_of_revision(self, key: str, revision: str) -> str:
        """The ETag to send as If-Match for ``revision`` (an ETag, or a versionId on versioned buckets).

        S3 conditions writes on ETags only. A version id is resolved with a HEAD; the write then carries
        that ETag, so any change of content between the HEAD and the PUT still fails the condition.
        """
        if _ETAG.fullmatch(revision):
            return revision
        try:
            info = self.head(key)
        except NotFound as exc:
            raise PreconditionFailed(f"s3://{self._bucket}/{key} does not exist (expected {revision})") from exc
        if revision not in (info.etag, info.version):
            raise PreconditionFailed(f"s3://{self._bucket}/{key} is not at revision {revision}")
        return info.etag

    def _translate(
        self, exc: Exception, operation: str, key: str, *, if_match: str | None = None, if_none_match: bool = False
    ) -> StorageError:
        where = f"s3://{self._bucket}/{key}"
        return translate_error(exc, operation, where, if_match=if_match, if_none_match=if_none_match)


def translate_error(
    exc: Exception, operation: str, where: str, *, if_match: str | None = None, if_none_match: bool = False
) -> StorageError:
    """Map a boto3/botocore exception onto :mod:`core.errors` (the caller raises it ``from exc``)."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        CredentialRetrievalError,
        HTTPClientError,
        IncompleteReadError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, (ConnectionError, HTTPClientError, IncompleteReadError)):
        return StorageUnavailable(
            f"{operation} {where}: S3 unreachable or too slow ({type(exc).__name__}), retry later"
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return PermissionDenied(f"{operation} {where}: no usable AWS credentials ({type(exc).__name__})")
    if not isinstance(exc, ClientError):
        return StorageError(f"{operation} {where}: unexpected {type(exc).__name__}: {exc}")

    code = _error_code(exc)
    status = _status(exc)
    detail = f"{operation} {where}: {code or status}"
    conditional = if_none_match or if_match is not None
    if conditional and (code in _CONDITION_CODES or status in (409, 412)) and code != "OperationAborted":
        if if_none_match:
            return AlreadyExists(f"{detail}: the object already exists (create-only write)")
        return PreconditionFailed(f"{detail}: the object is no longer at revision {if_match}")
    if code in _NOT_FOUND_CODES or status == 404:
        if if_match is not None and code != "NoSuchBucket":
            return PreconditionFailed(f"{detail}: no object to replace at revision {if_match}")
        return NotFound(f"{detail}: no such {'bucket' if code == 'NoSuchBucket' else 'object'}")
    if code in _DENIED_CODES or status == 403:
        return PermissionDenied(f"{detail}: access denied (a HEAD of a missing key is also 403 without s3:ListBucket)")
    if code in _REFUSED_CODES:
        return InvalidKey(f"{detail}: S3 refuses this key or its metadata (keys <= 1024 bytes, metadata <= 2 KB)")
    if code in _UNAVAILABLE_CODES or status >= 500 or status == 429:
        return StorageUnavailable(f"{detail}: S3 is throttling or unavailable, retry later")
    return StorageError(f"{detail}: {exc}")


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _unquote_etag(etag: str) -> str:
    return etag.strip('"')


def _version(response: Mapping[str, Any]) -> str | None:
    version = response.get("VersionId")
    # Unversioned and suspended buckets report the literal "null".
    return None if version in (None, "", "null") else str(version)


def _info(key: str, response: Mapping[str, Any], *, size: int) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=int(size),
        etag=_unquote_etag(response.get("ETag", "")),
        version=_version(response),
        content_type=response.get("ContentType"),
        cache_control=response.get("CacheControl"),
        metadata={name.lower(): value for name, value in (response.get("Metadata") or {}).items()},
        last_modified=response.get("LastModified"),
    )


def _s3_metadata(key: str, metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata as S3 stores it: lower-case names (S3 folds them) and ASCII values (S3 refuses others)."""
    result: dict[str, str] = {}
    for name, value in metadata.items():
        if not name.isascii() or not value.isascii() or not name.isprintable() or not value.isprintable():
            raise InvalidKey(
                f"metadata {name!r} of {key!r} is not printable ASCII; S3 only stores ASCII metadata "
                "(percent-encode the value, as core.keys.encode_meta_value does)"
            )
        result[name.lower()] = value
    return result
