"""A directory as a bucket: the embedded default backend.

* Keys map to paths under ``root`` segment by segment; ``..``, ``.``, empty
  segments, absolute keys and the reserved ``.polythumb`` tree are refused, so a
  key can never name a file outside ``root``.
* Writes are atomic: the body goes to a temporary file under ``root/.polythumb/tmp/``
  (on the root's filesystem, so the rename stays atomic; beside the target when the
  target's directory is another mount), is fsynced, then renamed over the target
  (``os.replace``), or hard-linked into place for create-only writes so that "exists"
  is decided by the kernel. A process killed mid-write leaves its temporary there, out
  of every listing; :meth:`FilesystemStorage.sweep_temporaries` removes those older
  than an hour (every ``run``, ``watch`` and ``backfill`` calls it at start).
* Content type, cache control and metadata live in a JSON sidecar under
  ``root/.polythumb/meta/<key>.json``. The sidecar records the data file's size
  and mtime; a file changed behind our back (or never written by us, like a
  user's photo) is reported with a stat-derived etag and no metadata.
* What a directory tree cannot hold is refused with InvalidKey, never a raw
  ``OSError``: a last segment longer than 250 bytes (its sidecar name needs 5
  more), a key below an object (``a/b`` when ``a`` is a file) and a key naming a
  directory of other objects. Reads of such keys are NotFound.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import AlreadyExists, InvalidKey, NotFound, PermissionDenied, PreconditionFailed
from core.storage.port import ObjectInfo, StoredObject
from core.storage.validation import check_key

RESERVED_DIR = ".polythumb"
#: Temporaries of writes in progress, under the root's reserved area.
TMP_DIR = "tmp"
#: A temporary older than this belongs to a process that died mid-write (a write takes milliseconds;
#: an hour leaves a wide margin for a slow disk or a suspended laptop), so a sweep may remove it.
STALE_TEMPORARY_AGE = 3600.0
_TMP_PREFIX = ".polythumb-tmp-"  # temporaries beside their target: another mount, or older versions
_SIDECAR_SUFFIX = ".json"
_NAME_MAX = 255
#: The last segment also names its sidecar, ``<segment>.json``, which must fit in NAME_MAX too.
_LAST_NAME_MAX = _NAME_MAX - len(_SIDECAR_SUFFIX)

# One lock per root across instances: conditional writes compare-then-swap under it.
_ROOT_LOCKS: dict[str, threading.Lock] = {}
_ROOT_LOCKS_GUARD = threading.Lock()


def _root_lock(root: Path) -> threading.Lock:
    with _ROOT_LOCKS_GUARD:
        return _ROOT_LOCKS.setdefault(str(root), threading.Lock())


class FilesystemStorage:
    """One directory tree, seen through the storage port."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self._root = Path(root).resolve()
        if create:
            self._root.mkdir(parents=True, exist_ok=True)
        elif not self._root.is_dir():
            raise NotFound(f"{self._root}: no such directory")
        self._meta_root = self._root / RESERVED_DIR / "meta"
        self._tmp_root = self._root / RESERVED_DIR / TMP_DIR
        self._lock = _root_lock(self._root)

    @property
    def bucket(self) -> str:
        return str(self._root)

    @property
    def root(self) -> Path:
        """The directory this store is bound to."""
        return self._root

    # -- key <-> path ---------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """Return the file that holds ``key``, refusing any key that could escape root."""
        check_key(key)
        parts = key.split("/")
        for part in parts:
            if part in ("", ".", ".."):
                raise InvalidKey(f"key {key!r}: empty, '.' or '..' path segments are not allowed")
            if (os.sep in part) or (os.altsep and os.altsep in part):
                raise InvalidKey(f"key {key!r}: segment {part!r} contains a path separator")
            if len(part.encode("utf-8")) > _NAME_MAX:
                raise InvalidKey(f"key {key!r}: segment longer than {_NAME_MAX} bytes")
            if any(ord(c) < 0x20 for c in part):
                raise InvalidKey(f"key {key!r}: control characters are not allowed on the filesystem")
        if len(parts[-1].encode("utf-8")) > _LAST_NAME_MAX:
            raise InvalidKey(f"key {key!r}: last segment longer than {_LAST_NAME_MAX} bytes")
        if parts[0] == RESERVED_DIR or parts[-1].startswith(_TMP_PREFIX):
            raise InvalidKey(f"key {key!r} is reserved for polythumb's own files")
        path = self._root.joinpath(*parts)
        # Belt and braces: symlinks inside root must not lead outside it either.
        if not path.resolve().is_relative_to(self._root):
            raise InvalidKey(f"key {key!r} resolves outside the storage root")
        return path

    def _sidecar_for(self, key: str) -> Path:
        return self._meta_root.joinpath(*key.split("/")).with_name(key.rsplit("/", 1)[-1] + _SIDECAR_SUFFIX)

    # -- port -----------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        path = self.path_for(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):  # NotADirectory: a parent segment is an object
            raise NotFound(f"{key}: no such object") from None
        except PermissionError as exc:
            raise PermissionDenied(f"{key}: {exc.strerror}") from exc
        if not path.is_file():
            raise NotFound(f"{key}: not a file")
        return self._info(key, stat)

    def get(self, key: str) -> StoredObject:
        path = self.path_for(key)
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                body = handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"{key}: no such object") from None
        except PermissionError as exc:
            raise PermissionDenied(f"{key}: {exc.strerror}") from exc
        return StoredObject(info=self._info(key, stat), body=body)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        path = self.path_for(key)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._write_temp(path, body)
        except PermissionError as exc:
            raise PermissionDenied(f"{key}: {exc.strerror}") from exc
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey(f"key {key!r}: a parent segment is an object here, not a directory") from None
        try:
            stat = tmp.stat()
            sidecar = {
                "etag": etag,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "content_type": content_type,
                "cache_control": cache_control,
                "metadata": {k.lower(): v for k, v in (metadata or {}).items()},
            }
            with self._lock:
                if path.is_dir():
                    raise InvalidKey(f"key {key!r} names a directory of other objects here")
                self._check_preconditions(key, path, if_match=if_match, if_none_match=if_none_match)
                self._write_sidecar(key, sidecar)
                if if_none_match:
                    try:
                        os.link(tmp, path)  # atomic create-only: the kernel decides "exists"
                    except FileExistsError:
                        raise AlreadyExists(f"{key} already exists") from None
                else:
                    os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return self._info(key, path.stat())

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        with self._lock:
            try:
                path.unlink(missing_ok=True)
            except (NotADirectoryError, IsADirectoryError):
                return  # a parent is an object, or the key names a directory: no such object, nothing to do
            self._sidecar_for(key).unlink(missing_ok=True)
        self._prune_empty_dirs(path.parent, self._root)
        self._prune_empty_dirs(self._sidecar_for(key).parent, self._meta_root)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names, then sort: key order, like the clouds.
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._root.joinpath(*base_dir.split("/")) if base_dir else self._root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = Path(dirpath).relative_to(self._root).as_posix()
            if rel == ".":
                rel = ""
                dirnames[:] = [d for d in dirnames if d != RESERVED_DIR]
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = f"{rel}/{name}" if rel else name
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            try:
                yield self.head(key)
            except (NotFound, InvalidKey):
                continue  # deleted while listing, or a name the port cannot express

    # -- helpers ----------------------------------------------------------------

    def _info(self, key: str, stat: os.stat_result) -> ObjectInfo:
        sidecar = self._read_sidecar(key)
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        if sidecar and sidecar.get("size") == stat.st_size and sidecar.get("mtime_ns") == stat.st_mtime_ns:
            return ObjectInfo(
                key=key,
                size=stat.st_size,
                etag=sidecar["etag"],
                content_type=sidecar.get("content_type"),
                cache_control=sidecar.get("cache_control"),
                metadata=dict(sidecar.get("metadata") or {}),
                last_modified=modified,
            )
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            content_type=mimetypes.guess_type(key)[0],
            last_modified=modified,
        )

    def _check_preconditions(self, key: str, path: Path, *, if_match: str | None, if_none_match: bool) -> None:
        if if_none_match and path.exists():
            raise AlreadyExists(f"{key} already exists")
        if if_match is not None:
            try:
                current = self.head(key)
            except NotFound:
                raise PreconditionFailed(f"{key} does not exist (expected revision {if_match})") from None
            if current.revision != if_match:
                raise PreconditionFailed(f"{key} is at revision {current.revision}, not {if_match}")

    def sweep_temporaries(self, *, older_than: float = STALE_TEMPORARY_AGE) -> int:
        """Remove temporaries left by writers killed mid-write; return how many were removed.

        Only files older than ``older_than`` seconds go, so a concurrent writer's temporary is never
        touched. Temporaries that older versions left beside their targets are found and removed too.
        """
        cutoff = time.time() - older_than
        removed = 0
        for dirpath, dirnames, filenames in os.walk(self._root):
            here = Path(dirpath)
            if here == self._root / RESERVED_DIR:
                dirnames[:] = [d for d in dirnames if d == TMP_DIR]  # not the metadata tree
            for name in filenames:
                if here != self._tmp_root and not name.startswith(_TMP_PREFIX):
                    continue
                try:
                    if (here / name).lstat().st_mtime < cutoff:
                        (here / name).unlink()
                        removed += 1
                except FileNotFoundError:
                    continue  # another sweep got there first
        return removed

    def _write_temp(self, path: Path, body: bytes) -> Path:
        tmp = self._temp_name(path)
        with tmp.open("xb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def _temp_name(self, path: Path) -> Path:
        token = secrets.token_hex(8)
        self._tmp_root.mkdir(parents=True, exist_ok=True)
        if os.stat(self._tmp_root).st_dev == os.stat(path.parent).st_dev:
            return self._tmp_root / f"{token}-{path.name}"[:_NAME_MAX]
        # The target's directory is another mount: a rename across filesystems is not atomic (EXDEV).
        return path.with_name(f"{_TMP_PREFIX}{token}-{path.name}"[:_NAME_MAX])

    def _read_sidecar(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._sidecar_for(key).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_sidecar(self, key: str, sidecar: dict[str, Any]) -> None:
        target = self._sidecar_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._write_temp(target, json.dumps(sidecar, ensure_ascii=False).encode("utf-8"))
        try:
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)  # gone already after a successful replace

    @staticmethod
    def _prune_empty_dirs(directory: Path, stop: Path) -> None:
        while directory != stop and directory.is_relative_to(stop):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
