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


def walk_files(root: Path, start: Path | None = None) -> Iterator[TreeFile]:
    """Yield every file under ``start`` (default: ``root``), keyed relative to ``root``, in no particular order.

    Directories reached through symlinks are not entered (``os.walk``'s default), so a symlinked directory
    never makes the tree loop or leave the root. A file that disappears while walking is left out.
    """
    for dirpath, dirnames, filenames in os.walk(start or root):
        dirnames[:] = [name for name in dirnames if name != RESERVED_DIR]
        rel = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            if name.startswith(TMP_PREFIX):
                continue  # a write in progress (a reserved name: never a key)
            try:
                stat = os.stat(os.path.join(dirpath, name))  # a symlink counts as its target (checked later)
            except OSError:  # deleted since the directory was read, or a dangling symlink
                continue
            if not S_ISREG(stat.st_mode):
                continue  # a FIFO, socket or device: nothing a reader could finish reading
            yield TreeFile(name if rel == "." else f"{rel}/{name}", stat.st_size, stat.st_mtime_ns)
