"""A pytest plugin that records, per test, what the conformance matrix needs.

Loaded by ``python -m core.reports.conformance`` as ``-p tests.e2e.report_plugin
--conformance-json=FILE``: for every test it writes the behaviour (first docstring line, or the
function's name), the rig it ran on (the ``entrypoint``/``store``/``provider`` parameter), its outcome,
the duration of its call phase and its recorded properties (``observed``, ``handler_ms``, ...).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import pytest

#: Parameters that name the platform a test ran on, in the order they are looked for.
RIG_PARAMETERS = ("entrypoint", "entrypoint_in_place", "serving", "store", "provider")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--conformance-json", metavar="FILE", help="write per-test conformance results to FILE")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--conformance-json")
    if path:
        config.pluginmanager.register(Recorder(Path(path)), "polythumb-conformance-recorder")


def suite_of(path: str) -> str:
    """``contract``, ``e2e``, ``serve`` (files named ``test_serve*``) or ``observed`` (``test_observed_*``)."""
    name = Path(path).name
    if name.startswith("test_observed_"):
        return "observed"
    if name.startswith("test_serve"):
        return "serve"
    return "e2e" if "/e2e/" in path.replace("\\", "/") else "contract"


def behaviour_of(item: pytest.Item) -> str:
    """The first line of the test's docstring, else its name in words."""
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].strip()
    name = getattr(item, "originalname", None) or item.name
    return name.removeprefix("test_").replace("_", " ")


def rig_of(item: pytest.Item) -> str | None:
    """The platform parameter of a parametrized test, if it has one."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    for name in RIG_PARAMETERS:
        if name in params:
            return str(params[name])
    return None


class Recorder:
    """Collects one record per test and writes them all at the end of the session."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.time()
        self.items: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for order, item in enumerate(items):
            self.items[item.nodeid] = {
                "nodeid": item.nodeid,
                "order": order,
                "suite": suite_of(item.nodeid.split("::", 1)[0]),
                "test": getattr(item, "originalname", None) or item.name,
                "behaviour": behaviour_of(item),
                "rig": rig_of(item),
            }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        meta = self.items.get(report.nodeid)
        if meta is None:
            return
        result = self.results.setdefault(
            report.nodeid, {**meta, "outcome": "passed", "duration_s": 0.0, "properties": {}}
        )
        if report.when == "call":
            result["duration_s"] = round(report.duration, 4)
        for name, value in report.user_properties:
            result["properties"][name] = value
        if report.failed:
            result["outcome"] = "failed" if report.when == "call" else "error"
            result["message"] = _short(report.longreprtext)
        elif report.skipped and result["outcome"] == "passed":
            result["outcome"] = "skipped"
            result["message"] = _short(str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        document = {
            "format": "polythumb-conformance/1",
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - self.started, 1),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "exit_status": int(exitstatus),
            "results": sorted(self.results.values(), key=lambda r: r["order"]),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")


def _short(text: str, limit: int = 500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]
