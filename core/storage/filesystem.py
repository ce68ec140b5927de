"""A directory as a bucket: the embedded default backend.

* Keys map to paths under ``root`` segment by segment; ``..``, ``.``, empty segments, absolute keys and the
  reserved ``.polythumb`` directories (at any depth) are refused, so a key can never name a file outside
  ``root``. polythumb's own files live in ``root/.polythumb/`` (:mod:`core.storage.reserved`); a symlink
  planted there is never followed out of it.
* Writes are atomic, crash-safe and safe across processes. The body goes to a temporary file under
  ``root/.polythumb/tmp/`` (on the root's filesystem, so the rename stays atomic; beside the target, recorded
  in the temporaries' area, when the target's directory is another mount) and is fsynced. Then, under the
  key's lock (a thread lock and an ``fcntl.flock``: :mod:`core.storage.keylocks`), the preconditions are
  checked against the object now there, the new sidecar goes in place, and the temporary is renamed over the
  target (``os.replace``), or hard-linked into place for create-only writes so that "exists" is decided by the
  kernel. A process killed at any instant leaves the old object or the new one, each readable with its own
  metadata (:mod:`core.storage.sidecar`), plus perhaps a temporary, out of every listing:
  :meth:`FilesystemStorage.sweep_temporaries` removes those older than an hour (every ``run``, ``watch`` and
  ``backfill`` calls it at start), and only those.
* Content type, cache control and metadata live in a JSON sidecar under ``root/.polythumb/meta/<key>.json``
  that records the data file's md5, size and mtime; a file changed behind our back (or never written by us,
  like a user's photo) is reported with a stat-derived etag and no metadata. A file polythumb wrote through
  another store nested with this one (a destination inside the source, or the source inside the destination)
  has its sidecar in that store's area; it is looked up there too, so polythumb recognises its outputs (the
  loop guard) whichever of the two directories is read.
* What a directory tree cannot hold is refused with InvalidKey, never a raw ``OSError``: a last segment longer
  than 250 bytes (its sidecar name needs 5 more), a key below an object (``a/b`` when ``a`` is a file) and a
  key naming a directory of other objects. Reads of such keys are NotFound.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG

from core.errors import AlreadyExists, InvalidKey, NotFound, PermissionDenied, PreconditionFailed
from core.storage.keylocks import KeyLocks
from core.storage.port import ObjectInfo, StoredObject
from core.storage.reserved import (
    META_DIR,
    RESERVED_DIR,
    TMP_DIR,
    TMP_PREFIX,
    area_of,
    ensure_directory,
    prune_empty_dirs,
    stays_inside,
)
from core.storage.sidecar import Record, Sidecar, read_sidecar
from core.storage.tree import TreeFile, walk_files
from core.storage.validation import check_key

__all__ = ["RESERVED_DIR", "STALE_TEMPORARY_AGE", "TMP_DIR", "FilesystemStorage"]

#: A temporary older than this belongs to a process that died mid-write (a write takes milliseconds;
#: an hour leaves a wide margin for a slow disk or a suspended laptop), so a sweep may remove it.
STALE_TEMPORARY_AGE = 3600.0
_SIDECAR_SUFFIX = ".json"
#: In the temporaries' area, ``<token>.beside`` names a temporary staged beside its target (another mount).
_BESIDE_SUFFIX = ".beside"
_TOKEN_LENGTH = 16
_NAME_MAX = 255
#: The last segment also names its sidecar, ``<segment>.json``, which must fit in NAME_MAX too.
_LAST_NAME_MAX = _NAME_MAX - len(_SIDECAR_SUFFIX)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Found:
    """A data file as read: its stat, its body (when asked for) and the record that describes it, if any."""

    stat: os.stat_result
    body: bytes
    record: Record | None


class FilesystemStorage:
    """One directory tree, seen through the storage port."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self._root = Path(root).resolve()
        if create:
            self._root.mkdir(parents=True, exist_ok=True)
        elif not self._root.is_dir():
            raise NotFound(f"{self._root}: no such directory")
        self._meta_root = area_of(self._root, META_DIR)
        self._tmp_root = area_of(self._root, TMP_DIR)
        self._locks = KeyLocks(self._root)
        self._root_text, self._meta_area = str(self._root), str(self._meta_root)
        #: The meta area of every directory above the root, with the root's path below that directory.
        self._enclosing = [
            (str(area_of(base, META_DIR)), self._root.relative_to(base).parts) for base in self._root.parents
        ]

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
        if RESERVED_DIR in parts or parts[-1].startswith(TMP_PREFIX):
            raise InvalidKey(f"key {key!r} is reserved for polythumb's own files")
        path = self._root.joinpath(*parts)
        # Belt and braces: symlinks inside root must not lead outside it either.
        if not stays_inside(path, self._root):
            raise InvalidKey(f"key {key!r} resolves outside the storage root {self._root}")
        return path

    def _sidecar_for(self, key: str) -> Path:
        return _sidecar_path(self._root, key.split("/"))

    def _sidecar_places(self, key: str) -> Iterator[tuple[str, str, bool]]:
        """Where ``key``'s sidecar may be, as ``(sidecar, its store's meta area, ours)``, ours first.

        A file under this root may have been written through another store: one rooted in a directory on the
        key's way (a destination nested in this source), or one rooted above this root (this source nested in
        a destination). Each keeps its sidecars under its own ``.polythumb/meta``. (Plain strings: a source
        file with no sidecar costs one failed open per place, and pathlib would cost more than the opens.)
        """
        parts = key.split("/")
        name = parts[-1] + _SIDECAR_SUFFIX
        yield os.path.join(self._meta_area, *parts[:-1], name), self._meta_area, True
        for depth in range(1, len(parts)):
            area = os.path.join(self._root_text, *parts[:depth], RESERVED_DIR, META_DIR)
            yield os.path.join(area, *parts[depth:-1], name), area, False
        for area, below in self._enclosing:
            yield os.path.join(area, *below, *parts[:-1], name), area, False

    # -- port -----------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        found = self._examine(key, body=False)
        return self._object_info(key, found.stat, found.record)

    def get(self, key: str) -> StoredObject:
        found = self._examine(key, body=True)
        return StoredObject(info=self._object_info(key, found.stat, found.record), body=found.body)

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
        except PermissionDenied:
            raise
        except PermissionError as exc:
            raise PermissionDenied(f"{key}: {exc.strerror}") from exc
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey(f"key {key!r}: a parent segment is an object here, not a directory") from None
        try:
            with self._locks.hold(key):  # compare and swap, against every thread and process of this root
                if path.is_dir():
                    raise InvalidKey(f"key {key!r} names a directory of other objects here")
                current = self._examine_or_none(key)
                self._check_preconditions(key, current, if_match=if_match, if_none_match=if_none_match)
                stat = _distinct_stat(tmp, current.stat if current else None)
                record = Record(
                    etag=etag,
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    content_type=content_type,
                    cache_control=cache_control,
                    metadata={k.lower(): v for k, v in (metadata or {}).items()},
                )
                # The sidecar first, keeping the record of the object still in place: killed before the rename
                # below, the old data file is still described (by ``previous``); after it, the new one is.
                self._write_sidecar(key, Sidecar(record, previous=current.record if current else None))
                if if_none_match:
                    try:
                        os.link(tmp, path)  # atomic create-only: the kernel decides "exists"
                    except FileExistsError:
                        raise AlreadyExists(f"{key} already exists") from None
                else:
                    os.replace(tmp, path)
        finally:
            self._discard_temp(tmp)
        return self._object_info(key, stat, record)

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        sidecar = self._sidecar_for(key)
        with self._locks.hold(key):
            try:
                path.unlink(missing_ok=True)  # the data first: a sidecar without its file describes nothing
            except (NotADirectoryError, IsADirectoryError):
                return  # a parent is an object, or the key names a directory: no such object, nothing to do
            if stays_inside(sidecar.parent, self._meta_root):  # a symlink planted in the area is not followed
                sidecar.unlink(missing_ok=True)
        prune_empty_dirs(path.parent, self._root)
        prune_empty_dirs(sidecar.parent, self._meta_root)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names, then sort: key order, like the clouds.
        keys = sorted(entry.key for entry in self.files(prefix))
        for key in keys:
            try:
                yield self.head(key)
            except (NotFound, InvalidKey):
                continue  # deleted while listing, or a name the port cannot express

    def files(self, prefix: str = "") -> Iterator[TreeFile]:
        """Every file whose key starts with ``prefix``, unsorted, including names the port cannot express.

        :meth:`list` leaves out a name no key can hold (not UTF-8, a control character, a symlink out of the
        root); ``polythumb run`` and ``watch`` read the tree through this instead, so such a file is reported,
        not silently skipped (:mod:`core.storage.tree`).
        """
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._root.joinpath(*base_dir.split("/")) if base_dir else self._root
        return walk_files(self._root, start, prefix=prefix)

    # -- reading ----------------------------------------------------------------

    def _examine(self, key: str, *, body: bool, locked: bool = False) -> _Found:
        """Read ``key``'s data file (its stat; its body if asked) and find the record that describes it.

        Size and mtime settle it without a hash. When they cannot (a record of the same size with another
        mtime, or two records matching), the file is read again under the key's lock, where no writer is
        half-way, and the body's md5 decides; a sidecar of ours that the digest proves right is restamped.
        """
        path = self.path_for(key)
        stat, data = _load(key, path, body=body)
        unsure: list[tuple[Sidecar, bool]] = []
        for sidecar_path, area, ours in self._sidecar_places(key):
            sidecar = read_sidecar(sidecar_path, area)
            if sidecar is None:
                continue
            record = sidecar.describing(stat)
            if record is not None:
                return _Found(stat, data, record)
            if sidecar.is_unsure(stat):
                unsure.append((sidecar, ours))
        if not unsure:
            return _Found(stat, data, None)
        if not locked:
            with self._locks.hold(key, required=False):
                return self._examine(key, body=body, locked=True)
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest() if body else _md5_of(path)
        for sidecar, ours in unsure:
            record = sidecar.by_digest(stat.st_size, digest)
            if record is not None:
                restamped = record.restamped(stat)
                if ours:
                    self._repair_sidecar(key, restamped)
                return _Found(stat, data, restamped)
        return _Found(stat, data, None)

    def _examine_or_none(self, key: str) -> _Found | None:
        """The object now at ``key`` (the caller holds the key's lock), or None."""
        try:
            return self._examine(key, body=False, locked=True)
        except NotFound:
            return None

    def _object_info(self, key: str, stat: os.stat_result, record: Record | None) -> ObjectInfo:
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        if record is not None:
            return ObjectInfo(
                key=key,
                size=stat.st_size,
                etag=record.etag,
                content_type=record.content_type,
                cache_control=record.cache_control,
                metadata=dict(record.metadata),
                last_modified=modified,
            )
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            content_type=mimetypes.guess_type(key)[0],
            last_modified=modified,
        )

    def _check_preconditions(
        self, key: str, current: _Found | None, *, if_match: str | None, if_none_match: bool
    ) -> None:
        if if_none_match and current is not None:
            raise AlreadyExists(f"{key} already exists")
        if if_match is not None:
            if current is None:
                raise PreconditionFailed(f"{key} does not exist (expected revision {if_match})")
            revision = self._object_info(key, current.stat, current.record).revision
            if revision != if_match:
                raise PreconditionFailed(f"{key} is at revision {revision}, not {if_match}")

    # -- sidecars -----------------------------------------------------------------

    def _write_sidecar(self, key: str, sidecar: Sidecar) -> None:
        target = self._sidecar_for(key)
        ensure_directory(target.parent, self._meta_root)
        tmp = self._write_temp(target, sidecar.encode())
        try:
            os.replace(tmp, target)  # replaces a symlink planted at the target, never what it points to
        finally:
            self._discard_temp(tmp)  # gone already after a successful replace

    def _repair_sidecar(self, key: str, record: Record) -> None:
        """Restamp our sidecar for a data file its digest proved ours (best effort: reads must not fail)."""
        with contextlib.suppress(OSError):  # a read-only root: the next read proves it again
            self._write_sidecar(key, Sidecar(record))

    # -- temporaries ----------------------------------------------------------------

    def sweep_temporaries(self, *, older_than: float = STALE_TEMPORARY_AGE) -> int:
        """Remove temporaries left by writers killed mid-write; return how many were removed.

        Only files older than ``older_than`` seconds go, so a concurrent writer's temporary is never touched,
        and only files polythumb created: those in its temporaries' area, and those staged beside a target on
        another mount, which it recorded in that area before creating them. A user's file is never removed,
        whatever its name.
        """
        area = self._tmp_root
        if not stays_inside(area, area):
            return 0  # a symlink planted in place of the area: nothing in there is ours
        cutoff = time.time() - older_than
        removed = 0
        try:
            entries = list(os.scandir(area))
        except OSError:  # no temporaries yet
            return 0
        for entry in entries:
            try:
                stat = entry.stat(follow_symlinks=False)
                if not S_ISREG(stat.st_mode) or stat.st_mtime >= cutoff:
                    continue
                if entry.name.endswith(_BESIDE_SUFFIX):
                    removed += self._sweep_beside(Path(entry.path), entry.name[: -len(_BESIDE_SUFFIX)])
                else:
                    removed += 1
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # another sweep got there first
        return removed

    def _sweep_beside(self, record: Path, token: str) -> int:
        """Remove the temporary ``record`` names, if it is still one of ours; return 1 if removed."""
        try:
            temporary = self._root / os.fsdecode(record.read_bytes())
        except OSError:
            return 0
        if not temporary.name.startswith(f"{TMP_PREFIX}{token}-") or not stays_inside(temporary.parent, self._root):
            return 0
        try:
            if not S_ISREG(temporary.lstat().st_mode):
                return 0
            temporary.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return 0
        return 1

    def _write_temp(self, path: Path, body: bytes) -> Path:
        tmp = self._temp_name(path)
        try:
            with tmp.open("xb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            self._discard_temp(tmp)
            raise
        return tmp

    def _temp_name(self, path: Path) -> Path:
        token = secrets.token_hex(_TOKEN_LENGTH // 2)
        area = ensure_directory(self._tmp_root, self._tmp_root)
        if self._same_device(area, path.parent):
            return area / f"{token}-{path.name}"[:_NAME_MAX]
        # The target's directory is another mount: a rename across filesystems is not atomic (EXDEV). Stage
        # the temporary beside the target, and write it down first, so that a sweep knows it is ours.
        beside = path.with_name(f"{TMP_PREFIX}{token}-{path.name}"[:_NAME_MAX])
        with (area / f"{token}{_BESIDE_SUFFIX}").open("xb") as record:
            record.write(os.fsencode(beside.relative_to(self._root)))
        return beside

    def _discard_temp(self, tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        if tmp.name.startswith(TMP_PREFIX):
            token = tmp.name[len(TMP_PREFIX) :][:_TOKEN_LENGTH]
            (self._tmp_root / f"{token}{_BESIDE_SUFFIX}").unlink(missing_ok=True)

    @staticmethod
    def _same_device(first: Path, second: Path) -> bool:
        return os.stat(first).st_dev == os.stat(second).st_dev


# -- helpers --------------------------------------------------------------------


def _sidecar_path(base: Path, parts: list[str]) -> Path:
    """The sidecar of the file ``base/<parts>`` in the store rooted at ``base``."""
    return area_of(base, META_DIR).joinpath(*parts[:-1], parts[-1] + _SIDECAR_SUFFIX)


def _load(key: str, path: Path, *, body: bool) -> tuple[os.stat_result, bytes]:
    """The data file's stat, and its body when ``body`` (stat and bytes of the same open file)."""
    try:
        if not body:
            stat = path.stat()
            if not S_ISREG(stat.st_mode):
                raise NotFound(f"{key}: not a file")
            return stat, b""
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            return stat, handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):  # NotADirectory: a parent is an object
        raise NotFound(f"{key}: no such object") from None
    except PermissionError as exc:
        raise PermissionDenied(f"{key}: {exc.strerror}") from exc


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _distinct_stat(tmp: Path, replaced: os.stat_result | None) -> os.stat_result:
    """``tmp``'s stat, its mtime moved on by a nanosecond if size and mtime equal those of the file it replaces.

    A coarse clock can give two writes of one size the same mtime; then the sidecar's two records could not tell
    the old data file from the new one by stat.
    """
    stat = os.stat(tmp)
    if replaced is not None and (replaced.st_size, replaced.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        stat = os.stat(tmp)
    return stat
