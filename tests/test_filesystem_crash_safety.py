"""Writes of the filesystem backend survive a crash at any instant and writers in other processes.

Issue 20: the sidecar was written before the data file and the compare-and-swap lock was per process, so a
``kill -9`` between the two, or two processes writing one key, left a thumbnail whose sidecar described other
bytes: polythumb no longer recognised it (``output_conflict`` on every later run; never deleted with its
original). Now a write keeps the replaced object's record beside the new one until its data file is in place,
holds an OS lock (``flock``) on the key, and a reader whose stat disagrees with the sidecar decides by digest.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.errors import PreconditionFailed
from core.ops.runner import run_directory
from core.storage import FilesystemStorage
from core.storage.filesystem import RESERVED_DIR
from core.storage.keylocks import KeyLocks
from tests.images import jpeg_bytes

OLD_META = {"polythumb_source": "old"}
NEW_META = {"polythumb_source": "new"}


class _Killed(BaseException):
    """The process dies here (a BaseException, like SystemExit: no handler of the code under test catches it)."""


def _commits(store: FilesystemStorage, monkeypatch: pytest.MonkeyPatch, *, die_at: int | None) -> list[str]:
    """Count (and name) the renames and links a write commits with; die instead of the ``die_at``-th one."""
    calls: list[str] = []
    for name in ("replace", "link"):
        real = getattr(os, name)

        def spy(src: Any, dst: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(f"{_name} -> {Path(dst).relative_to(store.root)}")
            if die_at is not None and len(calls) == die_at:
                raise _Killed
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    return calls


def test_a_writer_killed_between_sidecar_and_data_leaves_the_old_object_with_its_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemStorage(tmp_path)
    old = store.put("a/photo-64x64.jpg", b"old thumbnail", content_type="image/jpeg", metadata=OLD_META)

    with monkeypatch.context() as patch:
        calls = _commits(store, patch, die_at=2)  # 1: the sidecar, 2: the data file
        with pytest.raises(_Killed):
            store.put("a/photo-64x64.jpg", b"new thumbnail!", content_type="image/jpeg", metadata=NEW_META,
                      if_match=old.revision)  # fmt: skip
    assert calls == ["replace -> .polythumb/meta/a/photo-64x64.jpg.json", "replace -> a/photo-64x64.jpg"]

    after = store.get("a/photo-64x64.jpg")
    assert after.body == b"old thumbnail"
    assert (after.info.revision, dict(after.info.metadata)) == (old.revision, OLD_META)
    # ... and a retry of the same conditional write goes through.
    new = store.put("a/photo-64x64.jpg", b"new thumbnail!", content_type="image/jpeg", metadata=NEW_META,
                    if_match=old.revision)  # fmt: skip
    assert dict(store.head("a/photo-64x64.jpg").metadata) == NEW_META
    assert store.head("a/photo-64x64.jpg").revision == new.revision


@pytest.mark.parametrize("create_only", [False, True])
def test_a_crash_at_any_commit_reads_back_as_the_old_object_or_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, create_only: bool
) -> None:
    def write(store: FilesystemStorage, old_revision: str | None) -> None:
        store.put("k.jpg", b"brand new", content_type="image/jpeg", metadata=NEW_META,
                  if_match=old_revision, if_none_match=create_only)  # fmt: skip

    def prepare(name: str) -> tuple[FilesystemStorage, str | None]:
        store = FilesystemStorage(tmp_path / name)
        old = None if create_only else store.put("k.jpg", b"old", content_type="image/jpeg", metadata=OLD_META)
        return store, old.revision if old else None

    probe, revision = prepare("probe")
    with monkeypatch.context() as patch:
        commits = _commits(probe, patch, die_at=None)
        write(probe, revision)
    assert len(commits) >= 2  # the sidecar and the data file at least

    before = {} if create_only else {"k.jpg": (b"old", OLD_META)}
    for step in range(1, len(commits) + 1):
        store, revision = prepare(f"crash-{step}")
        with monkeypatch.context() as patch:
            _commits(store, patch, die_at=step)
            with pytest.raises(_Killed):
                write(store, revision)
        objects = {info.key: (store.get(info.key).body, dict(info.metadata)) for info in store.list()}
        assert objects == before, f"killed instead of {commits[step - 1]}"
        write(store, revision)  # the retry completes
        assert dict(store.head("k.jpg").metadata) == NEW_META


def test_a_data_file_whose_mtime_moved_is_recognised_by_its_digest_and_the_sidecar_repaired(tmp_path: Path) -> None:
    """What ``cp`` without ``-p``, a restore, or two writers of an older version leave: same bytes, another mtime."""
    store = FilesystemStorage(tmp_path)
    written = store.put("t.jpg", b"thumbnail bytes", content_type="image/jpeg", metadata=OLD_META)
    os.utime(tmp_path / "t.jpg", ns=(1_000_000_000, 1_000_000_000))

    info = store.head("t.jpg")
    assert (info.revision, dict(info.metadata), info.content_type) == (written.revision, OLD_META, "image/jpeg")
    sidecar = json.loads((tmp_path / RESERVED_DIR / "meta" / "t.jpg.json").read_text())
    assert sidecar["mtime_ns"] == 1_000_000_000  # repaired: the next read settles it by stat alone
    # The same size with other bytes is not ours.
    (tmp_path / "t.jpg").write_bytes(b"Thumbnail bytes")
    assert dict(store.head("t.jpg").metadata) == {}


def test_thumbnails_left_unrecognised_by_two_earlier_runs_are_recognised_again(tmp_path: Path) -> None:
    """Two runs of an older version left each thumbnail's bytes from one run and its sidecar from the other."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (src / name).write_bytes(jpeg_bytes(120, 90))
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(out), "THUMBS_SIZES": "32x32,16x16"})
    assert run_directory(src, config).written == 4
    for thumb in out.glob("*.jpg"):  # the other run's identical render, renamed in a moment later
        os.utime(thumb, ns=(thumb.stat().st_atime_ns, thumb.stat().st_mtime_ns + 7_000_000))

    again = run_directory(src, config)
    assert (again.failed, again.written, again.skipped) == (0, 0, 2), [o.error_message for o in again.failures]


