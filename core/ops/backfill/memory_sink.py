"""The reference :class:`core.ops.backfill.dispatch.WorkSink`: it keeps what it is sent.

Tests use it to watch the driver (batch sizes, timing on a fake clock,
retries); provider engineers can read it as the smallest correct sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.events import ObjectEvent
from core.ops.backfill.dispatch import SendFailure, SendResult

#: Decides the fate of one delivery attempt: None accepts it, a SendFailure refuses it.
FailurePolicy = Callable[[ObjectEvent, int], SendFailure | None]


@dataclass
class MemorySink:
    """Collects delivered events in order.

    Args:
        max_batch_size: The largest batch it accepts.
        fail: Called as ``fail(event, attempt)`` (attempt counts from 1 per key);
            returning a :class:`SendFailure` (its ``index`` is ignored) refuses the item.
        clock: When given, the time of each batch is recorded in ``sent_at``.
    """

    max_batch_size: int = 10
    fail: FailurePolicy | None = None
    clock: Callable[[], float] | None = None
    delivered: list[ObjectEvent] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    closed: bool = False

    def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
        if not 1 <= len(batch) <= self.max_batch_size:
            raise ValueError(f"batch of {len(batch)} items; this sink takes 1..{self.max_batch_size}")
        self.batches.append([event.key for event in batch])
        if self.clock is not None:
            self.sent_at.append(self.clock())
        failures: list[SendFailure] = []
        for index, event in enumerate(batch):
            attempt = self.attempts[event.key] = self.attempts.get(event.key, 0) + 1
            refusal = self.fail(event, attempt) if self.fail is not None else None
            if refusal is None:
                self.delivered.append(event)
            else:
                failures.append(SendFailure(index, refusal.reason, refusal.retryable))
        return SendResult.with_failures(len(batch), failures)

    def close(self) -> None:
        self.closed = True
