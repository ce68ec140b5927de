"""What the filesystem backend promises beyond the shared contract: no escape, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import InvalidKey, NotFound, PermanentError
from core.storage import FilesystemStorage


@pytest.mark.parametrize(
    "key",
    ["../escape.jpg", "a/../../escape.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", "dir/", "..", ".polythumb/meta/x",
     "bell\x07.jpg", "nul\x00.jpg", "x" * 300 + ".jpg"],
)
def test_keys_that_could_escape_or_corrupt_the_root_are_refused(tmp_path: Path, key: str) -> None:
    store = FilesystemStorage(tmp_path / "root")
    with pytest.raises(InvalidKey) as caught:
        store.put(key, b"x", content_type="text/plain")
    assert isinstance(caught.value, PermanentError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert [p for p in (tmp_path / "root").rglob("*") if p.is_file()] == []


def test_a_symlink_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    store = FilesystemStorage(root)
    with pytest.raises(InvalidKey):
        store.put("link/evil.jpg", b"x", content_type="image/jpeg")
    assert list(outside.iterdir()) == []


def test_writes_leave_no_temporary_files_and_metadata_is_hidden_from_listing(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    for i in range(5):
        store.put(f"d/k{i}.jpg", b"x" * i, content_type="image/jpeg", metadata={"n": str(i)})
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    # Besides the data: the sidecars, and the lock files of the key locks (a fixed number of stripes).
    assert [n for n in names if not n.startswith((".polythumb/meta/", ".polythumb/locks/"))] == [
        f"d/k{i}.jpg" for i in range(5)
    ]
    assert [i.key for i in store.list()] == [f"d/k{i}.jpg" for i in range(5)]


def test_a_file_changed_behind_our_back_loses_its_stale_metadata(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    written = store.put("a.jpg", b"old", content_type="image/jpeg", metadata={"polythumb_source": "x"})
    (tmp_path / "a.jpg").write_bytes(b"replaced by a user")
    info = store.head("a.jpg")
    assert info.size == len(b"replaced by a user")
    assert info.revision != written.revision
    assert dict(info.metadata) == {}


def test_plain_files_have_a_guessed_content_type_and_a_stable_revision(tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(b"not really")
    store = FilesystemStorage(tmp_path)
    first, second = store.head("photo.png"), store.head("photo.png")
    assert first.content_type == "image/png"
    assert first.revision == second.revision


def test_delete_prunes_empty_directories(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    store.put("a/b/c.jpg", b"x", content_type="image/jpeg")
    store.delete("a/b/c.jpg")
    assert not (tmp_path / "a").exists()
    with pytest.raises(NotFound):
        store.get("a/b/c.jpg")


def test_missing_root_is_not_found_without_create(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        FilesystemStorage(tmp_path / "nope", create=False)


def test_a_listing_reads_only_the_directories_and_files_its_prefix_can_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serve function lists ``dir/stem.`` on a miss: one directory, not the tree below it."""
    import core.storage.tree as tree

    store = FilesystemStorage(tmp_path / "root")
    many = [f"a/sub{i}/p{j}.jpg" for i in range(5) for j in range(5)]
    for key in ("a/cat.jpg", "a/cat.png", "a/dog.jpg", "a/cats/x.jpg", *many):
        store.put(key, b"x", content_type="image/jpeg")
    looked: list[str] = []
    stat = os.stat

    def seen(path: str, *args: object, **kwargs: object) -> os.stat_result:
        looked.append(str(path))
        return stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tree.os, "stat", seen)
    assert [info.key for info in store.list("a/cat.")] == ["a/cat.jpg", "a/cat.png"]
    assert not [path for path in looked if "sub" in path or "dog" in path]
    assert [info.key for info in store.list("a/cat")] == ["a/cat.jpg", "a/cat.png", "a/cats/x.jpg"]
    assert len(list(store.list("a/"))) == 29
