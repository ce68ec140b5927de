"""What the GCS adapter promises beyond the shared contract: generations, conditions, the client, errors."""

from __future__ import annotations

import time
import uuid
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
from core.once import once
from core.storage import ObjectInfo
from providers.gcp import storage as gcs
from providers.gcp.storage import GcsStorage, translate_error
from tests.providers.gcp.emulator import FakeGcs, free_port

pytestmark = pytest.mark.gcp


def test_version_is_the_generation(gcs_store: GcsStorage, gcs_client: Any) -> None:
    written = gcs_store.put("g.jpg", b"1", content_type="image/jpeg")
    blob = gcs_client.bucket(gcs_store.bucket).get_blob("g.jpg")
    assert written.version == str(blob.generation)
    assert written.revision == written.version
    assert gcs_store.head("g.jpg").version == written.version


def test_if_match_takes_a_generation_and_writes_only_over_it(gcs_store: GcsStorage) -> None:
    first = gcs_store.put("c.jpg", b"1", content_type="image/jpeg")
    second = gcs_store.put("c.jpg", b"2", content_type="image/jpeg", if_match=first.revision)
    assert int(second.revision) > int(first.revision)
    with pytest.raises(PreconditionFailed) as caught:
        gcs_store.put("c.jpg", b"3", content_type="image/jpeg", if_match=first.revision)
    assert not isinstance(caught.value, AlreadyExists)


@pytest.mark.parametrize("revision", ["0", "0123abc", "d41d8cd98f00b204e9800998ecf8427e", "-5", ""])
def test_a_revision_that_is_not_a_generation_never_matches(gcs_store: GcsStorage, revision: str) -> None:
    # "0" would mean "must not exist" to GCS: it must not turn a replace-only write into a create.
    with pytest.raises(PreconditionFailed):
        gcs_store.put("absent.jpg", b"1", content_type="image/jpeg", if_match=revision)
    with pytest.raises(NotFound):
        gcs_store.head("absent.jpg")


def test_if_match_and_if_none_match_together_are_a_bug(gcs_store: GcsStorage) -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        gcs_store.put("x.jpg", b"1", content_type="image/jpeg", if_match="1", if_none_match=True)


def test_get_reads_the_bytes_of_the_generation_it_reports(
    gcs_store: GcsStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = gcs_store.put("race.jpg", b"old bytes", content_type="image/jpeg")
    gcs_store.put("race.jpg", b"new bytes!", content_type="image/jpeg")
    real_head = GcsStorage.head
    heads: list[ObjectInfo] = []

    def stale_head_first(self: GcsStorage, key: str) -> ObjectInfo:
        # The first HEAD returns what a reader saw just before the overwrite.
        info = old if not heads else real_head(self, key)
        heads.append(info)
        return info

    monkeypatch.setattr(GcsStorage, "head", stale_head_first)
    got = gcs_store.get("race.jpg")
    assert got.body == b"new bytes!"
    assert got.info.revision == heads[-1].revision != old.revision
    assert got.info.size == len(got.body)


def test_listing_carries_generation_content_type_and_metadata(gcs_store: GcsStorage) -> None:
    gcs_store.put("l/a.png", b"a", content_type="image/png", cache_control="no-cache", metadata={"K": "v"})
    [info] = list(gcs_store.list("l/"))
    assert (info.content_type, info.cache_control, dict(info.metadata)) == ("image/png", "no-cache", {"k": "v"})
    assert info.version and info.last_modified is not None


def test_list_of_a_missing_bucket_is_not_found(gcs_client: Any) -> None:
    with pytest.raises(NotFound):
        list(GcsStorage("pt-never-created-bucket", client=gcs_client).list())


def test_delete_in_a_missing_bucket_is_not_found(gcs_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GCS answers 404 to both; only its message tells a missing bucket from an already deleted object.
    # fake-gcs-server says a bare "Not Found" to both, so GCS's own answer is injected at the SDK edge.
    from google.api_core.exceptions import NotFound as ApiNotFound
    from google.cloud.storage import Blob

    store = GcsStorage("pt-never-created-bucket", client=gcs_client)
    store.delete("k.jpg")  # the emulator's bare 404: taken as "already gone"

    def missing_bucket(self: Any, *args: Any, **kwargs: Any) -> None:
        raise ApiNotFound("DELETE https://storage.googleapis.com/...: The specified bucket does not exist.")

    monkeypatch.setattr(Blob, "delete", missing_bucket)
    with pytest.raises(NotFound, match="pt-never-created-bucket"):
        store.delete("k.jpg")


def test_unreachable_endpoint_is_storage_unavailable_within_the_retry_deadline() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="p",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://127.0.0.1:{free_port()}"},
    )
    store = GcsStorage("b", client=client, retry_deadline=0.5)
    started = time.monotonic()
    calls = [
        lambda: store.head("k"),
        lambda: store.get("k"),
        lambda: list(store.list()),
        lambda: store.delete("k"),
        lambda: store.put("k", b"x", content_type="a/b", if_none_match=True),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert isinstance(caught.value, TransientError)
    assert time.monotonic() - started < 15


def test_shared_client_follows_the_emulator_variable_and_is_reused(
    fake_gcs: FakeGcs, monkeypatch: pytest.MonkeyPatch, gcs_new_bucket: Callable[[str], str]
) -> None:
    monkeypatch.setattr(gcs, "shared_client", once(gcs.make_client))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    bucket = gcs_new_bucket("shared")
    first, second = gcs.open_bucket(bucket), gcs.open_bucket(bucket)
    assert gcs.shared_client() is gcs.shared_client()
    first.put("k.txt", b"hello", content_type="text/plain")
    assert second.get("k.txt").body == b"hello"
    assert gcs.shared_client()._credentials.__class__.__name__ == "AnonymousCredentials"


def test_an_empty_bucket_name_is_refused() -> None:
    with pytest.raises(ValueError):
        GcsStorage("", client=object())


# -- error translation: statuses fake-gcs-server never sends (403, 429, 503, ...) ---------------


def _api_error(status: int, message: str = "boom") -> Exception:
    """The exception google-cloud-storage raises for an HTTP ``status`` (its own mapping)."""
    from google.api_core import exceptions

    return exceptions.from_http_status(status, message)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(404, NotFound), (403, PermissionDenied), (401, PermissionDenied), (412, PreconditionFailed),
     (429, StorageUnavailable), (408, StorageUnavailable), (500, StorageUnavailable), (502, StorageUnavailable),
     (503, StorageUnavailable), (504, StorageUnavailable), (400, InvalidKey), (409, StorageError)],
)  # fmt: skip
def test_api_errors_map_onto_the_vocabulary(status: int, expected: type[Exception]) -> None:
    translated = translate_error(_api_error(status), "head", "gs://b/k")
    assert type(translated) is expected
    assert "gs://b/k" in str(translated)


