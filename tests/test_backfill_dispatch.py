"""The cloud fan-out driver with the reference MemorySink: batches, pace, retries, dead letter, resume.

Time is a fake clock the driver sleeps on, so rate limits and backoffs are
measured exactly and cost no wall time.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core import registry
from core.config import load_config
from core.errors import StorageUnavailable
from core.events import EventKind, ObjectEvent
from core.keys import Provenance
from core.ops.backfill.checkpoint import CheckpointWriter, load_checkpoint
from core.ops.backfill.cli import load_sink
from core.ops.backfill.deadletter import DeadLetterFile
from core.ops.backfill.dispatch import Dispatcher, DispatchOptions, SendFailure, SendResult, SinkRequest, WorkSink
from core.ops.backfill.memory_sink import MemorySink
from core.ops.backfill.orphans import delete_orphan
from core.ops.backfill.planner import PlanEntry, Planner, SourceStatus
from core.ops.backfill.ratelimit import TokenBucket
from core.ops.backfill.spool import Spool
from core.ops.cli import main
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.registry import ProviderSpec, ProviderUnavailable
from core.settings import Setting, Text
from core.storage import MemoryStorage, ObjectInfo, Storage
from tests.images import jpeg_bytes


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _entries(count: int, *, current: Sequence[int] = ()) -> list[PlanEntry]:
    entries = []
    for i in range(count):
        key = f"k{i:03}.jpg"
        status = SourceStatus.CURRENT if i in current else SourceStatus.MISSING
        outputs = () if i in current else (f"k{i:03}-1x1.jpg",)
        entries.append(PlanEntry(key, ObjectInfo(key=key, size=10 + i, etag=f"etag{i}"), status, outputs))
    return entries


def _keys(count: int) -> list[str]:
    return [f"k{i:03}.jpg" for i in range(count)]


def _fails(keys: set[str], *, until_attempt: int, retryable: bool = True) -> Any:
    def policy(event: ObjectEvent, attempt: int) -> SendFailure | None:
        if event.key in keys and attempt <= until_attempt:
            return SendFailure(0, "Throttled: slow down", retryable)
        return None

    return policy


# -- batching ------------------------------------------------------------------------------------------------


def test_batches_are_cut_at_the_sink_limit_and_items_without_work_are_not_sent() -> None:
    sink = MemorySink(max_batch_size=10)
    dispatcher = Dispatcher(sink, "photos", clock=FakeClock())
    summary = dispatcher.run(_entries(27, current=(3, 4)))

    assert [len(batch) for batch in sink.batches] == [10, 10, 5]
    assert [event.key for event in sink.delivered] == [k for i, k in enumerate(_keys(27)) if i not in (3, 4)]
    assert (summary.entries, summary.completed, summary.sent, summary.batches) == (27, 27, 25, 3)
    event = sink.delivered[0]
    assert (event.kind, event.bucket, event.key, event.etag, event.size) == (
        EventKind.CREATED, "photos", "k000.jpg", "etag0", 10,
    )  # fmt: skip
    assert event.event_id == _entries(1)[0].to_event("photos").event_id  # stable: consumers may de-duplicate


@pytest.mark.parametrize(("option", "sizes"), [(4, [4, 4, 4, 4, 4, 1]), (50, [10, 10, 1])])
def test_the_batch_option_is_capped_by_the_sink(option: int, sizes: list[int]) -> None:
    sink = MemorySink(max_batch_size=10)
    Dispatcher(sink, "photos", options=DispatchOptions(batch_size=option), clock=FakeClock()).run(_entries(21))
    assert [len(batch) for batch in sink.batches] == sizes


def test_a_sink_must_take_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        Dispatcher(MemorySink(max_batch_size=0), "photos")


# -- rate limit ------------------------------------------------------------------------------------------------


def test_the_rate_limit_holds_over_every_interval_on_a_fake_clock() -> None:
    clock = FakeClock()
    sink = MemorySink(max_batch_size=5, clock=clock.monotonic)
    options = DispatchOptions(rate=20.0)
    summary = Dispatcher(sink, "photos", options=options, clock=clock).run(_entries(100))

    assert len(sink.delivered) == 100
    # 5 items go at once (the burst), then 20 per second: 95 more items take 4.75 s.
    assert clock.now == pytest.approx(4.75)
    assert summary.rate_limited_seconds == pytest.approx(4.75)
    sent = 0
    for at, batch in zip(sink.sent_at, sink.batches, strict=True):
        sent += len(batch)
        assert sent <= 5 + 20.0 * at + 1e-9  # never ahead of the bucket
    for first, later in zip(sink.sent_at, sink.sent_at[1:], strict=False):
        assert later - first == pytest.approx(0.25)  # a batch of 5 every 0.25 s, evenly


def test_without_a_rate_nothing_waits() -> None:
    clock = FakeClock()
    Dispatcher(MemorySink(), "photos", clock=clock).run(_entries(50))
    assert clock.now == 0 and clock.sleeps == []


def test_token_bucket_refuses_more_than_its_burst() -> None:
    bucket = TokenBucket(10.0, burst=3, clock=FakeClock())
    with pytest.raises(ValueError, match=r"1\.\.3"):
        bucket.acquire(4)


# -- retries and the dead letter --------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_exponential_backoff_and_jitter(tmp_path: Path) -> None:
    clock = FakeClock()
    flaky = {k for i, k in enumerate(_keys(30)) if i % 7 == 0}  # 5 keys
    sink = MemorySink(max_batch_size=10, fail=_fails(flaky, until_attempt=3))
    options = DispatchOptions(max_attempts=5, base_delay=1.0, max_delay=30.0)
    draws = iter([0.0, 1.0, 0.5] * 10)
    summary = Dispatcher(sink, "photos", options=options, clock=clock, draw=lambda: next(draws)).run(_entries(30))

    assert sorted(event.key for event in sink.delivered) == _keys(30)  # each delivered exactly once
    assert all(sink.attempts[key] == 4 for key in flaky)
    assert summary.retries == 3 * len(flaky) and summary.dead_lettered == 0
    # Retry n waits between half and all of base * 2**(n-1): [0.5, 1], [1, 2], [2, 4].
    assert options.backoff(1, 0.0) == 0.5 and options.backoff(1, 1.0) == 1.0
    assert options.backoff(3, 0.5) == 3.0 and options.backoff(10, 1.0) == 30.0  # capped at max_delay
    assert clock.sleeps and all(0 < s <= 4.0 for s in clock.sleeps)
    assert clock.now >= 0.5 + 1.0 + 2.0  # three back-to-back backoffs, each at least half its ceiling


def test_items_that_keep_failing_go_to_the_dead_letter_file(tmp_path: Path) -> None:
    doomed = {"k003.jpg", "k011.jpg"}
    refused = {"k007.jpg"}
    policy_retry, policy_refuse = _fails(doomed, until_attempt=99), _fails(refused, until_attempt=99, retryable=False)
    sink = MemorySink(fail=lambda event, attempt: policy_retry(event, attempt) or policy_refuse(event, attempt))
    path = tmp_path / "dead.jsonl"
    options = DispatchOptions(max_attempts=3, base_delay=0.1)
    with DeadLetterFile(path) as dead_letter:
        summary = Dispatcher(sink, "photos", options=options, clock=FakeClock(), dead_letter=dead_letter).run(
            _entries(15)
        )

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["key"]: line["attempts"] for line in lines} == {"k003.jpg": 3, "k011.jpg": 3, "k007.jpg": 1}
    assert all(line["bucket"] == "photos" and line["reason"] == "Throttled: slow down" for line in lines)
    assert set(lines[0]) == {"time", "bucket", "key", "etag", "version", "attempts", "reason"}  # no payload
    assert summary.dead_lettered == 3 and summary.sent == 12 and summary.completed == 15


def test_a_batch_that_raises_a_transient_error_is_retried_whole() -> None:
    class Unreachable(MemorySink):
        calls: ClassVar[list[int]] = []

        def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
            self.calls.append(len(batch))
            if len(self.calls) == 2:
                raise StorageUnavailable("queue throttled (503)")
            if len(self.calls) == 3:
                raise ConnectionResetError("https://queue.example/secret-token reset")
            return super().send(batch)

    sink = Unreachable(max_batch_size=5)
    summary = Dispatcher(sink, "photos", clock=FakeClock(), draw=lambda: 0.5).run(_entries(12))

    assert sorted(event.key for event in sink.delivered) == _keys(12)
    # 5 + (5 failed) + (2 failed) + the 5 retried together + the 2 retried together.
    assert sink.calls == [5, 5, 2, 5, 2]
    assert summary.retries == 7 and summary.batches == 5


def test_an_sdk_error_message_never_reaches_the_dead_letter(tmp_path: Path) -> None:
    class Unreachable(MemorySink):
        def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
            raise ConnectionResetError("https://queue.example/q?sig=SECRET reset by peer")

    path = tmp_path / "dead.jsonl"
    with DeadLetterFile(path) as dead_letter:
        options = DispatchOptions(max_attempts=2, base_delay=0.01)
        Dispatcher(Unreachable(), "photos", options=options, clock=FakeClock(), dead_letter=dead_letter).run(
            _entries(3)
        )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["reason"] for line in lines] == ["ConnectionResetError (batch not delivered)"] * 3
    assert "SECRET" not in path.read_text()


def test_a_sink_that_breaks_stops_the_run_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    class Broken(MemorySink):
        def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
            if len(self.batches) == 2:
                raise RuntimeError("a bug in the sink")
            return super().send(batch)

    writer = CheckpointWriter(tmp_path / "ck.json", {"job": "x"}, clock=FakeClock().monotonic)
    with pytest.raises(RuntimeError, match="a bug"):
        Dispatcher(Broken(max_batch_size=4), "photos", clock=FakeClock(), checkpoint=writer).run(_entries(20))
    saved = load_checkpoint(tmp_path / "ck.json", job={"job": "x"})
    assert saved is not None and saved.last_key == "k007.jpg" and saved.done == 8 and not saved.finished


# -- checkpoint and resume --------------------------------------------------------------------------------------


def test_checkpoint_holds_the_low_water_mark_and_resume_sends_the_rest(tmp_path: Path) -> None:
    path, job = tmp_path / "ck.json", {"target": "test", "source": "photos"}
    entries = _entries(40)

    class CrashesOnFifthBatch(MemorySink):
        def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
            if len(self.batches) == 4:
                raise KeyboardInterrupt  # the operator pressed Ctrl-C
            return super().send(batch)

    # k005 fails once and waits for its retry while later batches are delivered.
    first = CrashesOnFifthBatch(max_batch_size=5, fail=_fails({"k005.jpg"}, until_attempt=1))
    options = DispatchOptions(base_delay=60.0)
    writer = CheckpointWriter(path, job, clock=FakeClock().monotonic)
    with pytest.raises(KeyboardInterrupt):
        Dispatcher(first, "photos", options=options, clock=FakeClock(), checkpoint=writer).run(entries)

    saved = load_checkpoint(path, job=job)
    assert saved is not None
    delivered = {event.key for event in first.delivered}
    assert "k005.jpg" not in delivered and "k019.jpg" in delivered
    assert (saved.last_key, saved.done, saved.finished) == ("k004.jpg", 5, False)  # not past the pending retry

    second = MemorySink(max_batch_size=5)
    resumed = CheckpointWriter(path, job, start=saved, clock=FakeClock().monotonic)
    rest = [entry for entry in entries if entry.key > str(saved.last_key)]  # what the plan yields with `after`
    Dispatcher(second, "photos", clock=FakeClock(), checkpoint=resumed).run(rest)

    assert [event.key for event in second.delivered] == _keys(40)[5:]  # at least once; nothing before the mark
    final = load_checkpoint(path, job=job)
    assert final is not None and (final.last_key, final.done, final.finished) == ("k039.jpg", 40, True)


# -- plan -> spool -> dispatch -> the pipeline consumes the items ---------------------------------------------


def test_dispatched_items_are_what_the_pipeline_needs_and_orphans_are_deleted_locally() -> None:
    source, thumbs = MemoryStorage("photos"), MemoryStorage("thumbs")
    stores: dict[str, Storage] = {"photos": source, "thumbs": thumbs}
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": "thumbs", "THUMBS_SIZES": "32x32,16x16"})
    thumbnailer = Thumbnailer(config, stores.__getitem__)
    for i in range(30):
        source.put(f"p/{i:02}.jpg", jpeg_bytes(64, 48), content_type="image/jpeg")
    for i in range(10):
        thumbnailer.handle(ObjectEvent.created("photos", f"p/{i:02}.jpg"))
    orphan_meta = Provenance("p/gone.jpg", "photos", "r", "32x32", "params").to_metadata()
    thumbs.put("p/gone-32x32.jpg", b"x", content_type="image/jpeg", metadata=orphan_meta)

    sink = MemorySink(max_batch_size=10)
    with Spool() as spool:
        for entry in Planner(source, thumbs, config).entries():
            if entry.needs_render or entry.orphans:
                spool.write(entry)
        summary = Dispatcher(
            sink,
            "photos",
            clock=FakeClock(),
            delete_orphan=lambda orphan: delete_orphan(orphan, source=source, dest=thumbs, config=config),
        ).run(spool)

    assert summary.sent == 20 and summary.orphans_deleted == 1
    for event in sink.delivered:  # the deployed function's part, played here by the same pipeline
        assert thumbnailer.handle(event).status is Status.OK
    statuses = {entry.key: entry.status for entry in Planner(source, thumbs, config).entries()}
    assert set(statuses.values()) == {SourceStatus.CURRENT} and len(statuses) == 30
    assert {info.key for info in thumbs.list()} == {
        output.key for i in range(30) for output in config.profiles.outputs_for(f"p/{i:02}.jpg")
    }


# -- the CLI and the provider contract ------------------------------------------------------------------------


FAKE = "fake"  # a provider written for this test, registered instead of the real ones


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A provider as a provider engineer would describe it (core.registry), over memory buckets."""
    buckets = {"photos": MemoryStorage("photos"), "thumbs": MemoryStorage("thumbs")}
    for i in range(12):
        buckets["photos"].put(f"in/{i:02}.jpg", jpeg_bytes(64, 48), content_type="image/jpeg")
    state = types.SimpleNamespace(buckets=buckets, request=None, sink=None)

    def make_sink(request: SinkRequest) -> WorkSink:
        state.request = request
        state.sink = MemorySink(max_batch_size=10)
        return state.sink  # type: ignore[no-any-return]

    module = types.ModuleType("fake_provider_backfill")
    module.make_sink = make_sink  # type: ignore[attr-defined]
    module.open_bucket = buckets.__getitem__  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    state.spec = ProviderSpec(
        name=FAKE, title="Fake cloud", extra="fake", open_bucket=f"{module.__name__}:open_bucket",
        backfill_sink=f"{module.__name__}:make_sink",
        operator_settings=(Setting("THUMBS_BACKFILL_QUEUE", Text("a queue name"), meaning="Where work goes."),),
    )  # fmt: skip
    monkeypatch.setattr(registry, "providers", lambda: {FAKE: state.spec})
    monkeypatch.setenv("THUMBS_BACKFILL_QUEUE", "thumbs-work")  # a provider setting: accepted, not "unknown"
    return state


