"""``with`` support for the backfill's resources that have a ``close()``: the spool, the sorter's runs, the
dead-letter file."""

from __future__ import annotations

from typing import Self


class Closing:
    """A resource that a ``with`` block closes at its end, however the block ends."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the resource (each subclass says what that is)."""
        raise NotImplementedError
