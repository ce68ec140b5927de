"""The local rig: the embedded default (no cloud), for every shared suite (see :mod:`tests.rigs`).

* storage: ``memory`` and ``filesystem``, the two local backends of the port;
* end to end: a directory watched by :func:`core.ops.runner.watch_events` (the poller behind
  ``polythumb watch``), each event handled by :func:`core.ops.runner.handle_safely` on FilesystemStorage;
* backfill: ``polythumb backfill`` with the local target, rendering in its own process pool.

There is no fault rig (no network between the function and its storage) and no SDK below the port.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, load_config
from core.events import EventKind, ObjectEvent
from core.storage import FilesystemStorage, MemoryStorage
from tests.contract.raw import RequestLog
from tests.images import encode, gradient
from tests.rigs.base import EVENT_TIMEOUT, SETTINGS, DeliveryReport, EntrypointRig

NAME = "local"
STORES = ("memory", "filesystem")
REQUIRES: tuple[str, ...] = ()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def memory_store() -> MemoryStorage:
    return MemoryStorage("memory-bucket")


@pytest.fixture
def filesystem_store(tmp_path: Path) -> FilesystemStorage:
    return FilesystemStorage(tmp_path / "bucket")


# -- end to end -----------------------------------------------------------------------------------


# -- local -------------------------------------------------------------------------------------


class Entrypoint(EntrypointRig):
    """``polythumb watch``: the poller's events, handled as the watch loop handles them."""

    name = NAME

    def __init__(self, root: Path, *, in_place: bool, extra: Mapping[str, str] | None = None) -> None:
        from core.ops.runner import local_runtime
        from core.storage.filesystem import FilesystemStorage

        self._root = (root / "src").resolve()
        self._root.mkdir(parents=True)
        dest = self._root if in_place else (root / "dest").resolve()
        settings = {**SETTINGS, **(extra or {}), "THUMBS_DEST_BUCKET": str(dest)}
        super().__init__(
            source=FilesystemStorage(self._root), dest=FilesystemStorage(dest), settings=settings, provider=None
        )
        self._runtime = local_runtime(self.config)
        self._created: set[str] = set()
        self._watcher: _Watcher | None = None
        self._start_watcher()

    def _start_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        self._watcher = _Watcher(self._root)

    def upload(self, key: str, body: bytes, *, content_type: str | None = None) -> None:
        path = self._root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def deliver_created(self, key: str) -> DeliveryReport:
        if key in self._created:
            # A restarted `polythumb watch` reports every file again: the local form of a duplicate.
            self._start_watcher()
        self._created.add(key)
        return self._deliver(EventKind.CREATED, key)

    def deliver_deleted(self, key: str) -> DeliveryReport:
        (self._root / key).unlink()
        return self._deliver(EventKind.DELETED, key)

    def _deliver(self, kind: EventKind, key: str) -> DeliveryReport:
        from core.ops.runner import handle_safely

        assert self._watcher is not None
        event = self._watcher.next(kind, key)
        started = time.perf_counter()
        outcome = handle_safely(self._runtime, event)
        elapsed = (time.perf_counter() - started) * 1000
        return self._record(
            DeliveryReport(
                acknowledged=True,  # the watcher moves on: there is no redelivery to ask for locally
                status=str(outcome.status),
                reason=str(outcome.reason) if outcome.reason else None,
                error_kind=outcome.error_kind,
                key=outcome.key,
                envelope={"relative path": event.key},
                handler_ms=elapsed,
                answer="none (the poller moves on)",
            )
        )

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()


class _Watcher:
    """:func:`core.ops.runner.watch_events` running in a thread, its events queued for the test to pick."""

    def __init__(self, root: Path) -> None:
        from core.ops.runner import watch_events

        self._stop = threading.Event()
        self._queue: queue.Queue[ObjectEvent] = queue.Queue()
        self._seen: list[ObjectEvent] = []
        events = watch_events(root, interval=0.05, initial=True, stop=self._stop)
        self._thread = threading.Thread(target=self._pump, args=(events,), daemon=True)
        self._thread.start()

    def _pump(self, events: Iterator[ObjectEvent]) -> None:
        for event in events:
            self._queue.put(event)

    def next(self, kind: EventKind, key: str) -> ObjectEvent:
        """The first unhandled event of ``kind`` for ``key``, waiting for the poller if need be."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            for event in self._seen:
                if event.kind is kind and event.key == key:
                    self._seen.remove(event)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the watcher reported no {kind} event for {key!r} within {EVENT_TIMEOUT}s")
            try:
                self._seen.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def entrypoint(
    request: pytest.FixtureRequest, *, in_place: bool, extra: Mapping[str, str] | None = None
) -> EntrypointRig:
    """The end-to-end rig (see :class:`Entrypoint`), with ``extra`` THUMBS_* settings if given."""
    return Entrypoint(request.getfixturevalue("tmp_path"), in_place=in_place, extra=extra)


# -- contract observations ----------------------------------------------------------------------------


@contextmanager
def record_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, log: RequestLog) -> Iterator[None]:
    """The filesystem's "requests" are the system calls that commit a write (link and rename); memory has none."""
    if request.node.callspec.params["store"] == "filesystem":
        for name in ("link", "replace"):
            call = getattr(os, name)

            def spy(src: Any, dst: Any, *args: Any, _name: str = name, _call: Any = call, **kwargs: Any) -> Any:
                log.requests.append({"method": f"os.{_name}", "query": {}, "conditions": {}})
                return _call(src, dst, *args, **kwargs)

            monkeypatch.setattr(os, name, spy)
    yield