def test_cli_cloud_target_calls_make_sink_with_the_documented_request(
    fake_provider: types.SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["backfill", "photos", "--target", FAKE, "--out", "thumbs", "--prefix", "in/", "--json", "--batch", "4",
         "--rate", "10000", "--workers", "8", "--sink-option", "queue_url=https://sqs.example/q",
         "--checkpoint", str(tmp_path / "ck.json"), "--sizes", "32x32"]
    )  # fmt: skip
    summary = json.loads(capsys.readouterr().out)

    assert status == 0
    request = fake_provider.request
    assert isinstance(request, SinkRequest)
    assert (request.target, request.src, request.dest, request.prefix, request.batch, request.rate) == (
        FAKE, "photos", "thumbs", "in/", 4, 10000.0,
    )  # fmt: skip
    assert request.workers == 8 and request.config.dest_bucket == "thumbs"
    assert request.sink_options == {"queue_url": "https://sqs.example/q"}
    assert [len(batch) for batch in fake_provider.sink.batches] == [4, 4, 4] and fake_provider.sink.closed
    assert {event.bucket for event in fake_provider.sink.delivered} == {"photos"}
    assert summary["mode"] == "dispatch" and summary["sent"] == 12 and summary["dead_lettered"] == 0
    assert json.loads((tmp_path / "ck.json").read_text())["last_key"] == "in/11.jpg"


