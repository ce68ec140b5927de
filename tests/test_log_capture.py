"""The one log capture of the suites (:mod:`tests.log_capture`): what it keeps is what a platform gets."""

from __future__ import annotations

import io
import logging

from core.logs import LOGGER_NAME, JsonFormatter
from tests.log_capture import JsonLogs


def test_the_capture_keeps_the_lines_a_platform_would_get_and_leaves_the_logger_as_it_was() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    handlers, level = list(logger.handlers), logger.level
    stream = io.StringIO()
    platform = logging.StreamHandler(stream)  # what a function's stdout carries
    platform.setFormatter(JsonFormatter())
    capture = JsonLogs().attach()
    logger.addHandler(platform)
    try:
        logger.setLevel(logging.DEBUG)
        logger.error("failed", extra={"fields": {"key": "a.jpg", "status": "failed"}})
        logger.debug("AccountKey=c2VjcmV0 in a message")
    finally:
        logger.removeHandler(platform)
        capture.detach()
    assert capture.text() == stream.getvalue()
    assert [line["severity"] for line in capture.lines()] == ["ERROR", "DEBUG"]
    assert [line["message"] for line in capture.errors_for("a.jpg")] == ["failed"]
    assert "c2VjcmV0" not in capture.text()
    assert (logger.handlers, logger.level) == (handlers, level)
    capture.clear()
    assert capture.lines() == [] and capture.text() == ""
