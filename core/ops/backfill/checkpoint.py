"""The resumable listing position: the last source key whose work, and all before it, is done.

Work completes out of order (a pool, retries), so the position is a
**low-water mark**: :class:`Watermark` advances only over a contiguous run of
completed keys. The file is small JSON, replaced atomically (temporary file,
fsync, rename, fsync of the directory), so a crash at any instant leaves the
previous checkpoint or the new one, never a torn one. Work after the mark that
had finished before a crash is not redone on resume either: the new plan finds
it current.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ConfigError

FORMAT_VERSION = 1
#: Seconds between two checkpoint writes (each is an fsync); a crash repeats at most this much work.
DEFAULT_INTERVAL = 1.0


@dataclass(frozen=True)
class Checkpoint:
    """The saved state of one backfill job.

    Attributes:
        job: What the run was: target, source, dest, prefix. A resume must match it.
        last_key: Every work item with a key up to and including this one is done.
        done: Work items completed up to ``last_key``, over all runs of the job.
        finished: The run reached the end of its plan.
        updated: When this was written (ISO 8601, UTC).
    """

    job: Mapping[str, str]
    last_key: str | None = None
    done: int = 0
    finished: bool = False
    updated: str = ""
    version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["job"] = dict(self.job)
        return data


def load_checkpoint(path: Path, *, job: Mapping[str, str]) -> Checkpoint | None:
    """Read the checkpoint at ``path`` (None if there is none).

    Raises:
        ConfigError: when the file is not a checkpoint, or belongs to another job.
    """
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable backfill checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or not isinstance(data.get("job"), dict):
        raise ConfigError(f"{path} is not a backfill checkpoint of this polythumb version")
    if data["job"] != dict(job):
        theirs = ", ".join(f"{k}={v!r}" for k, v in sorted(data["job"].items()))
        raise ConfigError(
            f"{path} belongs to another backfill ({theirs}); pass --checkpoint with another file, or drop --resume"
        )
    return Checkpoint(
        job=data["job"],
        last_key=data.get("last_key"),
        done=int(data.get("done", 0)),
        finished=bool(data.get("finished", False)),
        updated=str(data.get("updated", "")),
    )


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Replace ``path`` atomically with ``checkpoint``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(checkpoint.to_json(), handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_directory(path.parent)  # the rename itself must survive a power cut


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Watermark:
    """The low-water mark of completed work items, registered in strictly increasing key order."""

    def __init__(self) -> None:
        self._order: deque[tuple[int, str]] = deque()
        self._done: set[int] = set()
        self._next = 0
        self._last_registered: str | None = None
        self.low: str | None = None
        self.count = 0  # items at or below ``low``

    @property
    def in_flight(self) -> int:
        """Items registered and not yet below the mark."""
        return len(self._order)

    def register(self, key: str) -> int:
        """Note that the work item of ``key`` has started; returns its token for :meth:`complete`."""
        if self._last_registered is not None and key <= self._last_registered:
            raise ValueError(f"work items must come in increasing key order: {key!r} after {self._last_registered!r}")
        self._last_registered = key
        token = self._next
        self._next += 1
        self._order.append((token, key))
        return token

    def complete(self, token: int) -> None:
        """Mark one item done and advance the mark over every contiguous done item."""
        self._done.add(token)
        while self._order and self._order[0][0] in self._done:
            done, self.low = self._order.popleft()
            self._done.discard(done)
            self.count += 1


@dataclass
class CheckpointWriter:
    """Writes the watermark of a running job, at most every ``interval`` seconds.

    Args:
        path: The checkpoint file.
        job: The job's identity (see :class:`Checkpoint`).
        start: The checkpoint resumed from, if any.
        interval: Minimum seconds between writes.
        clock: Monotonic time source.
    """

    path: Path
    job: Mapping[str, str]
    start: Checkpoint | None = None
    interval: float = DEFAULT_INTERVAL
    clock: Callable[[], float] = time.monotonic
    _written: float = field(default=float("-inf"), init=False)
    _last: Checkpoint | None = field(default=None, init=False)

    def update(self, watermark: Watermark, *, force: bool = False) -> None:
        """Save the watermark if it moved and ``interval`` has passed (or ``force``)."""
        now = self.clock()
        if not force and now - self._written < self.interval:
            return
        checkpoint = self._checkpoint(watermark)
        if self._last is not None and replace(checkpoint, updated="") == replace(self._last, updated=""):
            return
        save_checkpoint(self.path, checkpoint)
        self._written, self._last = now, checkpoint

    def finish(self, watermark: Watermark, *, exhausted: bool = True) -> None:
        """Save the final state; ``finished`` when the plan was exhausted and every registered item is done."""
        checkpoint = self._checkpoint(watermark)
        save_checkpoint(self.path, replace(checkpoint, finished=exhausted and watermark.in_flight == 0))

    def _checkpoint(self, watermark: Watermark) -> Checkpoint:
        base_key = self.start.last_key if self.start else None
        base_done = self.start.done if self.start else 0
        return Checkpoint(
            job=self.job,
            last_key=watermark.low if watermark.low is not None else base_key,
            done=base_done + watermark.count,
            updated=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
