"""Finds the shared libraries Pillow has already loaded into this process, to call them through ctypes.

Pillow's wheels ship their codecs (LittleCMS, libwebp) under hashed file names
(``pillow.libs/libwebp-51b0b3f7.so.7.2.0``); once one of Pillow's extension
modules is imported, the library is mapped into this process and its file is
named in ``/proc/self/maps``. Opening that file again with ctypes gives the
same, already loaded library: nothing new is read from disk or downloaded.
"""

from __future__ import annotations


def loaded_library(stem: str) -> str | None:
    """The file of a shared library this process has mapped whose name starts with ``stem`` (Linux only)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip()
                if path.rpartition("/")[2].startswith(stem):
                    return path
    except OSError:  # no /proc: not Linux
        return None
    return None
