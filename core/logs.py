"""Structured JSON-lines logging that CloudWatch, Cloud Logging and App Insights all parse.

Each record carries ``severity`` (what Cloud Logging reads), ``level`` and
``message``, plus the fields passed in ``extra={"fields": {...}}``. Values
that look like credentials are redacted before they are written: logs must
never carry keys, connection strings or signed URLs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from core.outcome import Outcome, Status

LOGGER_NAME = "polythumb"

# Things that must never reach a log: signed-URL query strings, connection-string secrets,
# bearer tokens and AWS secret keys.
_SECRET_PATTERNS = (
    re.compile(r"(?i)((?:AccountKey|SharedAccessSignature|sig|X-Amz-Signature|X-Amz-Credential|X-Goog-Signature|"
               r"X-Goog-Credential|aws_secret_access_key|password|token)\s*[=:]\s*)([^;&\s\"']+)"),
    re.compile(r"(?i)(Bearer\s+)([A-Za-z0-9._~+/-]+=*)"),
)  # fmt: skip


def redact(text: str) -> str:
    """Replace secret values in ``text`` with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "severity": record.levelname,
            "level": record.levelname,
            "message": redact(record.getMessage()),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(payload, default=str, ensure_ascii=False))


def configure_logging(level: str = "INFO", *, stream: Any = None) -> logging.Logger:
    """Route polythumb's logger to ``stream`` (stdout) as JSON lines; idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_polythumb", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._polythumb = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def log_outcome(logger: logging.Logger, outcome: Outcome, **context: Any) -> None:
    """Log one outcome: FAILED at ERROR (reported once, not retried), others at INFO."""
    fields = {**context, **outcome.to_dict()}
    level = logging.ERROR if outcome.status is Status.FAILED else logging.INFO
    message = f"{outcome.kind} {outcome.bucket}/{outcome.key}: {outcome.status}"
    if outcome.reason:
        message += f" ({outcome.reason})"
    if outcome.error_kind:
        message += f" [{outcome.error_kind}] {outcome.error_message}"
    logger.log(level, message, extra={"fields": fields})
