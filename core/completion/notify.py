"""Notifiers: where a completion event goes. Built in: a JSON-lines file and a signed webhook.

Every notifier has one method, ``publish(event)``, that delivers one CloudEvent (a JSON-ready dict)
or raises :class:`core.errors.NotifyUnavailable`. The providers' notifiers (SNS, EventBridge,
Pub/Sub, Event Grid) live in ``providers/<cloud>/notify.py`` and follow the same protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from core.completion import http
from core.errors import NotifyUnavailable

#: The webhook signature header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
SIGNATURE_HEADER = "Polythumb-Signature"
CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


class Notifier(Protocol):
    """One event target."""

    def publish(self, event: Mapping[str, Any]) -> None:
        """Deliver ``event``, or raise :class:`core.errors.NotifyUnavailable`."""
        ...


def event_bytes(event: Mapping[str, Any]) -> bytes:
    """The one serialisation of an event: compact UTF-8 JSON (what signatures cover)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


class FileNotifier:
    """Appends one JSON line per event to a file (``file:PATH``): the local default.

    Each line is one ``write`` on a descriptor opened with ``O_APPEND``, under an advisory lock, so
    concurrent writers (workers, a second ``polythumb watch``) never interleave lines.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def publish(self, event: Mapping[str, Any]) -> None:
        line = event_bytes(event) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                with _locked(fd):
                    os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise NotifyUnavailable(f"cannot append to {self.path}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def _locked(fd: int) -> Any:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: O_APPEND alone
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """The ``Polythumb-Signature`` value of ``body`` at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """Check a ``Polythumb-Signature`` header, as a receiver should (constant time, bounded age)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookNotifier:
    """POSTs each event as a structured CloudEvent with an HMAC-SHA256 signature (``https://...``)."""

    def __init__(self, url: str, *, secret: str, timeout: float = http.TIMEOUT, attempts: int = http.ATTEMPTS) -> None:
        self.url = url
        self._secret = secret
        self._timeout = timeout
        self._attempts = attempts

    def __repr__(self) -> str:
        return f"WebhookNotifier({http.describe(self.url)!r})"

    def publish(self, event: Mapping[str, Any]) -> None:
        body = event_bytes(event)

        def headers() -> dict[str, str]:  # signed per attempt: the timestamp stays fresh
            return {
                "Content-Type": CLOUDEVENT_CONTENT_TYPE,
                SIGNATURE_HEADER: sign(self._secret, body, timestamp=int(time.time())),
                "User-Agent": "polythumb",
            }

        http.post(
            self.url, body, headers=headers, what=f"webhook {http.describe(self.url)}",
            timeout=self._timeout, attempts=self._attempts,
        )  # fmt: skip
