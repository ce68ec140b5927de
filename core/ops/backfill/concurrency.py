"""An order-preserving, bounded thread-pool map for I/O such as ``head`` requests.

Results come back in input order, so a caller merging sorted streams can keep
merging; at most ``window`` items are in flight, so a listing of millions of
keys never becomes millions of futures.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads for metadata requests. Heads are latency-bound (~10-50 ms each on a cloud), not CPU-bound.
DEFAULT_IO_WORKERS = 16


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = DEFAULT_IO_WORKERS,
    window: int | None = None,
    inline: Callable[[T], bool] | None = None,
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in input order, computed on a bounded thread pool.

    Args:
        fn: The function; an exception it raises is re-raised here, at that item's turn.
        items: Consumed lazily, never more than ``window`` ahead of the caller.
        workers: Threads (1 runs everything inline).
        window: Items in flight at most (default: 4 x workers).
        inline: Items for which this returns True are computed in the calling
            thread (they need no I/O), saving a thread hop per item.
    """
    if workers <= 1:
        yield from (fn(item) for item in items)
        return
    limit = window or workers * 4
    pending: deque[Future[R] | tuple[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="polythumb-io") as pool:
        try:
            for item in items:
                pending.append((fn(item),) if inline is not None and inline(item) else pool.submit(fn, item))
                while len(pending) >= limit:
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        finally:
            for entry in pending:  # the caller stopped early: do not run what is still queued
                if isinstance(entry, Future):
                    entry.cancel()


def _result(entry: Future[R] | tuple[R]) -> R:
    return entry[0] if isinstance(entry, tuple) else entry.result()
