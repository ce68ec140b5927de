"""The storage port's contract, written once and run on every backend (the ``store`` fixture)."""

from __future__ import annotations

import pytest

from core.errors import AlreadyExists, NotFound, PreconditionFailed, StorageError
from core.storage import ObjectInfo, Storage

TRICKY_KEYS = [
    "plain.jpg",
    "with space/red flower.jpg",
    "plus+sign/a+b.jpg",
    "percent%20literal/100%.jpg",
    "unicode/café/日本語 写真.jpg",
    "deep/a/b/c/d/e/f/g/h/leaf.png",
    "symbols/a@b=c&d;e,f(1)[2]~'.jpg",
]


def test_store_satisfies_the_protocol(store: Storage) -> None:
    assert isinstance(store, Storage)
    assert isinstance(store.bucket, str) and store.bucket


def test_round_trip_of_bytes_content_type_cache_control_and_metadata(store: Storage) -> None:
    body = bytes(range(256)) * 4
    written = store.put(
        "dir/object.bin",
        body,
        content_type="image/webp",
        cache_control="public, max-age=60",
        metadata={"polythumb_source": "a%20b.jpg", "polythumb_box": "64x64"},
    )
    fetched = store.get("dir/object.bin")
    head = store.head("dir/object.bin")

    assert fetched.body == body
    for info in (written, fetched.info, head):
        assert isinstance(info, ObjectInfo)
        assert info.key == "dir/object.bin"
        assert info.size == len(body)
        assert info.etag and '"' not in info.etag
    for info in (fetched.info, head):
        assert info.content_type == "image/webp"
        assert info.cache_control == "public, max-age=60"
        assert dict(info.metadata) == {"polythumb_source": "a%20b.jpg", "polythumb_box": "64x64"}
    assert head.revision == fetched.info.revision == written.revision


def test_metadata_names_come_back_lower_case(store: Storage) -> None:
    store.put("m.bin", b"x", content_type="application/octet-stream", metadata={"Polythumb_Box": "1x1"})
    assert dict(store.head("m.bin").metadata) == {"polythumb_box": "1x1"}


def test_empty_body(store: Storage) -> None:
    store.put("empty", b"", content_type="application/octet-stream")
    assert store.get("empty").body == b""
    assert store.head("empty").size == 0


def test_overwrite_replaces_body_and_metadata_and_changes_revision(store: Storage) -> None:
    first = store.put("k.jpg", b"first", content_type="image/jpeg", metadata={"a": "1"})
    second = store.put("k.jpg", b"second!", content_type="image/png", metadata={"b": "2"})
    got = store.get("k.jpg")
    assert got.body == b"second!"
    assert got.info.content_type == "image/png"
    assert dict(got.info.metadata) == {"b": "2"}
    assert first.revision != second.revision == got.info.revision


@pytest.mark.parametrize("operation", ["head", "get"])
def test_missing_key_is_not_found(store: Storage, operation: str) -> None:
    with pytest.raises(NotFound) as caught:
        getattr(store, operation)("no/such/key.jpg")
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, StorageError)


def test_head_or_none_tells_a_missing_key_from_an_object(store: Storage) -> None:
    from core.storage.port import head_or_none

    assert head_or_none(store, "no/such/key.jpg") is None
    written = store.put("here.jpg", b"x", content_type="image/jpeg")
    found = head_or_none(store, "here.jpg")
    assert found is not None and (found.key, found.revision) == ("here.jpg", written.revision)


def test_delete_removes_and_is_idempotent(store: Storage) -> None:
    store.put("gone.jpg", b"x", content_type="image/jpeg")
    store.delete("gone.jpg")
    with pytest.raises(NotFound):
        store.head("gone.jpg")
    store.delete("gone.jpg")  # a missing key is not an error
    store.delete("never/existed.jpg")


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_tricky_keys_keep_their_identity(store: Storage, key: str) -> None:
    store.put(key, key.encode(), content_type="text/plain")
    assert store.get(key).body == key.encode()
    assert store.head(key).key == key
    assert [info.key for info in store.list(key)] == [key]
    store.delete(key)
    with pytest.raises(NotFound):
        store.head(key)


