"""The storage port: what the core needs from a bucket, and nothing more.

Each adapter (memory, filesystem, S3, GCS, Azure Blob) implements
:class:`Storage` for one bucket/container and translates its SDK's errors into
the vocabulary of :mod:`core.errors` at its edge.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.errors import NotFound


@dataclass(frozen=True)
class ObjectInfo:
    """What a backend knows about one stored object.

    Attributes:
        key: The object key, decoded (``"photos/red flower.jpg"``).
        size: Size in bytes.
        etag: The backend's entity tag without surrounding quotes.
        version: The provider's object version where it has one (S3 versionId,
            GCS generation); ``None`` elsewhere.
        content_type: MIME type, where known.
        cache_control: Cache-Control, where known.
        metadata: User metadata. Names are lower-case (S3 folds them).
        last_modified: Modification time, where known.
        copy_status: The state of a server-side copy into this object where the backend copies
            asynchronously (Azure Blob: ``pending``, ``success``, ``aborted``, ``failed``); ``None``
            where no copy is recorded, and on backends whose copies complete before they return
            (S3, GCS, filesystem, memory).
    """

    key: str
    size: int
    etag: str
    version: str | None = None
    content_type: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None
    copy_status: str | None = None

    @property
    def revision(self) -> str:
        """What identifies this content: the version if any, else the etag."""
        return self.version or self.etag


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes together with the info of exactly those bytes."""

    info: ObjectInfo
    body: bytes


@runtime_checkable
class Storage(Protocol):
    """One bucket or container.

    Contract (checked by ``tests/contract/test_storage_contract.py`` on every
    backend):

    * ``head``/``get`` of a missing key raise :class:`core.errors.NotFound`;
      lack of permission raises :class:`core.errors.PermissionDenied`, never
      NotFound.
    * ``put`` stores the body, content type, cache control and metadata
      atomically: a reader sees the old object or the new one, never a mix.
      ``if_none_match=True`` creates only (else
      :class:`core.errors.AlreadyExists`); ``if_match=etag_or_version`` replaces
      only that revision (else :class:`core.errors.PreconditionFailed`).
    * ``delete`` is idempotent: a missing key is not an error.
    * ``list`` yields every object under ``prefix`` in key order, paging
      transparently. ``content_type`` and ``metadata`` may be absent from
      listed records (S3 does not return them).
    * ``head`` reports ``copy_status`` where a copy into the object may still be running (Azure);
      an object written by ``put`` has ``copy_status`` ``None`` on every backend.
    * Throttling, timeouts and 5xx raise :class:`core.errors.StorageUnavailable`.
    """

    @property
    def bucket(self) -> str:
        """The bucket/container (or, locally, the root) this store is bound to."""
        ...

    def head(self, key: str) -> ObjectInfo:
        """Return the object's info without its body."""
        ...

    def get(self, key: str) -> StoredObject:
        """Return the object's body and the info of those exact bytes."""
        ...

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
        """Store ``body`` under ``key`` and return the new object's info."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; succeed when it is already absent."""
        ...

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Yield the objects whose keys start with ``prefix``, in key order."""
        ...


def head_or_none(store: Storage, key: str) -> ObjectInfo | None:
    """``store.head(key)``, or None when there is no such object (every other error is raised)."""
    try:
        return store.head(key)
    except NotFound:
        return None
