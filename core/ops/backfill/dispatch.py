"""Cloud mode: hand the plan's work items to the cloud's own engine, through a provider's sink.

The laptop only lists, compares and enqueues; the deployed function renders,
and the platform's autoscaling sets the pace. This module is the
provider-neutral driver: it **batches** work items (up to the sink's
``max_batch_size``, or ``--batch``), **rate-limits** them (a token bucket,
``--rate`` items per second), **retries** failed items with exponential
backoff and jitter (``max_attempts`` in all), writes items that keep failing
to a **dead-letter** JSON-lines file, and **checkpoints** the low-water mark of
completed source keys exactly as local mode does. Orphans are not fanned out
(deleting one is a cheap metadata call, not a render): with
``--delete-orphans`` the driver deletes them itself, after checking each again.

Provider contract (``polythumb backfill --target <provider>``)
---------------------------------------------------------------
The CLI finds the provider in :mod:`core.registry` and calls its descriptor's ``backfill_sink`` factory::

    def make_sink(request: SinkRequest) -> WorkSink

with a :class:`SinkRequest` (what to send, already validated). The descriptor's ``open_bucket`` opens SRC
and DEST for planning, and its ``function_settings`` and ``operator_settings`` declare the ``THUMBS_*``
variables the sink reads, so :func:`core.config.load_config` validates them at start instead of rejecting them.

``make_sink`` raises :class:`core.errors.ConfigError` naming what is missing
(a queue URL, an endpoint), and ``ImportError`` naming the extra to install
when the SDK is absent. The sink it returns must:

* expose ``max_batch_size`` -- the most items one :meth:`WorkSink.send` takes
  (SQS ``SendMessageBatch``: 10; a Storage Queue or an HTTP endpoint: any size
  the sink can deliver in parallel);
* in ``send(batch)``, deliver each :class:`core.events.ObjectEvent` (a
  ``created`` event with bucket, key, size, etag, version and a stable
  ``event_id``) in the shape the deployed function already consumes -- AWS: an
  S3 event notification record in the SQS message body, with the key
  URL-encoded as S3 encodes it (the handler decodes it exactly once); Azure: a
  Storage Queue message for a queue-triggered function of the same app; GCP: a
  ``google.cloud.storage.object.v1.finalized`` CloudEvent posted to the
  function's URL (or published to its Pub/Sub topic) -- and return a
  :class:`SendResult` that places **every** batch index in ``accepted`` or
  ``failed``. A per-item failure is a :class:`SendFailure`, ``retryable=False``
  when resending cannot help (message too large, refused as malformed); those
  go to the dead letter at once. An exception means the whole batch failed:
  :class:`core.errors.TransientError` or ``OSError`` (throttled, timed out,
  unreachable) is retried; anything else stops the run (a bug or a
  misconfiguration), the checkpoint keeping everything completed so far;
* implement ``close()`` to release its clients;
* never log or put into a reason a message body, a credential, a connection
  string or a signed URL.

Delivery is at least once: an item in flight when the CLI dies is sent again
on resume, and the pipeline's idempotency makes the repeat a no-op.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from core.config import Config
from core.errors import ConfigError, PolythumbError, TransientError
from core.events import ObjectEvent
from core.ops.backfill.checkpoint import CheckpointWriter, Watermark
from core.ops.backfill.deadletter import DeadLetterFile
from core.ops.backfill.orphans import OrphanAction
from core.ops.backfill.planner import Orphan, PlanEntry
from core.ops.backfill.ratelimit import Clock, SystemClock, TokenBucket
from core.ops.backfill.report import RunCounts


@dataclass(frozen=True)
class SinkRequest:
    """What ``polythumb backfill --target <provider>`` asks a provider's sink factory for.

    Attributes:
        target: The provider's name.
        src: The source bucket (container) name.
        dest: The destination bucket, resolved (``--out``, else ``THUMBS_DEST_BUCKET``, else ``src``).
        config: The validated settings.
        prefix: The source prefix being backfilled.
        batch: ``--batch``, already enforced by the driver (a sink need not batch further).
        rate: ``--rate`` in items per second, already enforced by the driver (a sink need not rate-limit).
        workers: ``--workers``, a concurrency hint for sinks that deliver a batch's items in parallel.
        sink_options: The ``--sink-option KEY=VALUE`` pairs, whose keys each provider defines and documents.
    """

    target: str
    src: str
    dest: str
    config: Config
    prefix: str = ""
    batch: int | None = None
    rate: float | None = None
    workers: int | None = None
    sink_options: Mapping[str, str] = field(default_factory=dict)

    def checked_options(self, accepted: Iterable[str]) -> Mapping[str, str]:
        """The ``--sink-option`` pairs, once every key is one the provider ``accepted`` (documents).

        Raises:
            ConfigError: a key it does not know, naming the ones it does (a typo must not be ignored).
        """
        known = tuple(accepted)
        unknown = sorted(set(self.sink_options) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown --sink-option {', '.join(unknown)} for {self.target}; accepted: {', '.join(known)}"
            )
        return self.sink_options


@dataclass(frozen=True)
class SendFailure:
    """One item of a batch that the sink could not deliver.

    Attributes:
        index: Its position in the batch given to :meth:`WorkSink.send`.
        reason: Short and safe to log (an error code and message, never a payload).
        retryable: False when sending it again cannot succeed.
    """

    index: int
    reason: str
    retryable: bool = True


@dataclass(frozen=True)
class SendResult:
    """What became of a batch: every index is in ``accepted`` or in ``failed``."""

    accepted: tuple[int, ...] = ()
    failed: tuple[SendFailure, ...] = ()

    @classmethod
    def all_accepted(cls, size: int) -> SendResult:
        """Every item of a batch of ``size`` was delivered."""
        return cls(accepted=tuple(range(size)))

    @classmethod
    def with_failures(cls, size: int, failures: Iterable[SendFailure]) -> SendResult:
        """The items not named in ``failures`` were delivered."""
        failed = tuple(failures)
        names = {failure.index for failure in failed}
        return cls(accepted=tuple(i for i in range(size) if i not in names), failed=failed)


#: What became of one item that a sink sends in a request of its own: None, delivered; ``(reason, retryable)``,
#: failed; an exception, a failure that must stop the run (a missing queue, a refused credential).
ItemOutcome = tuple[str, bool] | Exception | None

T = TypeVar("T")


def send_each(pool: Executor, send_one: Callable[[T], ItemOutcome], items: Sequence[T]) -> SendResult:
    """Send every item with ``send_one`` on ``pool`` (a sink whose service takes one item per request).

    Raises:
        Exception: the first item's stopping exception, once every item has been tried (resending cannot help).
    """
    outcomes = list(pool.map(send_one, items))
    stopping = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    if stopping:
        raise stopping[0]
    failures = [
        SendFailure(index, outcome[0], retryable=outcome[1])
        for index, outcome in enumerate(outcomes)
        if isinstance(outcome, tuple)
    ]
    return SendResult.with_failures(len(items), failures)


@runtime_checkable
class WorkSink(Protocol):
    """Delivers work items to a cloud's queue or endpoint (see the module docstring for the contract)."""

    @property
    def max_batch_size(self) -> int:
        """The most items one :meth:`send` accepts."""
        ...

    def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
        """Deliver ``batch``; report each item as accepted or failed."""
        ...

    def close(self) -> None:
        """Release clients and connections."""
        ...


