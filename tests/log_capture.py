"""polythumb's log during a test, as the JSON lines a platform would get: the one capture every suite uses.

polythumb's logger does not propagate, so pytest's ``caplog`` cannot see it; :class:`JsonLogs` is a handler
added to that logger itself (the ``json_logs`` fixture of ``tests/conftest.py``, or a rig's own).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from core.logs import LOGGER_NAME, JsonFormatter


class JsonLogs(logging.Handler):
    """Keeps each record polythumb logs, formatted when it is logged by polythumb's own formatter."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self._lines: list[str] = []
        self._level: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:  # as a StreamHandler does: a record that cannot be formatted is reported, not raised
            self.handleError(record)

    def attach(self) -> JsonLogs:
        """Start capturing (the logger's level is put back by :meth:`detach`)."""
        logger = logging.getLogger(LOGGER_NAME)
        self._level = logger.level
        logger.addHandler(self)
        return self

    def detach(self) -> None:
        """Stop capturing."""
        logger = logging.getLogger(LOGGER_NAME)
        logger.removeHandler(self)
        if self._level is not None:
            logger.setLevel(self._level)

    def text(self) -> str:
        """The raw captured text, a line per record (what a secret scan must look at)."""
        return "".join(f"{line}\n" for line in self._lines)

    def lines(self) -> list[dict[str, Any]]:
        """The records as the JSON objects a platform would parse."""
        return [json.loads(line) for line in self._lines]

    def errors_for(self, key: str) -> list[dict[str, Any]]:
        """ERROR records about ``key``."""
        return [r for r in self.lines() if r.get("severity") == "ERROR" and r.get("key") == key]

    def clear(self) -> None:
        self._lines.clear()
