"""An external sort for rows of strings: bounded memory for any number of rows.

Rows are kept in memory up to ``chunk_size``; beyond that each full chunk is
sorted and spilled to a temporary JSON-lines file (a "run"), and
:meth:`ExternalSorter.sorted` merges the runs lazily with :func:`heapq.merge`.
Memory is one chunk plus one buffered line per run: with the default chunk of
100 000 rows, ten million thumbnails make 100 runs and about 30 MB resident.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections.abc import Iterator
from typing import IO

from core.ops.backfill.closing import Closing

Row = tuple[str, ...]

DEFAULT_CHUNK_SIZE = 100_000


class ExternalSorter(Closing):
    """Collect rows, then read them back in tuple order.

    Args:
        chunk_size: Rows held in memory before a run is spilled to disk.
        directory: Where the runs go (default: the system temporary directory).
    """

    def __init__(
        self, *, chunk_size: int = DEFAULT_CHUNK_SIZE, directory: str | os.PathLike[str] | None = None
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._chunk_size = chunk_size
        self._directory = directory
        self._buffer: list[Row] = []
        self._runs: list[IO[str]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def runs(self) -> int:
        """Runs spilled to disk so far."""
        return len(self._runs)

    def add(self, row: Row) -> None:
        """Add one row."""
        self._buffer.append(row)
        self._count += 1
        if len(self._buffer) >= self._chunk_size:
            self._spill()

    def sorted(self) -> Iterator[Row]:
        """Every row added, in ascending tuple order (ties keep no particular order)."""
        self._buffer.sort()
        if not self._runs:
            yield from self._buffer
            return
        for run in self._runs:
            run.seek(0)
        yield from heapq.merge(self._buffer, *(_read_run(run) for run in self._runs))

    def close(self) -> None:
        """Delete the runs (temporary files also vanish on their own when the process ends)."""
        for run in self._runs:
            run.close()
        self._runs.clear()
        self._buffer.clear()

    def _spill(self) -> None:
        self._buffer.sort()
        # Held open until close(); TemporaryFile has no name on POSIX, so a crash leaves nothing behind.
        run = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self._directory)  # noqa: SIM115
        run.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in self._buffer)
        run.flush()
        self._runs.append(run)
        self._buffer = []


def _read_run(run: IO[str]) -> Iterator[Row]:
    for line in run:
        yield tuple(json.loads(line))
