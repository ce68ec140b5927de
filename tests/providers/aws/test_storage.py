"""What the contract suite does not cover on S3: endpoint, client reuse, retries, versions, error mapping."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from core.errors import (
    AlreadyExists,
    InvalidKey,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    StorageUnavailable,
    TransientError,
)
from core.once import once
from providers.aws import storage
from providers.aws.storage import S3Storage, client_config, make_client, translate_error
from tests.providers.aws.emulator import CREDENTIALS, REGION

pytestmark = pytest.mark.aws


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """The environment Lambda (or a developer) sets, pointed at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    return moto_endpoint


def test_aws_endpoint_url_is_honoured(aws_environment: str, new_bucket: Callable[..., str]) -> None:
    client = make_client()
    assert client.meta.endpoint_url == aws_environment
    store = S3Storage(new_bucket("env"), client=client)
    store.put("k.txt", b"hello", content_type="text/plain")
    assert store.get("k.txt").body == b"hello"


def test_one_shared_client_per_container(aws_environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "shared_client", once(storage.make_client))
    first = storage.shared_client()
    assert storage.shared_client() is first
    assert S3Storage("any-bucket")._client is first
    assert storage.open_bucket("other-bucket")._client is first


def test_client_configuration_is_deliberate() -> None:
    config = client_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.connect_timeout == storage.CONNECT_TIMEOUT <= 5
    assert config.read_timeout == storage.READ_TIMEOUT <= 20
    assert "polythumb/" in config.user_agent_extra


def test_connection_errors_are_retried_then_transient(aws_client: Callable[..., Any]) -> None:
    client = aws_client("s3", endpoint_url=dead_endpoint())
    attempts: list[str] = []
    client.meta.events.register("before-send.s3.HeadObject", lambda **kwargs: attempts.append("sent"))
    store = S3Storage("some-bucket", client=client)
    with pytest.raises(StorageUnavailable) as caught:
        store.head("a.jpg")
    assert isinstance(caught.value, TransientError)
    assert len(attempts) == 3  # one call and two retries, then the platform's retry takes over


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.get("a.jpg"),
        lambda s: s.put("a.jpg", b"x", content_type="image/jpeg"),
        lambda s: s.delete("a.jpg"),
        lambda s: list(s.list("a")),
    ],
)
def test_every_operation_maps_connection_errors(operation: Any) -> None:
    import boto3
    from botocore.config import Config

    # One attempt keeps this quick; the retries themselves are checked above.
    client = boto3.session.Session(region_name=REGION, **CREDENTIALS).client(
        "s3", endpoint_url=dead_endpoint(), config=client_config().merge(Config(retries={"total_max_attempts": 1}))
    )
    with pytest.raises(StorageUnavailable):
        operation(S3Storage("some-bucket", client=client))


def test_missing_bucket_is_not_found_even_for_delete(s3_client: Any) -> None:
    store = S3Storage("pt-no-such-bucket-anywhere", client=s3_client)
    with pytest.raises(NotFound):
        store.head("a.jpg")
    with pytest.raises(NotFound):
        store.get("a.jpg")
    with pytest.raises(NotFound):
        store.delete("a.jpg")  # idempotent for a missing key, not for a missing bucket


def test_metadata_must_be_ascii_and_names_are_lower_cased(s3_store: S3Storage) -> None:
    info = s3_store.put("m.jpg", b"x", content_type="image/jpeg", metadata={"Polythumb_Source": "a%20b.jpg"})
    assert dict(info.metadata) == {"polythumb_source": "a%20b.jpg"}
    with pytest.raises(InvalidKey, match="ASCII"):
        s3_store.put("m.jpg", b"x", content_type="image/jpeg", metadata={"polythumb_source": "café.jpg"})


def test_keys_s3_cannot_store_are_refused_before_any_request(s3_store: S3Storage) -> None:
    with pytest.raises(InvalidKey):
        s3_store.put("x" * 1025, b"x", content_type="image/jpeg")


def test_get_returns_the_info_of_exactly_those_bytes(s3_store: S3Storage) -> None:
    written = s3_store.put("g.jpg", b"abc", content_type="image/jpeg", cache_control="no-cache")
    got = s3_store.get("g.jpg")
    assert got.info.etag == written.etag == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc"), without quotes
    assert got.info.size == 3 and got.info.last_modified is not None
    assert got.info.version is None  # unversioned bucket: the revision is the etag


