"""The runaway detector's traffic (tests/providers/<cloud>/test_runaway.py): event lines as every entrypoint
writes them (core.logs.log_outcome, docs/logs.md) for normal traffic and for three runaways, and the rule each
cloud's alert implements, in Python, to compare with.

The rule (runaway.tf of each stack): in a 5-minute window with at least ``min_deliveries`` event lines, alarm
when deliveries per source object (any status) or renders (status ok, kind created) per source revision
exceed ``threshold``.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable
from typing import Any

from core.events import EventKind
from core.logs import JsonFormatter, log_outcome
from core.outcome import Action, Outcome, OutputRecord, SkipReason, Status

THRESHOLD = 3
MIN_DELIVERIES = 50
#: The fields of the event line a detector may read.
FIELDS = {"bucket", "key", "revision", "status", "kind"}


def _rendered(key: str, revision: str) -> Outcome:
    output = OutputRecord(key=f"thumbs/{key}", box="200x200", action=Action.WRITTEN, bytes=1000)
    return Outcome(EventKind.CREATED, "images", key, Status.OK, outputs=(output,), revision=revision, duration_ms=80)


def _unchanged(key: str, revision: str) -> Outcome:
    return Outcome(EventKind.CREATED, "images", key, Status.SKIPPED, reason=SkipReason.UNCHANGED, revision=revision)


def _retried(key: str) -> Outcome:
    return Outcome(EventKind.CREATED, "images", key, Status.ERROR, error_kind="storage_unavailable")


def _deleted(key: str) -> Outcome:
    return Outcome(EventKind.DELETED, "images", key, Status.OK)


def lines(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """The JSON event lines ``log_outcome`` writes for ``outcomes``, parsed."""
    stream = io.StringIO()
    logger = logging.getLogger("polythumb.tests.runaway")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for outcome in outcomes:
            log_outcome(logger, outcome, route="test", event_id="e")
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def normal() -> list[dict[str, Any]]:
    """60 uploads rendered once, 5 of them after a retried error, 10 deletes, a re-upload: no runaway."""
    outcomes = [_rendered(f"u/{n}.jpg", f"r{n}") for n in range(60)]
    outcomes += [_retried(f"u/{n}.jpg") for n in range(5)]
    outcomes += [_deleted(f"u/{n}.jpg") for n in range(50, 60)]
    outcomes += [_rendered("u/0.jpg", "r0-again")]
    return lines(outcomes)


def fan_out(uploads: int = 20, times: int = 5) -> list[dict[str, Any]]:
    """Each upload delivered ``times`` times (a duplicate notification): one render, the rest unchanged."""
    outcomes: list[Outcome] = []
    for n in range(uploads):
        outcomes += [_rendered(f"u/{n}.jpg", f"r{n}")] + [_unchanged(f"u/{n}.jpg", f"r{n}")] * (times - 1)
    return lines(outcomes)


def rerender(uploads: int = 20, times: int = 5) -> list[dict[str, Any]]:
    """Each source revision rendered ``times`` times (outputs overwritten behind polythumb's back, a loop)."""
    return lines([_rendered(f"u/{n}.jpg", f"r{n}") for n in range(uploads) for _ in range(times)])


SCENARIOS = {"normal": (normal, False), "fan_out": (fan_out, True), "rerender": (rerender, True),
             "quiet_fan_out": (lambda: fan_out(uploads=5), False)}  # fmt: skip


def runaway(records: list[dict[str, Any]], *, threshold: float = THRESHOLD, min_deliveries: int = MIN_DELIVERIES
            ) -> bool:  # fmt: skip
    """The rule, over one window's event lines."""
    events = [r for r in records if r.get("status") and r.get("key")]
    objects = {(r.get("bucket"), r["key"]) for r in events}
    renders = [r for r in events if r["status"] == "ok" and r.get("kind") == "created"]
    revisions = {(r.get("bucket"), r["key"], r.get("revision")) for r in renders}
    if len(events) < min_deliveries:
        return False
    return len(events) / len(objects) > threshold or (bool(revisions) and len(renders) / len(revisions) > threshold)


def check_scenarios() -> None:
    """The rule itself says what the scenarios claim (so a cloud's test compares with a right answer)."""
    for name, (make, expected) in SCENARIOS.items():
        assert runaway(make()) is expected, name
