"""The metadata sidecar of one filesystem object: what polythumb stored with it, and how to tell it is its own.

A sidecar (``<root>/.polythumb/meta/<key>.json``) records the object's content type, cache control and user
metadata, the md5 of its body (its etag) and the size and mtime of the data file it describes. A reader trusts
the record only for a data file of that size and mtime (a file replaced behind polythumb's back has neither), so
telling "this is polythumb's object" costs a stat, never a hash.

A write puts the new sidecar in place *before* the data file it describes, and keeps the record of the object it
replaces as ``previous``. A writer killed between the two renames leaves the old data file with a sidecar whose
``previous`` still describes it; one killed after both leaves the new pair. Either way the object reads back
with its own metadata. When size and mtime disagree but the size matches (the file was copied with a new mtime,
``touch``-ed, or written by an older polythumb that could interleave two writers), the body's md5 decides: equal
to a record's etag, it is that object (:meth:`Sidecar.by_digest`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from stat import S_ISREG
from typing import Any

from core.storage.reserved import stays_inside


@dataclass(frozen=True)
class Record:
    """What polythumb knows about one version of an object's data file."""

    etag: str
    size: int
    mtime_ns: int
    content_type: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def describes(self, stat: os.stat_result) -> bool:
        """Whether a data file with ``stat`` is the one this record was written for."""
        return self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns

    def restamped(self, stat: os.stat_result) -> Record:
        """This record for the same bytes at ``stat``'s mtime (after a digest proved them equal)."""
        return replace(self, mtime_ns=stat.st_mtime_ns)

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "etag": self.etag,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "content_type": self.content_type,
            "cache_control": self.cache_control,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: object) -> Record | None:
        """The record in ``data``, or None when it is not one."""
        if not isinstance(data, dict):
            return None
        etag, size, mtime_ns, metadata = data.get("etag"), data.get("size"), data.get("mtime_ns"), data.get("metadata")
        if not (isinstance(etag, str) and isinstance(size, int) and isinstance(mtime_ns, int)):
            return None
        content_type, cache_control = data.get("content_type"), data.get("cache_control")
        return cls(
            etag=etag,
            size=size,
            mtime_ns=mtime_ns,
            content_type=content_type if isinstance(content_type, str) else None,
            cache_control=cache_control if isinstance(cache_control, str) else None,
            metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        )


@dataclass(frozen=True)
class Sidecar:
    """The record of the object written last and, while its data file may not be in place yet, the one before."""

    current: Record
    previous: Record | None = None

    @property
    def records(self) -> tuple[Record, ...]:
        """The records, newest first."""
        return (self.current,) if self.previous is None else (self.current, self.previous)

    def describing(self, stat: os.stat_result) -> Record | None:
        """The one record that describes a data file with ``stat``; None for none, or for two (ambiguous)."""
        matches = [record for record in self.records if record.describes(stat)]
        return matches[0] if len(matches) == 1 else None

    def is_unsure(self, stat: os.stat_result) -> bool:
        """Whether only the body's digest can tell: two records match, or one has its size but another mtime."""
        if sum(record.describes(stat) for record in self.records) > 1:
            return True
        return self.describing(stat) is None and any(record.size == stat.st_size for record in self.records)

    def by_digest(self, size: int, etag: str) -> Record | None:
        """The newest record of a body of ``size`` bytes whose md5 is ``etag``."""
        return next((r for r in self.records if r.size == size and r.etag == etag), None)

    def encode(self) -> bytes:
        """The sidecar file's bytes."""
        data = self.current.to_json()
        if self.previous is not None:
            data["previous"] = self.previous.to_json()
        return json.dumps(data, ensure_ascii=False).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes) -> Sidecar | None:
        """The sidecar in ``raw``; None when it is not one (sidecars of older versions have no ``previous``)."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            return None
        current = Record.from_json(data)
        if current is None:
            return None
        return cls(current, Record.from_json(data.get("previous")))


# Not a symlink, never blocking (a FIFO planted there). The flags Windows lacks are left out there.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def read_sidecar(path: str, area: str) -> Sidecar | None:
    """The sidecar at ``path``, if there is one inside ``area`` (a symlink out of the area is not followed)."""
    try:
        descriptor = os.open(path, _READ_FLAGS)
    except (OSError, ValueError):  # missing (the common case: a user's file), unreadable, a symlink
        return None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            if not S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            raw = handle.read()
        except OSError:
            return None
    if not stays_inside(Path(path), Path(area)):  # checked once it exists: a missing sidecar costs one failed open
        return None
    return Sidecar.decode(raw)
