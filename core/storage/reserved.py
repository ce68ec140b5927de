"""polythumb's reserved area of a directory store: ``<root>/.polythumb/`` and what may happen in it.

The area holds the metadata sidecars (``meta/``), the temporaries of writes in progress (``tmp/``) and the lock
files (``locks/``). Anyone who can write to the root can also plant a symlink there (``meta/photos ->
/etc``), so every path polythumb opens, writes, renames or removes in the area is first resolved and must
still lie inside the area: the same containment check the data files get (symlinks planted in the area are
never followed out of it).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import PermissionDenied

RESERVED_DIR = ".polythumb"
#: Metadata sidecars, one per object: ``meta/<key>.json``.
META_DIR = "meta"
#: Temporaries of writes in progress.
TMP_DIR = "tmp"
#: Lock files of the cross-process key locks.
LOCKS_DIR = "locks"
#: Temporaries staged beside their target (another mount under the root) start with this.
TMP_PREFIX = ".polythumb-tmp-"


def area_of(root: Path, name: str) -> Path:
    """The reserved directory ``name`` of the store rooted at ``root`` (a resolved path), as it must be."""
    return root / RESERVED_DIR / name


def stays_inside(path: Path, area: Path) -> bool:
    """Whether ``path``, with every symlink on its way resolved, lies inside ``area``.

    ``area`` is the lexical path under a resolved root, so a symlinked ``.polythumb`` (or ``meta``, or any
    directory below it) that leads elsewhere fails the check. Paths that do not exist yet are resolved as
    far as they exist.
    """
    try:
        return path.resolve().is_relative_to(area)
    except (OSError, RuntimeError):  # a symlink loop: nothing polythumb wrote
        return False


def ensure_directory(directory: Path, area: Path) -> Path:
    """Create ``directory`` (and its parents) inside ``area``, refusing a way that leads out of it.

    Raises:
        PermissionDenied: a symlink on the way leads outside ``area``, or the directory cannot be created.
    """
    if not stays_inside(directory, area):
        raise PermissionDenied(f"{directory}: a symlink leads out of polythumb's reserved area {area}; not followed")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where a directory belongs: the area was tampered with
        raise PermissionDenied(f"{directory}: not a directory in polythumb's reserved area") from None
    except PermissionError as exc:
        raise PermissionDenied(f"{directory}: {exc.strerror}") from exc
    if not stays_inside(directory, area):  # a symlink planted while we created it
        raise PermissionDenied(f"{directory}: a symlink leads out of polythumb's reserved area {area}; not followed")
    return directory


def prune_empty_dirs(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents up to (not including) ``stop`` while they are empty.

    A directory reached through a symlink that leads out of ``stop`` is never removed.
    """
    while directory != stop and directory.is_relative_to(stop) and stays_inside(directory, stop):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = directory.parent
