"""The files of a directory tree as object keys: what ``polythumb run`` lists and ``polythumb watch`` scans.

One walk serves both (and :meth:`core.storage.FilesystemStorage.list`), so they agree on what a source is:
every regular file (or symlink to one) under the root, named by its path relative to the root with ``/``
separators, except polythumb's reserved ``.polythumb`` directories (at any depth: a destination nested in the
source has its own) and its temporaries. Names the storage port cannot express (not UTF-8, control
characters, a symlink leading out of the root) are still yielded: the caller decides. ``run`` and ``watch``
hand them to the pipeline, which reports each as failed (``invalid_key``, with the reason); a listing of the
port leaves them out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from core.storage.reserved import RESERVED_DIR, TMP_PREFIX


@dataclass(frozen=True)
class TreeFile:
    """One file of the tree.

    Attributes:
        key: Its path relative to the root, ``/``-separated; undecodable bytes are kept as surrogate
            escapes (``os.fsdecode``), so the key names the file even when it is not valid UTF-8.
        size: Size in bytes.
        mtime_ns: Modification time (with ``size``, the watcher's signature of a settled file).
    """

    key: str
    size: int
    mtime_ns: int


def walk_files(root: Path, start: Path | None = None, *, prefix: str = "") -> Iterator[TreeFile]:
    """Yield every file under ``start`` (default: ``root``), keyed relative to ``root``, in no particular order.

    Directories reached through symlinks are not entered (``os.walk``'s default), so a symlinked directory
    never makes the tree loop or leave the root. A file that disappears while walking is left out. With
    ``prefix``, only keys starting with it: a directory none of whose keys can is not entered, and a file whose
    key cannot is not even looked at (a listing of one name's prefix reads one directory, not a tree).
    """
    for dirpath, dirnames, filenames in os.walk(start or root):
        rel = Path(dirpath).relative_to(root).as_posix()
        base = "" if rel == "." else f"{rel}/"
        dirnames[:] = [name for name in dirnames if name != RESERVED_DIR and _may_hold(f"{base}{name}/", prefix)]
        for name in filenames:
            if name.startswith(TMP_PREFIX):
                continue  # a write in progress (a reserved name: never a key)
            if not f"{base}{name}".startswith(prefix):
                continue
            try:
                stat = os.stat(os.path.join(dirpath, name))  # a symlink counts as its target (checked later)
            except OSError:  # deleted since the directory was read, or a dangling symlink
                continue
            if not S_ISREG(stat.st_mode):
                continue  # a FIFO, socket or device: nothing a reader could finish reading
            yield TreeFile(f"{base}{name}", stat.st_size, stat.st_mtime_ns)


def _may_hold(directory: str, prefix: str) -> bool:
    """Whether a key under ``directory`` (ending in ``/``) can start with ``prefix``."""
    return directory.startswith(prefix) or prefix.startswith(directory)
