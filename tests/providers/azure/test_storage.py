"""What the Blob adapter does beyond the shared contract: Azure's rules and errors, on real Azurite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import (
    AlreadyExists,
    InvalidKey,
    NotFound,
    PermanentError,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
    StorageUnavailable,
    TransientError,
)
from providers.azure.connection import StorageConnection, blob_service_client, resolve_connection
from providers.azure.storage import AzureBlobStorage, BlobStorageOpener, InvalidMetadata, _translate
from tests.providers.azure.emulator import ACCOUNT_NAME, Azurite, free_port


def test_etags_are_unquoted_everywhere_and_match_what_the_sdk_reports(azure_store: AzureBlobStorage) -> None:
    written = azure_store.put("e.jpg", b"abc", content_type="image/jpeg")
    raw = azure_store._container.get_blob_client("e.jpg").get_blob_properties()
    assert raw.etag.startswith('"')  # the SDK's own value is quoted...
    listed = next(iter(azure_store.list("e.jpg")))
    assert written.etag == azure_store.head("e.jpg").etag == listed.etag == raw.etag.strip('"')  # ...ours never
    assert written.version is None  # Azurite has no blob versioning


@pytest.mark.parametrize("name", ["polythumb-box", "1st", "with space", "dot.name", ""])
def test_invalid_metadata_names_are_refused_before_any_request(azure_store: AzureBlobStorage, name: str) -> None:
    with pytest.raises(InvalidMetadata, match="C# identifiers") as caught:
        azure_store.put("m.jpg", b"x", content_type="image/jpeg", metadata={name: "v"})
    assert isinstance(caught.value, PermanentError) and isinstance(caught.value, ValueError)
    if "-" in name:
        assert "polythumb_box" in str(caught.value)  # the hint names the valid spelling
    with pytest.raises(NotFound):
        azure_store.head("m.jpg")


def test_azure_itself_refuses_a_hyphenated_name(azure_service: Any, new_container: Callable[..., str]) -> None:
    # What the check above protects against: Azurite, like Azure, answers 400 InvalidMetadata.
    from azure.core.exceptions import HttpResponseError

    blob = azure_service.get_blob_client(new_container(), "raw.jpg")
    with pytest.raises(HttpResponseError) as caught:
        blob.upload_blob(b"x", metadata={"polythumb-box": "1"})
    assert caught.value.status_code == 400
    assert isinstance(_translate(caught.value, "c/raw.jpg"), InvalidMetadata)


@pytest.mark.parametrize("value", ["café", "line\nbreak"])
def test_non_ascii_or_control_metadata_values_are_refused(azure_store: AzureBlobStorage, value: str) -> None:
    with pytest.raises(InvalidMetadata, match="ASCII"):
        azure_store.put("v.jpg", b"x", content_type="image/jpeg", metadata={"polythumb_source": value})


def test_names_differing_only_by_case_are_refused(azure_store: AzureBlobStorage) -> None:
    with pytest.raises(InvalidMetadata, match="case"):
        azure_store.put("c.jpg", b"x", content_type="image/jpeg", metadata={"Box": "1", "box": "2"})


def test_azure_trims_whitespace_around_metadata_values(azure_store: AzureBlobStorage) -> None:
    # An Azure rule the port cannot hide (S3 trims too): values round-trip without surrounding spaces.
    azure_store.put("t.jpg", b"x", content_type="image/jpeg", metadata={"note": " padded "})
    assert azure_store.head("t.jpg").metadata == {"note": "padded"}


def test_content_settings_survive_get_head_and_put_result(azure_store: AzureBlobStorage) -> None:
    written = azure_store.put("p/q.webp", b"RIFF", content_type="image/webp", cache_control="no-cache")
    got = azure_store.get("p/q.webp")
    assert (written.content_type, written.cache_control) == ("image/webp", "no-cache")
    assert (got.info.content_type, got.info.cache_control) == ("image/webp", "no-cache")
    assert got.info.last_modified is not None and written.last_modified is not None


def test_create_only_maps_409_to_already_exists(azure_store: AzureBlobStorage) -> None:
    azure_store.put("once.jpg", b"1", content_type="image/jpeg", if_none_match=True)
    with pytest.raises(AlreadyExists, match="already exists"):
        azure_store.put("once.jpg", b"2", content_type="image/jpeg", if_none_match=True)


def test_if_match_accepts_quoted_etags(azure_store: AzureBlobStorage) -> None:
    first = azure_store.put("q.jpg", b"1", content_type="image/jpeg")
    azure_store.put("q.jpg", b"2", content_type="image/jpeg", if_match=f'"{first.etag}"')
    assert azure_store.get("q.jpg").body == b"2"


def test_a_version_id_revision_is_checked_against_the_current_version(azure_store: AzureBlobStorage) -> None:
    # Without versioning (Azurite) no blob is at any version: the condition fails, nothing is written.
    azure_store.put("v.jpg", b"1", content_type="image/jpeg")
    with pytest.raises(PreconditionFailed, match="version"):
        azure_store.put("v.jpg", b"2", content_type="image/jpeg", if_match="2026-01-02T03:04:05.1234567Z")
    with pytest.raises(PreconditionFailed, match="does not exist"):
        azure_store.put("nope.jpg", b"2", content_type="image/jpeg", if_match="2026-01-02T03:04:05.1234567Z")
    assert azure_store.get("v.jpg").body == b"1"


def test_missing_container(azure_service: Any) -> None:
    store = AzureBlobStorage("pt-no-such-container", service=azure_service)
    for operation in (store.head, store.get):
        with pytest.raises(NotFound, match="ContainerNotFound"):
            operation("a.jpg")
    with pytest.raises(NotFound):  # a missing *container* is a misconfiguration, unlike a missing blob
        store.delete("a.jpg")
    with pytest.raises(NotFound):
        list(store.list())


def test_wrong_key_is_permission_denied_never_not_found(azurite: Azurite, new_container: Callable[..., str]) -> None:
    container = new_container()
    good = AzureBlobStorage(container, service=blob_service_client(_connection(azurite.connection_string)))
    good.put("secret.jpg", b"x", content_type="image/jpeg")
    wrong_key = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=AAAA")
    bad = AzureBlobStorage(container, service=blob_service_client(_connection(wrong_key)))
    for operation in (bad.head, bad.get, bad.delete):
        with pytest.raises(PermissionDenied, match="403") as caught:
            operation("secret.jpg")
        assert isinstance(caught.value, PermissionError)
    with pytest.raises(PermissionDenied):
        bad.head("missing.jpg")  # 403 even for a missing blob: never reported as NotFound
    with pytest.raises(PermissionDenied):
        bad.put("new.jpg", b"x", content_type="image/jpeg")
    with pytest.raises(PermissionDenied):
        list(bad.list())


def test_unreachable_service_is_transient() -> None:
    # A real refused connection (nothing listens on the port), with retries off to keep the test fast.
    from azure.storage.blob import ExponentialRetry

    endpoint = f"http://127.0.0.1:{free_port()}/{ACCOUNT_NAME}"
    connection = _connection(f"AccountName={ACCOUNT_NAME};AccountKey=eA==;BlobEndpoint={endpoint};")
    opener = BlobStorageOpener(connection, retry_policy=ExponentialRetry(retry_total=0), connection_timeout=2)
    store = opener("anything")
    for call in (lambda: store.head("a.jpg"), lambda: store.put("a.jpg", b"x", content_type="image/jpeg"),
                 lambda: list(store.list())):  # fmt: skip
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert isinstance(caught.value, TransientError) and isinstance(caught.value, ConnectionError)


def test_one_lazily_created_client_for_every_container(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    import providers.azure.storage as module

    built: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(blob_service_client(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(module, "blob_service_client", counting)
    opener = BlobStorageOpener(_connection(azurite.connection_string))
    assert built == []  # nothing built at cold start
    first, second = opener("pt-a"), opener("pt-b")
    assert opener.service is opener.service is built[0] and len(built) == 1
    transport = opener.service._pipeline._transport  # the HTTP session (connection pool)
    for store in (first, second):
        assert store._container._pipeline._transport._transport is transport  # shared, not one per container


def test_invalid_keys_are_refused_by_the_shared_rules(azure_store: AzureBlobStorage) -> None:
    with pytest.raises(InvalidKey):
        azure_store.head("")
    with pytest.raises(InvalidKey):
        azure_store.put("a\x00b", b"x", content_type="image/jpeg")


@pytest.mark.parametrize(
    ("status", "code", "create_only", "expected"),
    [
        (404, "BlobNotFound", False, NotFound),
        (404, "ContainerNotFound", False, NotFound),
        (403, "AuthorizationFailure", False, PermissionDenied),
        (403, "AuthorizationPermissionMismatch", False, PermissionDenied),
        (401, "InvalidAuthenticationInfo", False, PermissionDenied),
        (412, "ConditionNotMet", False, PreconditionFailed),
        (409, "BlobAlreadyExists", True, AlreadyExists),
        (409, "LeaseIdMissing", False, StorageUnavailable),
        (429, "TooManyRequests", False, StorageUnavailable),
        (500, "InternalError", False, StorageUnavailable),
        (503, "ServerBusy", False, StorageUnavailable),
        (504, "OperationTimedOut", False, StorageUnavailable),
        (400, "InvalidResourceName", False, InvalidKey),
        (400, "InvalidMetadata", False, InvalidMetadata),
        (400, "InvalidHeaderValue", False, StorageError),
    ],
)
def test_status_and_error_code_table(status: int, code: str, create_only: bool, expected: type[Exception]) -> None:
    # Azurite cannot be made to answer 503 ServerBusy or 429; the table is checked on the SDK's real
    # exception type carrying the status and x-ms-error-code the service would send.
    from azure.core.exceptions import HttpResponseError

    error = HttpResponseError(message=f"{status} {code}")
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]  # the storage SDK sets it at runtime
    translated = _translate(error, "c/k", create_only=create_only)
    assert type(translated) is expected
    assert "c/k" in str(translated)


@pytest.mark.parametrize("name", ["ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
                                  "ServiceResponseTimeoutError"])  # fmt: skip
def test_connection_errors_and_timeouts_are_transient(name: str) -> None:
    from azure.core import exceptions

    translated = _translate(getattr(exceptions, name)("boom"), "c/k")
    assert isinstance(translated, StorageUnavailable)


def _connection(connection_string: str) -> StorageConnection:
    return resolve_connection("AzureWebJobsStorage", environ={"AzureWebJobsStorage": connection_string})


def test_head_reports_the_copy_status_of_a_copied_blob(azure_store: AzureBlobStorage) -> None:
    # On a Data Lake account Event Grid's BlobCreated for CopyBlob fires when the copy starts; the pipeline
    # reads this status to retry a pending copy. Azurite completes same-account copies at once: "success".
    azure_store.put("original.jpg", b"abc", content_type="image/jpeg")
    source_url = azure_store._container.get_blob_client("original.jpg").url
    azure_store._container.get_blob_client("copied.jpg").start_copy_from_url(source_url)
    assert azure_store.head("copied.jpg").copy_status == "success"
    assert azure_store.get("copied.jpg").info.copy_status == "success"
    assert azure_store.head("original.jpg").copy_status is None


@pytest.mark.parametrize(("raw", "expected"), [("pending", "pending"), ("aborted", "aborted"), ("failed", "failed"),
                                               (None, None)])  # fmt: skip
def test_copy_status_words_from_the_sdks_properties(raw: str | None, expected: str | None) -> None:
    from azure.storage.blob import BlobProperties

    from providers.azure.storage import _info

    properties = BlobProperties()
    properties.copy.status = raw  # what the SDK deserialises from x-ms-copy-status
    assert _info("k", properties).copy_status == expected


def test_the_adapter_configures_what_the_retry_schedule_assumes() -> None:
    """The retry policy itself (the reliability suite checks the rig's ``RETRY`` schedule in action)."""
    from providers.azure.connection import retry_policy

    policy = retry_policy()
    assert (policy.initial_backoff, policy.increment_base, policy.random_jitter_range) == (1, 2, 1)
    assert policy.total_retries == 3
    assert not policy.retry_to_secondary
