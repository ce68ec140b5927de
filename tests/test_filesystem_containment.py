"""Symlinks planted in polythumb's reserved area are never followed out of it.

Issue 20: data files were checked to stay inside the root, but sidecars, temporaries and their directories
were not, so a symlink inside ``DEST/.polythumb/meta`` made polythumb write (and unlink) files outside DEST.
Now every path in the reserved area is resolved and must stay in it, as the data files' paths must stay in
the root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.errors import NotFound, PermissionDenied
from core.storage import FilesystemStorage

HOURS_AGO = 1_000_000_000  # 2001: long stale


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    place = tmp_path / "outside"
    place.mkdir()
    return place


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if not p.is_dir())


def test_a_symlinked_metadata_directory_is_not_written_through(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / ".polythumb" / "meta").mkdir(parents=True)
    os.symlink(outside, root / ".polythumb" / "meta" / "albums")
    store = FilesystemStorage(root)

    with pytest.raises(PermissionDenied, match="reserved area"):
        store.put("albums/2024/x-64x64.jpg", b"thumb", content_type="image/jpeg", metadata={"a": "b"})

    assert _files(outside) == []
    with pytest.raises(NotFound):
        store.head("albums/2024/x-64x64.jpg")  # nothing half-written either
    store.put("elsewhere/y.jpg", b"thumb", content_type="image/jpeg")  # other keys are unaffected
    assert store.head("elsewhere/y.jpg").content_type == "image/jpeg"


def test_a_symlinked_reserved_area_is_not_written_through(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / ".polythumb")
    store = FilesystemStorage(root)

    with pytest.raises(PermissionDenied):
        store.put("x.jpg", b"thumb", content_type="image/jpeg")

    assert _files(outside) == []  # no sidecar, no temporary, no lock file out there
    assert not (root / "x.jpg").exists()


def test_delete_does_not_unlink_through_a_symlinked_metadata_directory(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / ".polythumb" / "meta").mkdir(parents=True)
    os.symlink(outside, root / ".polythumb" / "meta" / "b")
    victim = outside / "x.jpg.json"
    victim.write_text("{}")
    (outside / "empty").mkdir()
    (root / "b").mkdir()
    (root / "b" / "x.jpg").write_bytes(b"a user's photo")
    store = FilesystemStorage(root)

    store.delete("b/x.jpg")

    assert not (root / "b" / "x.jpg").exists()
    assert victim.read_text() == "{}"
    assert (outside / "empty").is_dir()


def test_a_sidecar_symlinked_to_a_file_outside_is_not_trusted(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / ".polythumb" / "meta").mkdir(parents=True)
    photo = root / "c.jpg"
    photo.write_bytes(b"a user's photo")
    stat = photo.stat()
    forged = outside / "forged.json"
    forged.write_text(json.dumps({
        "etag": "0" * 32, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "content_type": "image/jpeg",
        "metadata": {"polythumb_source": "c.jpg"},
    }))  # fmt: skip
    os.symlink(forged, root / ".polythumb" / "meta" / "c.jpg.json")

    info = FilesystemStorage(root).head("c.jpg")

    assert dict(info.metadata) == {}  # not made to look like polythumb's output (and so overwritten or deleted)


def test_the_sweep_removes_nothing_through_a_symlinked_temporaries_area(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / ".polythumb").mkdir(parents=True)
    os.symlink(outside, root / ".polythumb" / "tmp")
    old = outside / "old-report.pdf"
    old.write_bytes(b"keep me")
    os.utime(old, ns=(HOURS_AGO, HOURS_AGO))

    assert FilesystemStorage(root).sweep_temporaries() == 0
    assert old.read_bytes() == b"keep me"
