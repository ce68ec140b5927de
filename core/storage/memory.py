"""An in-memory backend: the reference implementation of the port, for tests."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from core.errors import AlreadyExists, NotFound, PreconditionFailed
from core.storage.port import ObjectInfo, StoredObject
from core.storage.validation import check_key


class MemoryStorage:
    """A bucket held in a dict. Thread-safe; conditional writes are exact."""

    def __init__(self, bucket: str = "memory") -> None:
        self._bucket = bucket
        self._objects: dict[str, StoredObject] = {}
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    def head(self, key: str) -> ObjectInfo:
        return self.get(key).info

    def get(self, key: str) -> StoredObject:
        check_key(key)
        with self._lock:
            stored = self._objects.get(key)
        if stored is None:
            raise NotFound(f"{self._bucket}/{key}: no such object")
        return stored

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
        check_key(key)
        info = ObjectInfo(
            key=key,
            size=len(body),
            etag=hashlib.md5(body, usedforsecurity=False).hexdigest(),
            content_type=content_type,
            cache_control=cache_control,
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
            last_modified=datetime.now(UTC),
        )
        with self._lock:
            current = self._objects.get(key)
            if if_none_match and current is not None:
                raise AlreadyExists(f"{self._bucket}/{key} already exists")
            if if_match is not None and (current is None or current.info.revision != if_match):
                raise PreconditionFailed(f"{self._bucket}/{key} is not at revision {if_match}")
            self._objects[key] = StoredObject(info=info, body=bytes(body))
        return info

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        with self._lock:
            infos = [s.info for k, s in self._objects.items() if k.startswith(prefix)]
        yield from sorted(infos, key=lambda info: info.key)