def _increment(root: str, rounds: int) -> None:
    """Add one to the counter at ``root``, ``rounds`` times, by compare-and-swap on its revision."""
    store = FilesystemStorage(root)
    for _ in range(rounds):
        while True:
            current = store.get("counter")
            try:
                store.put("counter", str(int(current.body) + 1).encode(), content_type="text/plain",
                          metadata={"polythumb_source": "counter"}, if_match=current.info.revision)  # fmt: skip
                break
            except PreconditionFailed:
                continue


def test_compare_and_swap_holds_across_processes(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path)
    store.put("counter", b"0", content_type="text/plain", metadata={"polythumb_source": "counter"})
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_increment, args=(str(tmp_path), 40)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    final = store.get("counter")
    assert int(final.body) == 120, "an increment was lost: two processes swapped the same revision"
    assert dict(final.info.metadata) == {"polythumb_source": "counter"}, "the sidecar describes other bytes"


def test_compare_and_swap_holds_across_threads_and_store_instances(tmp_path: Path) -> None:
    FilesystemStorage(tmp_path).put("counter", b"0", content_type="text/plain")
    threads = [threading.Thread(target=_increment, args=(str(tmp_path), 25)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    final = FilesystemStorage(tmp_path).get("counter")
    assert int(final.body) == 100
    assert dict(final.info.metadata) == {"polythumb_source": "counter"}


def _write(root: str, key: str) -> None:
    FilesystemStorage(root).put(key, b"from the child", content_type="image/jpeg")


def test_a_process_forked_while_a_key_is_locked_can_write_that_key_once_it_is_released(tmp_path: Path) -> None:
    """A pool worker forked while a thread of its parent held a key's flock must not keep that lock."""
    store = FilesystemStorage(tmp_path)
    context = multiprocessing.get_context("fork")
    with KeyLocks(store.root).hold("k.jpg"):
        child = context.Process(target=_write, args=(str(tmp_path), "k.jpg"))
        child.start()
    child.join(timeout=20)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0, "the child waited forever for a lock only its own inherited descriptor held"
    assert store.get("k.jpg").body == b"from the child"
