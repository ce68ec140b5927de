"""The plan's work items on disk: execution knows its total up front and memory stays flat.

Planning (list, head, merge) finishes before the first render starts, so the
progress bar has an exact total and the dry run's numbers are printed first.
The items wait in an unnamed temporary file (one JSON line each, ~150 bytes:
about 1.5 GB for ten million), never in a list.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator

from core.ops.backfill.closing import Closing
from core.ops.backfill.planner import PlanEntry


class Spool(Closing):
    """Write :class:`PlanEntry` items once, then read them back in the same order (repeatably)."""

    def __init__(self, *, directory: str | os.PathLike[str] | None = None) -> None:
        # Held open until close(); unnamed on POSIX, so nothing is left behind, even after SIGKILL.
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", dir=directory)  # noqa: SIM115
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def write(self, entry: PlanEntry) -> None:
        """Append one entry."""
        self._file.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
        self._count += 1

    def __iter__(self) -> Iterator[PlanEntry]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield PlanEntry.from_json(json.loads(line))
        self._file.seek(0, os.SEEK_END)

    def close(self) -> None:
        """Discard the items."""
        self._file.close()
