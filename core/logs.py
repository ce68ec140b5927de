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

# Things that must never reach a log. Names are matched case-insensitively, as ``name=value``,
# ``name: value`` or ``"name": "value"`` (a JSON field, or a repr of a dict), and only as whole names, so
# an object key such as "design=1.jpg" is left alone. Values end where a connection string (";"), a query
# string ("&", "#") or a quoted string ends, and before a backslash (a JSON escape must stay whole).
_SECRET_NAMES = (
    "AccountKey", "SharedAccessSignature", "sig", "Signature", "X-Amz-Signature", "X-Amz-Credential",
    "X-Amz-Security-Token", "X-Goog-Signature", "X-Goog-Credential", "aws_secret_access_key",
    "aws_session_token", "SecretAccessKey", "SessionToken", "secret", "client_secret", "password", "passwd",
    "token", "access_token", "refresh_token", "id_token", "api_key", "apikey", "private_key",
    "THUMBS_NOTIFY_SECRET", "notify_secret", "THUMBS_SERVE_KEYS", "serve_keys",
)  # fmt: skip
_SECRET_PATTERNS = (
    # PEM private keys (a service-account JSON), whole: their body spans lines.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), "***"),
    (re.compile(r"(?i)(?<![A-Za-z0-9_-])((?:" + "|".join(map(re.escape, _SECRET_NAMES)) + r")[\"']?\s*[=:]\s*[\"']?)"
                r"([^;&#\s\"'\\]+)"), r"\1***"),
    # Credentials in a URL (scheme://user:password@host): requests keeps them in every URL it quotes.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)(@)"), r"\1***\3"),
    (re.compile(r"(?i)(Bearer\s+)([A-Za-z0-9._~+/-]+=*)"), r"\1***"),
    (re.compile(r"(?i)(SharedKey(?:Lite)?\s+[^:\s]+:)([A-Za-z0-9+/]+=*)"), r"\1***"),
    # AWS access key ids (long-term AKIA, temporary ASIA), wherever they appear.
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "***"),
)  # fmt: skip


def redact(text: str) -> str:
    """Replace secret values in ``text`` with ``***``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
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
    """Log one outcome: FAILED at ERROR (reported once, not retried), with warnings at WARNING, others at INFO."""
    fields = {**context, **outcome.to_dict()}
    level = logging.ERROR if outcome.status is Status.FAILED else logging.WARNING if outcome.warnings else logging.INFO
    message = f"{outcome.kind} {outcome.bucket}/{outcome.key}: {outcome.status}"
    if outcome.reason:
        message += f" ({outcome.reason})"
    if outcome.error_kind:
        message += f" [{outcome.error_kind}] {outcome.error_message}"
    logger.log(level, message, extra={"fields": fields})