def test_versioned_bucket_revisions_are_version_ids(new_bucket: Callable[..., str], s3_client: Any) -> None:
    store = S3Storage(new_bucket("versions", versioned=True), client=s3_client)
    first = store.put("v.jpg", b"1", content_type="image/jpeg")
    assert first.version and first.revision == first.version
    assert store.head("v.jpg").revision == first.version
    # S3 conditions writes on ETags; a version id is resolved to the ETag it names.
    second = store.put("v.jpg", b"2", content_type="image/jpeg", if_match=first.revision)
    assert second.version != first.version
    with pytest.raises(PreconditionFailed):
        store.put("v.jpg", b"3", content_type="image/jpeg", if_match=first.revision)
    with pytest.raises(PreconditionFailed):
        store.put("absent.jpg", b"3", content_type="image/jpeg", if_match=first.revision)
    assert store.get("v.jpg").body == b"2"


# -- the error table -------------------------------------------------------------------------------
# moto cannot be made to answer 403, 503 or 409 on demand, so the mapping of those answers is checked on the
# exact exceptions botocore raises for them.


def client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Operation"
    )


@pytest.mark.parametrize(
    ("code", "status", "options", "expected"),
    [
        ("NoSuchKey", 404, {}, NotFound),
        ("404", 404, {}, NotFound),  # HEAD responses have no body: the code is the status
        ("NoSuchBucket", 404, {}, NotFound),
        ("AccessDenied", 403, {}, PermissionDenied),
        ("403", 403, {}, PermissionDenied),  # HEAD of a missing key without s3:ListBucket: still not NotFound
        ("InvalidAccessKeyId", 403, {}, PermissionDenied),
        ("SlowDown", 503, {}, StorageUnavailable),
        ("ServiceUnavailable", 503, {}, StorageUnavailable),
        ("InternalError", 500, {}, StorageUnavailable),
        ("RequestTimeout", 400, {}, StorageUnavailable),
        ("OperationAborted", 409, {"if_none_match": True}, StorageUnavailable),
        ("PreconditionFailed", 412, {"if_none_match": True}, AlreadyExists),
        ("ConditionalRequestConflict", 409, {"if_none_match": True}, AlreadyExists),
        ("PreconditionFailed", 412, {"if_match": "abc"}, PreconditionFailed),
        ("ConditionalRequestConflict", 409, {"if_match": "abc"}, PreconditionFailed),
        ("NoSuchKey", 404, {"if_match": "abc"}, PreconditionFailed),  # nothing to replace
        ("MetadataTooLarge", 400, {}, InvalidKey),
        ("KeyTooLongError", 400, {}, InvalidKey),
        ("InvalidArgument", 400, {}, StorageError),
    ],
)
def test_client_errors_map_onto_the_vocabulary(
    code: str, status: int, options: dict[str, Any], expected: type[StorageError]
) -> None:
    error = translate_error(client_error(code, status), "put", "s3://b/k", **options)
    assert type(error) is expected
    assert "s3://b/k" in str(error)


def test_access_denied_is_never_not_found() -> None:
    error = translate_error(client_error("AccessDenied", 403), "head", "s3://b/k")
    assert isinstance(error, PermissionError) and not isinstance(error, FileNotFoundError)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EndpointConnectionError", StorageUnavailable),
        ("ConnectTimeoutError", StorageUnavailable),
        ("ReadTimeoutError", StorageUnavailable),
        ("ConnectionClosedError", StorageUnavailable),
        ("NoCredentialsError", PermissionDenied),
    ],
)
def test_botocore_errors_map_onto_the_vocabulary(name: str, expected: type[StorageError]) -> None:
    import botocore.exceptions

    exc = getattr(botocore.exceptions, name)(endpoint_url="http://x", error="e")
    assert type(translate_error(exc, "get", "s3://b/k")) is expected


def test_the_adapter_configures_what_the_retry_schedule_assumes() -> None:
    """The configuration object itself (the reliability suite checks the rig's ``RETRY`` schedule in action)."""
    from providers.aws.storage import client_config

    config = client_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (3.0, 10.0)
