"""Locks on the keys of a directory store, across threads and across processes.

A conditional write compares and swaps under its key's lock; so does a delete. Two ``polythumb run`` over one
destination are two processes, so a thread lock alone is not enough: each lock is a thread lock (the threads of
one process queue on it) plus an ``fcntl.flock`` on a lock file under ``<root>/.polythumb/locks/`` (other
processes). Keys hash onto :data:`STRIPES` lock files, so writers of different keys rarely wait for each other
and the lock files stay few. The kernel releases a flock when its process dies, so a ``kill -9`` never leaves a
key locked. Where ``fcntl`` does not exist (Windows), only the thread lock applies.
"""

from __future__ import annotations

import contextlib
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import PermissionDenied
from core.storage.reserved import LOCKS_DIR, area_of, ensure_directory, stays_inside

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads of one process are still serialised
    fcntl = None  # type: ignore[assignment]

#: Lock files per root: enough that unrelated keys seldom share one, few enough to stay out of the way.
STRIPES = 64


class _ProcessLocks:
    """This process's side of the key locks: a thread lock per (root, stripe), and the lock files it holds."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self.held: set[int] = set()  # descriptors whose flock is held right now

    def get(self, root: Path, stripe: int) -> threading.Lock:
        """The thread lock of ``stripe`` under ``root``."""
        with self._guard:
            return self._locks.setdefault((str(root), stripe), threading.Lock())

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child.

        It inherits the thread locks in whatever state the parent's other threads held them, and a copy of
        every descriptor whose flock a parent thread holds: a flock lasts until *every* copy is closed, so
        a long-lived child (a pool worker) that kept one would hold the parent's lock, and block its own
        writes to that stripe, for as long as it lives.
        """
        for descriptor in self.held:
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._start()


_PROCESS = _ProcessLocks()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PROCESS.after_fork_in_child)


class KeyLocks:
    """The key locks of the store rooted at ``root`` (a resolved path)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._area = area_of(root, LOCKS_DIR)

    @staticmethod
    def stripe(key: str) -> int:
        """The stripe ``key`` hashes onto."""
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % STRIPES

    def lock_file(self, key: str) -> Path:
        """The file whose flock guards ``key``."""
        return self._area / f"{self.stripe(key):02x}"

    @contextmanager
    def hold(self, key: str, *, required: bool = True) -> Iterator[None]:
        """Hold ``key``'s lock for the block.

        Args:
            key: The object key.
            required: Writers need the cross-process lock and get PermissionDenied without it. A reader
                (``required=False``) of a store it may not write to goes on with the thread lock alone.
        """
        with _PROCESS.get(self._root, self.stripe(key)):
            descriptor = self._open(key, required=required)
            if descriptor is None:
                yield
                return
            try:
                _PROCESS.held.add(descriptor)
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                _PROCESS.held.discard(descriptor)
                os.close(descriptor)  # releases the flock

    def _open(self, key: str, *, required: bool) -> int | None:
        if fcntl is None:
            return None
        path = self.lock_file(key)
        try:
            ensure_directory(self._area, self._area)
            if not stays_inside(path, self._area):
                raise PermissionDenied(f"{path}: a symlink leads out of polythumb's reserved area; not followed")
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except (PermissionDenied, OSError) as exc:
            if required:
                if isinstance(exc, PermissionDenied):
                    raise
                raise PermissionDenied(f"{path}: cannot open the lock file: {exc.strerror}") from exc
            return None
