"""The one process pool of the local runs (``polythumb run`` and ``polythumb backfill --target local``).

Each worker process builds its worker once (``make_worker()``: a runtime, its stores) and reuses it for every
item; at most ``in_flight_per_worker x workers`` items are submitted at a time, so memory stays flat whatever
the number of items; results come back as they complete.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Items in flight per worker process: enough to keep every worker busy, few enough to bound memory.
IN_FLIGHT_PER_WORKER = 2

_WORKER: dict[str, Callable[[Any], Any]] = {}  # the worker process's one worker


def imap_unordered(
    items: Iterable[Item],
    make_worker: Callable[[], Callable[[Item], Result]],
    *,
    workers: int,
    in_flight_per_worker: int = IN_FLIGHT_PER_WORKER,
) -> Iterator[tuple[Item, Result]]:
    """``(item, worker(item))`` for every item, in completion order; in this process when ``workers <= 1``.

    Args:
        items: The work; consumed lazily.
        make_worker: Builds a worker in each process; must pickle (a module-level class or a partial of one)
            where processes start fresh (forkserver, spawn).
        workers: Processes.
        in_flight_per_worker: Items submitted per process before waiting for one to complete.
    """
    if workers <= 1:
        work = make_worker()
        for item in items:
            yield item, work(item)
        return
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=start_context(), initializer=_init_worker, initargs=(make_worker,)
    ) as pool:
        in_flight: dict[Future[Result], Item] = {}
        for item in items:
            in_flight[pool.submit(_call_worker, item)] = item
            while len(in_flight) >= in_flight_per_worker * workers:
                yield from _completed(in_flight)
        while in_flight:
            yield from _completed(in_flight)


def start_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: fork where it is safe, else forkserver (else spawn).

    fork starts workers in milliseconds (Linux). But once libvips (the ``fast`` engine) has started its thread
    pool in this process, a forked child cannot use it (the threads do not survive fork; core.imaging falls
    back to Pillow there). The CLI never renders before forking; a caller that did (a test, a notebook) gets
    forkserver workers, fresh processes that keep the fast engine.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and "pyvips" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _completed(in_flight: dict[Future[Result], Item]) -> Iterator[tuple[Item, Result]]:
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    for future in done:
        yield in_flight.pop(future), future.result()


def _init_worker(make_worker: Callable[[], Callable[[Any], Any]]) -> None:
    _WORKER["worker"] = make_worker()


def _call_worker(item: Any) -> Any:
    return _WORKER["worker"](item)
