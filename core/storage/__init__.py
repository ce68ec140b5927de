"""Storage port and the embedded backends (memory, filesystem)."""

from __future__ import annotations

from core.storage.filesystem import FilesystemStorage
from core.storage.memory import MemoryStorage
from core.storage.port import ObjectInfo, Storage, StoredObject

__all__ = ["FilesystemStorage", "MemoryStorage", "ObjectInfo", "Storage", "StoredObject"]