@dataclass(frozen=True)
class DispatchOptions:
    """How the driver paces and retries.

    Attributes:
        batch_size: Items per send (capped by the sink's ``max_batch_size``); None uses the sink's.
        rate: Items per second on average; None is unlimited.
        max_attempts: Sends of one item before it goes to the dead letter.
        base_delay: Backoff of the first retry, in seconds (doubling per attempt, with jitter).
        max_delay: Backoff ceiling, in seconds.
        backlog: Items waiting for a retry before no new items are taken (default: 10 batches).
    """

    batch_size: int | None = None
    rate: float | None = None
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    backlog: int | None = None

    def backoff(self, attempts: int, draw: float) -> float:
        """Seconds before retry number ``attempts`` ("equal jitter": half fixed, half random, never zero)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempts - 1))
        return ceiling / 2 + draw * ceiling / 2


@dataclass
class DispatchSummary(RunCounts):
    """Counts of one dispatch run."""

    entries: int = 0
    completed: int = 0
    sent: int = 0
    batches: int = 0
    retries: int = 0
    dead_lettered: int = 0
    orphans_deleted: int = 0
    orphans_kept: int = 0
    orphan_failures: int = 0
    rate_limited_seconds: float = 0.0
    seconds: float = 0.0

    def describe(self) -> str:
        """One human line."""
        return (
            f"{self.sent} work items sent in {self.batches} batches ({self.retries} retries, "
            f"{self.dead_lettered} dead-lettered), {self.orphans_deleted} orphans deleted in {self.seconds:.2f} s"
        )


@dataclass
class _Item:
    event: ObjectEvent
    token: int
    attempts: int = 0


@dataclass
class Dispatcher:
    """Drives plan entries into a :class:`WorkSink`. Single-threaded: sinks parallelise inside ``send``.

    Args:
        sink: Where work items go.
        source_bucket: The bucket the work items name.
        options: Batching, pacing and retries.
        clock: Time source for the rate limit and the backoff (a fake one in tests).
        draw: Random numbers in [0, 1) for the jitter.
        dead_letter: Where items go after their last attempt; None only counts them.
        checkpoint: Where the low-water mark is saved; None keeps no checkpoint.
        delete_orphan: Called for each orphan of each entry (None leaves orphans alone).
        on_progress: Called after each completed entry (sent, dead-lettered or without work) with the counts.
    """

    sink: WorkSink
    source_bucket: str
    options: DispatchOptions = field(default_factory=DispatchOptions)
    clock: Clock = field(default_factory=SystemClock)
    draw: Callable[[], float] = random.random
    dead_letter: DeadLetterFile | None = None
    checkpoint: CheckpointWriter | None = None
    delete_orphan: Callable[[Orphan], OrphanAction] | None = None
    on_progress: Callable[[DispatchSummary], None] | None = None
    summary: DispatchSummary = field(default_factory=DispatchSummary, init=False)
    _watermark: Watermark = field(default_factory=Watermark, init=False)

    def __post_init__(self) -> None:
        limit = self.sink.max_batch_size
        if limit < 1:
            raise ValueError(f"{type(self.sink).__name__}.max_batch_size must be at least 1, not {limit}")
        self.batch_size = min(self.options.batch_size or limit, limit)
        if self.batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        if self.options.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._bucket = TokenBucket(self.options.rate, burst=self.batch_size, clock=self.clock)
        self._backlog = self.options.backlog or 10 * self.batch_size

    def run(self, entries: Iterable[PlanEntry]) -> DispatchSummary:
        """Send every entry that needs a render; return the counts. Entries come in increasing key order."""
        started = time.perf_counter()
        pending = iter(entries)
        exhausted = False
        retries: list[tuple[float, int, _Item]] = []  # (ready at, tie-breaker, item)
        order = itertools.count()
        try:
            while True:
                now = self.clock.monotonic()
                batch: list[_Item] = []
                while retries and retries[0][0] <= now and len(batch) < self.batch_size:
                    batch.append(heapq.heappop(retries)[2])
                while len(batch) < self.batch_size and not exhausted and len(retries) < self._backlog:
                    entry = next(pending, None)
                    if entry is None:
                        exhausted = True
                    elif (item := self._start(entry)) is not None:
                        batch.append(item)
                if batch:
                    for item, delay in self._send(batch):
                        heapq.heappush(retries, (self.clock.monotonic() + delay, next(order), item))
                elif retries:
                    self.clock.sleep(max(0.0, retries[0][0] - now))
                else:
                    break
        finally:
            if self.checkpoint is not None:
                self.checkpoint.update(self._watermark, force=True)
        if self.checkpoint is not None:
            self.checkpoint.finish(self._watermark)
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _start(self, entry: PlanEntry) -> _Item | None:
        """Register an entry, delete its orphans; return its work item, or None when it is already done."""
        token = self._watermark.register(entry.key)
        self.summary.entries += 1
        if self.delete_orphan is not None:
            for orphan in entry.orphans:
                try:
                    action = self.delete_orphan(orphan)
                except PolythumbError:
                    self.summary.orphan_failures += 1
                    continue
                self.summary.orphans_deleted += action is OrphanAction.DELETED
                self.summary.orphans_kept += action is OrphanAction.KEPT
        if entry.needs_render:
            return _Item(entry.to_event(self.source_bucket), token)
        self._complete(token)
        return None

    def _send(self, batch: list[_Item]) -> list[tuple[_Item, float]]:
        """Send one batch; return the items to retry with their delays."""
        self.summary.rate_limited_seconds += self._bucket.acquire(len(batch))
        try:
            result = self.sink.send([item.event for item in batch])
        except TransientError as exc:
            result = _all_failed(len(batch), f"[{exc.kind}] {exc}")
        except OSError as exc:  # SDK messages may quote endpoints: keep only the type
            result = _all_failed(len(batch), f"{type(exc).__name__} (batch not delivered)")
        self.summary.batches += 1
        failures = {failure.index: failure for failure in result.failed}
        accepted = set(result.accepted)
        retry: list[tuple[_Item, float]] = []
        # One jitter draw per batch and attempt count: items that failed together come back together,
        # so retries still travel in full batches (SQS bills per request, not per message).
        delays: dict[int, float] = {}
        for index, item in enumerate(batch):
            item.attempts += 1
            failure = failures.get(index)
            if failure is None and index not in accepted:
                failure = SendFailure(index, "the sink reported no result for this item")
            if failure is None:
                self.summary.sent += 1
                self._complete(item.token)
            elif failure.retryable and item.attempts < self.options.max_attempts:
                self.summary.retries += 1
                if item.attempts not in delays:
                    delays[item.attempts] = self.options.backoff(item.attempts, self.draw())
                retry.append((item, delays[item.attempts]))
            else:
                if self.dead_letter is not None:
                    self.dead_letter.record(item.event, attempts=item.attempts, reason=failure.reason)
                self.summary.dead_lettered += 1
                self._complete(item.token)
        return retry

    def _complete(self, token: int) -> None:
        self.summary.completed += 1
        self._watermark.complete(token)
        if self.checkpoint is not None:
            self.checkpoint.update(self._watermark)
        if self.on_progress is not None:
            self.on_progress(self.summary)


def _all_failed(size: int, reason: str) -> SendResult:
    return SendResult(failed=tuple(SendFailure(index, reason) for index in range(size)))
