"""Interleaved timing: every case of one input runs once per round, rounds repeat, medians are reported.

On a shared, noisy machine a burst of background load hits whichever case is
running; round-robin spreads it over all of them instead of ruining one, and
rotating the order each round keeps any case from always following the same
neighbour (warm caches, freed memory). At least ``repeats`` rounds run, and
more while a time budget lasts (cheap inputs get more rounds, so their
medians settle). Wall time is the figure reported; CPU time (all threads of
this process) is kept too: it is far less sensitive to other load, so it
tells a real difference from noise. A case run in another process (the sharp
peer, the deployed packages) returns a :class:`SelfTimed` with the seconds
that process measured around its own work.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: No input gets more rounds than this, whatever the budget.
MAX_ROUNDS = 31


@dataclass(frozen=True)
class SelfTimed:
    """What a case run in another process returns: its outputs and the seconds that process measured."""

    outputs: list[bytes]
    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds of each round of one case."""

    runs: tuple[float, ...]
    cpu: tuple[float, ...] = ()

    @property
    def median_ms(self) -> float:
        """Median wall time in milliseconds."""
        return statistics.median(self.runs) * 1000

    @property
    def min_ms(self) -> float:
        """Fastest round in milliseconds."""
        return min(self.runs) * 1000

    @property
    def cpu_median_ms(self) -> float:
        """Median CPU time in milliseconds."""
        return statistics.median(self.cpu) * 1000 if self.cpu else float("nan")


def interleaved(
    cases: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 1, budget_s: float = 0.0
) -> dict[str, Timing]:
    """Times every case round-robin: ``repeats`` rounds, then more until ``budget_s`` is spent."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    runs: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    round_index = 0
    while round_index < repeats or (time.perf_counter() - started < budget_s and round_index < MAX_ROUNDS):
        shift = round_index % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            gc.collect()  # garbage of the previous case is not this case's cost
            wall, processor = time.perf_counter(), time.process_time()
            result = cases[name]()
            if isinstance(result, SelfTimed):
                cpu[name].append(result.cpu_s)
                runs[name].append(result.wall_s)
                continue
            cpu[name].append(time.process_time() - processor)
            runs[name].append(time.perf_counter() - wall)
        round_index += 1
    return {name: Timing(tuple(runs[name]), tuple(cpu[name])) for name in names}


def summed(timings: Mapping[str, Timing], names: list[str]) -> Timing:
    """Round-by-round sum of several cases (e.g. the seed run once per size)."""
    walls = zip(*(timings[name].runs for name in names), strict=True)
    cpus = zip(*(timings[name].cpu for name in names), strict=True)
    return Timing(tuple(sum(values) for values in walls), tuple(sum(values) for values in cpus))
