"""A deployment's log as ``polythumb cost`` reads it (tests/providers/<cloud>/test_cost.py): event lines of two
profiles with a retry and a delete, Lambda's REPORT lines, other text; and running the command.

The figures the tests expect are worked out by hand from :data:`LOG`: avatars has 2 uploads and 3 events (a
retry) of 300, 100 and 200 ms writing 4 thumbnails (6,000 bytes); photos has 1 upload and 1 event of
1000.4 ms writing 1 (10,000 bytes); the delete is counted, not priced. At 3,000 uploads a month, avatars
gets 2,000 uploads and 3,000 events, photos 1,000 and 1,000.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.ops import cost as cost_cli
from core.ops.cli import main


def event(key: str, revision: str, ms: float, *, status: str = "ok", written: tuple[int, ...] = (),
          profile: str | None = None, request: str | None = None, kind: str = "created") -> str:  # fmt: skip
    """One event line as the functions log it (docs/logs.md)."""
    record: dict[str, Any] = {
        "severity": "INFO", "message": f"{kind} b/{key}: {status}", "kind": kind, "bucket": "b", "key": key,
        "revision": revision, "status": status, "duration_ms": ms,
        "outputs": [{"key": f"t/{key}-{i}", "action": "written", "bytes": size} for i, size in enumerate(written)],
    }  # fmt: skip
    if profile:
        record["profile"] = profile
    if request:
        record["aws_request_id"] = request
    return json.dumps(record)


def report(request: str, ms: float, peak: int) -> str:
    """Lambda's end-of-invocation line."""
    return (f"REPORT RequestId: {request}\tDuration: {ms} ms\tBilled Duration: {round(ms + 0.5)} ms\t"
            f"Memory Size: 1024 MB\tMax Memory Used: {peak} MB")  # fmt: skip


LOG = [
    "START RequestId: req-1 Version: $LATEST",
    event("avatars/a.jpg", "r1", 300.0, status="error", profile="avatars", request="req-1"),
    event("avatars/a.jpg", "r1", 100.0, written=(1000, 3000), profile="avatars", request="req-1"),
    report("req-1", 420.11, 180),
    event("avatars/b.jpg", "r2", 200.0, written=(1000, 1000), profile="avatars"),
    "2026-01-02T03:04:05.000Z\t"
    + event("photos/c.jpg", "r3", 1000.4, written=(10000,), profile="photos", request="req-2"),
    report("req-2", 1000.9, 250),
    event("photos/c.jpg", "r3", 5.0, kind="deleted"),
    "some other text",
]


def write_log(folder: Path) -> Path:
    path = folder / "function.log"
    path.write_text("\n".join(LOG) + "\n", encoding="utf-8")
    return path


def without_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Terraform outputs to read: the command falls back to the stack's defaults."""

    def missing(provider: str, workdir: Path) -> dict[str, Any]:
        raise cost_cli.ConfigError("no Terraform outputs")

    monkeypatch.setattr(cost_cli, "deployment_outputs", missing)


def run_cost(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """``polythumb cost <args> --json``: its report."""
    assert main(["cost", *args, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def lines_of(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["item"]: line for line in profile["lines"]}


def cost_inputs(cloud: str) -> set[str]:
    """The keys of the ``cost_inputs`` output of ``cloud``'s stack."""
    from tests.terraform import ROOT, load_module

    module = load_module(ROOT / "providers" / cloud / "deploy")
    [output] = [block["cost_inputs"] for block in module["output"] if "cost_inputs" in block]
    return set(output["value"])
