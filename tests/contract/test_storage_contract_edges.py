"""Contract cases issue 6 asks for that the main suite does not cover yet, on every backend (``store``).

Prefixes with characters that URL encoding could confuse, paging where the page boundary and the
prefix boundary meet, key order beyond ASCII, and conditional writes across a delete.
"""

from __future__ import annotations

import pytest

from core.errors import NotFound, PreconditionFailed
from core.storage import Storage


def _put_all(store: Storage, keys: list[str]) -> None:
    for key in keys:
        store.put(key, key.encode(), content_type="text/plain")


@pytest.mark.parametrize(
    ("prefix", "decoys"),
    [
        ("plus+sign/", ["plus sign/a.jpg", "plus%2Bsign/a.jpg"]),  # '+' is not a space, nor its escape
        ("percent%20literal/", ["percent literal/a.jpg", "percent%2520literal/a.jpg"]),
        ("space here/", ["space+here/a.jpg", "space%20here/a.jpg"]),
        ("café/", ["cafe/a.jpg", "caf%C3%A9/a.jpg"]),
    ],
)
def test_prefix_with_special_characters_matches_literally(store: Storage, prefix: str, decoys: list[str]) -> None:
    wanted = [f"{prefix}a.jpg", f"{prefix}b/c.jpg"]
    _put_all(store, wanted + decoys)
    assert [info.key for info in store.list(prefix)] == wanted


def test_pages_break_inside_a_prefix_and_never_leak_past_it(store: Storage) -> None:
    keys = [f"shelf/{i:02d}.jpg" for i in range(5)]
    _put_all(store, ["shel.jpg", "shelf.jpg", *keys, "shelf0.jpg", "shelg/x.jpg"])
    for page_size in (1, 2, 5):
        assert [info.key for info in store.list("shelf/", page_size=page_size)] == keys


def test_list_order_is_code_point_order_beyond_ascii(store: Storage) -> None:
    keys = ["o/Z.jpg", "o/a.jpg", "o/z.jpg", "o/é.jpg", "o/ü.jpg", "o/日.jpg", "o/😀.jpg", "o/~.jpg"]
    _put_all(store, keys)
    # Code point order is UTF-8 byte order, the order S3, GCS and Azure document for listings.
    assert [info.key for info in store.list("o/", page_size=3)] == sorted(keys)


def test_overwrite_without_cache_control_or_metadata_clears_them(store: Storage) -> None:
    store.put("c.jpg", b"1", content_type="image/jpeg", cache_control="public, max-age=60", metadata={"a": "1"})
    store.put("c.jpg", b"2", content_type="image/png")
    info = store.head("c.jpg")
    assert (info.content_type, info.cache_control, dict(info.metadata)) == ("image/png", None, {})


def test_create_only_succeeds_again_after_a_delete(store: Storage) -> None:
    store.put("again.jpg", b"1", content_type="image/jpeg", if_none_match=True)
    store.delete("again.jpg")
    store.put("again.jpg", b"2", content_type="image/jpeg", if_none_match=True)
    assert store.get("again.jpg").body == b"2"


def test_replace_only_of_a_deleted_object_fails(store: Storage) -> None:
    first = store.put("was.jpg", b"1", content_type="image/jpeg")
    store.delete("was.jpg")
    with pytest.raises(PreconditionFailed):
        store.put("was.jpg", b"2", content_type="image/jpeg", if_match=first.revision)
    with pytest.raises(NotFound):
        store.head("was.jpg")


def test_replace_only_carries_the_new_metadata_atomically(store: Storage) -> None:
    first = store.put("m.jpg", b"1", content_type="image/jpeg", metadata={"polythumb_box": "1x1"})
    second = store.put(
        "m.jpg",
        b"22",
        content_type="image/png",
        cache_control="no-cache",
        metadata={"polythumb_box": "2x2"},
        if_match=first.revision,
    )
    got = store.get("m.jpg")
    assert (got.body, got.info.content_type, got.info.cache_control) == (b"22", "image/png", "no-cache")
    assert dict(got.info.metadata) == {"polythumb_box": "2x2"}
    assert got.info.revision == second.revision != first.revision
