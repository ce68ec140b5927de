"""Storage port and the embedded backends (memory, filesystem).

The backends load on first use: a cloud function imports this package for the port alone, and the
filesystem backend (with its sidecars, tree walk and locks) would cost its cold start a few milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.storage.port import ObjectInfo, Storage, StoredObject

if TYPE_CHECKING:
    from core.storage.filesystem import FilesystemStorage
    from core.storage.memory import MemoryStorage

__all__ = ["FilesystemStorage", "MemoryStorage", "ObjectInfo", "Storage", "StoredObject"]


def __getattr__(name: str) -> Any:
    if name == "FilesystemStorage":
        from core.storage.filesystem import FilesystemStorage

        return FilesystemStorage
    if name == "MemoryStorage":
        from core.storage.memory import MemoryStorage

        return MemoryStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