def test_cli_cloud_target_without_a_sink_fails_clearly_but_dry_run_works(
    fake_provider: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    delattr(sys.modules["fake_provider_backfill"], "make_sink")
    status = main(["backfill", "photos", "--target", FAKE, "--out", "thumbs"])
    assert status == 2
    assert "fake_provider_backfill defines no make_sink" in capsys.readouterr().err

    assert main(["backfill", "photos", "--target", FAKE, "--out", "thumbs", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missing"] == 12

    no_sink = replace(fake_provider.spec, backfill_sink=None)
    monkeypatch.setattr(registry, "providers", lambda: {FAKE: no_sink})
    assert main(["backfill", "photos", "--target", FAKE, "--out", "thumbs"]) == 2
    assert "the Fake cloud provider offers no backfill_sink" in capsys.readouterr().err


def test_a_factory_must_return_a_work_sink(fake_provider: types.SimpleNamespace) -> None:
    setattr(sys.modules["fake_provider_backfill"], "make_sink", lambda request: object())  # noqa: B010
    request = SinkRequest(target=FAKE, src="photos", dest="thumbs", config=load_config({}))
    with pytest.raises(ProviderUnavailable, match="not a WorkSink"):
        load_sink(fake_provider.spec, request)


def test_send_each_reports_every_item_and_stops_on_the_first_stopping_failure() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from core.errors import ConfigError, PermissionDenied
    from core.ops.backfill.dispatch import send_each

    answers: dict[str, Any] = {"a": None, "b": ("throttled", True), "c": ("too large", False)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        result = send_each(pool, answers.__getitem__, ["a", "b", "c"])
        failed = (SendFailure(1, "throttled"), SendFailure(2, "too large", retryable=False))
        assert result == SendResult(accepted=(0,), failed=failed)
        tried: list[str] = []

        def send_one(item: str) -> Any:
            tried.append(item)
            return {"x": ConfigError("no queue"), "y": PermissionDenied("refused")}.get(item)

        with pytest.raises(ConfigError, match="no queue"):
            send_each(pool, send_one, ["ok", "x", "y"])
        assert sorted(tried) == ["ok", "x", "y"]  # every item was tried before the run stops


def test_a_sink_option_no_provider_documents_is_refused_naming_the_accepted_ones() -> None:
    from core.errors import ConfigError

    request = SinkRequest(target="cloud", src="s", dest="d", config=load_config({}), sink_options={"qeue": "q"})
    with pytest.raises(ConfigError, match=r"unknown --sink-option qeue for cloud; accepted: queue, workers"):
        request.checked_options(("queue", "workers"))
    assert replace(request, sink_options={"queue": "q"}).checked_options(["queue"]) == {"queue": "q"}
