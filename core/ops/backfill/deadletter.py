"""The dead-letter file: work items that could not be handed to the cloud, one JSON line each.

A line names the item (bucket, key, revision), how many attempts were made
and the sink's last reason; never a message body or a credential. Replaying
is a matter of running the backfill again: the plan finds these sources still
missing.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from core.events import ObjectEvent
from core.ops.backfill.closing import Closing


class DeadLetterFile(Closing):
    """Appends dead-lettered items to a JSON-lines file (created on the first item)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: TextIO | None = None  # opened lazily: a clean run leaves no empty file

    def record(self, event: ObjectEvent, *, attempts: int, reason: str) -> None:
        """Append one item and flush it (a crash right after must not lose it)."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        line = {
            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "bucket": event.bucket,
            "key": event.key,
            "etag": event.etag,
            "version": event.version,
            "attempts": attempts,
            "reason": reason,
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        """Sync and close the file."""
        if self._file is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