def test_forbidden_is_never_not_found() -> None:
    translated = translate_error(_api_error(403), "head", "gs://b/k")
    assert isinstance(translated, PermissionError) and not isinstance(translated, FileNotFoundError)


def test_a_failed_create_only_write_is_already_exists() -> None:
    translated = translate_error(_api_error(412), "put", "gs://b/k", if_none_match=True)
    assert isinstance(translated, AlreadyExists) and isinstance(translated, PreconditionFailed)


def test_bad_request_is_permanent() -> None:
    assert isinstance(translate_error(_api_error(400), "put", "gs://b/k"), PermanentError)


def test_exhausted_retries_and_transport_errors_are_transient() -> None:
    import requests
    from google.api_core.exceptions import RetryError
    from google.auth.exceptions import RefreshError, TransportError

    for exc in (RetryError("deadline", cause=ConnectionError("reset")), requests.ConnectionError("refused"),
                requests.Timeout("slow"), TransportError("metadata server"), TimeoutError()):  # fmt: skip
        assert isinstance(translate_error(exc, "get", "gs://b/k"), StorageUnavailable), exc
    assert isinstance(translate_error(RefreshError("invalid_grant"), "get", "gs://b/k"), PermissionDenied)


def test_head_and_get_see_the_live_generation_when_noncurrent_ones_exist(gcs_client: Any) -> None:
    # Object versioning on: an overwrite keeps the old generation as noncurrent, a delete keeps the last
    # one. head/get must answer for the live object only (NotFound once it is deleted), never a noncurrent one.
    from google.cloud import storage

    bucket = storage.Bucket(gcs_client, f"pt-versions-{uuid.uuid4().hex[:12]}")
    bucket.versioning_enabled = True
    store = GcsStorage(gcs_client.create_bucket(bucket).name, client=gcs_client)
    first = store.put("v.jpg", b"one", content_type="image/jpeg")
    second = store.put("v.jpg", b"two", content_type="image/jpeg", if_match=first.revision)
    assert first.version != second.version
    assert store.head("v.jpg").version == second.version
    assert store.get("v.jpg").body == b"two"
    assert [info.key for info in store.list()] == ["v.jpg"]
    store.delete("v.jpg")
    assert gcs_client.bucket(store.bucket).blob("v.jpg", generation=int(second.version or 0)).download_as_bytes()
    with pytest.raises(NotFound):
        store.head("v.jpg")
    with pytest.raises(NotFound):
        store.get("v.jpg")


def test_the_adapter_configures_what_the_retry_schedule_assumes() -> None:
    """The retry policies themselves (the reliability suite checks the rig's ``RETRY`` schedule in action)."""
    from providers.gcp.storage import RETRY_DEADLINE, retry_policies

    always, conditional = retry_policies()
    assert always.timeout == RETRY_DEADLINE == 30.0
    assert (always._initial, always._multiplier, always._maximum) == (1.0, 2.0, 60.0)
    assert conditional.retry_policy is always  # uploads use the same bounded policy, when conditional