# -- backfill -----------------------------------------------------------------------------------------

#: The sizes of the local backfill runs.
BACKFILL_SIZES = "64x64,32x32"


def backfill_command(src: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    """``polythumb backfill SRC --out OUT`` with two workers and a checkpoint written every 50 ms."""
    return [
        sys.executable, "-m", "core.ops.cli", "backfill", str(src), "--out", str(out), "--sizes", BACKFILL_SIZES,
        "--workers", "2", "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", "--json", *extra,
    ]  # fmt: skip


def backfill_environment() -> dict[str, str]:
    """The CLI's environment: this checkout on the path, no THUMBS_* setting of the developer's."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("THUMBS_")}
    env.update(PYTHONPATH=str(ROOT))
    return env


def picture() -> bytes:
    """An 800x600 PNG: it decodes in full, so each render takes real time and a kill lands part-way."""
    return encode(gradient(800, 600), "PNG")


def write_pictures(src: Path, count: int, *, batches: int) -> list[str]:
    """``count`` identical pictures under ``batches`` folders of ``src``; their keys, sorted."""
    body = picture()
    keys = sorted(f"batch{i % batches}/pic{i:03}.png" for i in range(count))
    for key in keys:
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(body)
    return keys


def start_backfill(src: Path, out: Path, checkpoint: Path, *extra: str, cwd: Path) -> subprocess.Popen[str]:
    """The CLI in its own session: it and its pool workers form one process group, signalled together."""
    return subprocess.Popen(
        backfill_command(src, out, checkpoint, *extra), cwd=cwd, env=backfill_environment(), text=True,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


class Backfill:
    """``polythumb backfill SRC --out DEST``: the local target renders in the CLI's own worker processes.

    PNG originals decode in full, so each render takes real time and the kill lands part-way.
    """

    name = NAME
    count = 300
    sizes = BACKFILL_SIZES
    pace: tuple[str, ...] = ()  # --rate paces cloud sends only; the renders themselves take the time here
    work_field = "rendered"
    suffix, content_type = ".png", "image/png"

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        from core.ops.runner import local_runtime

        self.source = FilesystemStorage(tmp_path / "src")
        self.dest = FilesystemStorage(tmp_path / "out")
        self._root = tmp_path
        self._runtime = local_runtime(self.config)

    @property
    def config(self) -> Config:
        return load_config({}, overrides={"THUMBS_DEST_BUCKET": self.dest.bucket, "THUMBS_SIZES": self.sizes})

    def body(self, variant: int = 0) -> bytes:
        return picture() if variant == 0 else encode(gradient(790, 600), "PNG")

    def render(self, keys: Sequence[str]) -> None:
        from core.ops.runner import handle_safely

        for key in keys:
            outcome = handle_safely(self._runtime, ObjectEvent.created(self.source.bucket, key))
            assert str(outcome.status) == "ok", outcome

    def command(self, checkpoint: Path, *extra: str) -> list[str]:
        source, dest = Path(self.source.bucket), Path(self.dest.bucket)
        return backfill_command(source, dest, checkpoint, "--no-progress", "--delete-orphans", *extra)

    def environment(self) -> dict[str, str]:
        return backfill_environment()

    def settle(self) -> list[str] | None:
        """Nothing is in flight: the CLI's workers render before the checkpoint moves."""
        return None

    def check_logs(self) -> None:
        """The CLI's summary already counts every failure."""


def backfill(request: pytest.FixtureRequest, tmp_path: Path) -> Backfill:
    """The backfill rig (see :class:`Backfill`)."""
    return Backfill(request, tmp_path)
