"""Listed sources that map to one output key, found while planning (``polythumb backfill --dry-run``).

An output belongs to one source (:mod:`core.ownership`): of two sources sharing a key, the first rendered
owns it and the other fails with ``output_conflict``. The planner hands every selected source's output keys
(thumbnails and manifest) to a :class:`CollisionFinder`; the claims are sorted by output key with bounded
memory (an :class:`~core.ops.backfill.sorting.ExternalSorter`) and keys claimed twice are reported.
``polythumb config`` says which templates *can* collide (:mod:`core.ops.collisions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

from core.ops.backfill.sorting import DEFAULT_CHUNK_SIZE, ExternalSorter


@dataclass(frozen=True)
class Collision:
    """One output key that several listed sources map to."""

    key: str
    sources: tuple[str, ...]  # in key order

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {"key": self.key, "sources": list(self.sources)}


class CollisionFinder:
    """Collect ``(output key, source key)`` claims, then find the keys claimed by more than one source.

    Args:
        sample: Collisions kept for the report (all are counted).
        chunk_size: Claims held in memory before a sorted run is spilled to disk.
    """

    def __init__(self, *, sample: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._claims = ExternalSorter(chunk_size=chunk_size)
        self._sample = sample
        self.count = 0
        self.samples: list[Collision] = []

    def __enter__(self) -> CollisionFinder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._claims.close()

    def claim(self, source_key: str, output_keys: Iterable[str]) -> None:
        """Record that ``source_key`` writes ``output_keys``."""
        for key in output_keys:
            self._claims.add((key, source_key))

    def find(self) -> None:
        """Walk the claims in output key order; count (and sample) each key with two or more sources."""
        current: str | None = None
        sources: list[str] = []
        for key, source in self._claims.sorted():
            if key != current:
                self._settle(current, sources)
                current, sources = key, []
            if source not in sources:
                sources.append(source)
        self._settle(current, sources)

    def _settle(self, key: str | None, sources: list[str]) -> None:
        if key is None or len(sources) < 2:
            return
        self.count += 1
        if len(self.samples) < self._sample:
            self.samples.append(Collision(key, tuple(sorted(sources))))