def test_list_with_prefix_in_key_order(store: Storage) -> None:
    keys = ["a/2.jpg", "a/1.jpg", "a/sub/3.jpg", "ab.jpg", "b/4.jpg"]
    for key in keys:
        store.put(key, b"x", content_type="image/jpeg")
    assert [i.key for i in store.list("a/")] == ["a/1.jpg", "a/2.jpg", "a/sub/3.jpg"]
    assert [i.key for i in store.list("a")] == ["a/1.jpg", "a/2.jpg", "a/sub/3.jpg", "ab.jpg"]
    assert [i.key for i in store.list()] == sorted(keys)
    assert list(store.list("zzz/")) == []
    listed = {i.key: i for i in store.list()}
    assert all(listed[k].size == 1 and listed[k].etag for k in keys)


def test_list_pages_past_one_page(store: Storage) -> None:
    keys = [f"page/{i:03d}.jpg" for i in range(7)]
    for key in keys:
        store.put(key, b"x", content_type="image/jpeg")
    assert [i.key for i in store.list("page/", page_size=3)] == keys


def test_create_only_write(store: Storage) -> None:
    store.put("once.jpg", b"1", content_type="image/jpeg", if_none_match=True)
    with pytest.raises(AlreadyExists) as caught:
        store.put("once.jpg", b"2", content_type="image/jpeg", if_none_match=True)
    assert isinstance(caught.value, PreconditionFailed)
    assert store.get("once.jpg").body == b"1"


def test_replace_only_at_the_expected_revision(store: Storage) -> None:
    first = store.put("cas.jpg", b"1", content_type="image/jpeg")
    second = store.put("cas.jpg", b"2", content_type="image/jpeg", if_match=first.revision)
    with pytest.raises(PreconditionFailed):
        store.put("cas.jpg", b"3", content_type="image/jpeg", if_match=first.revision)
    assert store.get("cas.jpg").body == b"2"
    assert store.head("cas.jpg").revision == second.revision


def test_replace_only_of_a_missing_object_fails(store: Storage) -> None:
    with pytest.raises(PreconditionFailed):
        store.put("absent.jpg", b"1", content_type="image/jpeg", if_match="0123456789abcdef")
    with pytest.raises(NotFound):
        store.head("absent.jpg")


def test_a_written_object_records_no_copy(store: Storage) -> None:
    # copy_status says whether a server-side copy into the object is still running (Azure's asynchronous
    # Copy Blob); an object written by put never has one, on any backend.
    written = store.put("copy/none.bin", b"x", content_type="application/octet-stream")
    assert written.copy_status is None
    assert store.head("copy/none.bin").copy_status is None
    assert store.get("copy/none.bin").info.copy_status is None


def test_a_directory_delete_removes_only_polythumbs_outputs_of_that_directory(store: Storage) -> None:
    from core.config import load_config
    from core.prefixes import delete_outputs_under
    from core.storage import MemoryStorage

    source = MemoryStorage("uploads")  # the directory's sources are gone
    marker = {"polythumb_source_bucket": "uploads", "polythumb_box": "64x64"}
    for key, source_key in [("dir/a-64x64.jpg", "dir/a.jpg"), ("dir/sub/b-64x64.jpg", "dir/sub/b.jpg"),
                            ("dir2/c-64x64.jpg", "dir2/c.jpg")]:  # fmt: skip
        store.put(key, b"thumb", content_type="image/jpeg", metadata={**marker, "polythumb_source": source_key})
    store.put("dir/mine.jpg", b"user", content_type="image/jpeg")  # not polythumb's: never touched
    store.put("dir/other-bucket-64x64.jpg", b"t", content_type="image/jpeg",
              metadata={**marker, "polythumb_source_bucket": "elsewhere", "polythumb_source": "dir/x.jpg"})  # fmt: skip
    config = load_config({"THUMBS_DEST_BUCKET": store.bucket, "THUMBS_SIZES": "64x64"})

    records = delete_outputs_under(config, source=source, dest=store, directory="dir")

    assert sorted(r.key for r in records) == ["dir/a-64x64.jpg", "dir/sub/b-64x64.jpg"]
    assert [info.key for info in store.list()] == ["dir/mine.jpg", "dir/other-bucket-64x64.jpg", "dir2/c-64x64.jpg"]
