"""Notifiers: where a completion event goes. Built in: a JSON-lines file and a signed webhook.

Every notifier has one method, ``publish(event, *, deadline)``, that delivers one CloudEvent (a JSON-ready
dict) by ``deadline`` (``time.monotonic()`` seconds) or raises :class:`core.errors.NotifyUnavailable`
(:class:`core.errors.NotifyTimeout` when time ran out), a ``target`` naming it in messages (no secret), and
``max_event_bytes``, the largest serialised event it takes (None: no limit). The providers' notifiers
(SNS, EventBridge, Pub/Sub, Event Grid) live in ``providers/<cloud>/notify.py`` and follow the same protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from core.completion import http
from core.completion.events import event_bytes
from core.errors import NotifyUnavailable

#: The webhook signature header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
SIGNATURE_HEADER = "Polythumb-Signature"
CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
#: The largest webhook body: SNS's and EventBridge's limit, so a receiver can forward any event to either.
WEBHOOK_MAX_EVENT_BYTES = 256 * 1024

__all__ = ["CLOUDEVENT_CONTENT_TYPE", "SIGNATURE_HEADER", "FileNotifier", "Notifier", "WebhookNotifier",
           "event_bytes", "sign", "verify"]  # fmt: skip


class Notifier(Protocol):
    """One event target."""

    #: How messages name the target (never a secret, a token or a URL's query).
    target: str
    #: The largest serialised event the target takes, in bytes (None: no limit).
    max_event_bytes: int | None

    def publish(self, event: Mapping[str, Any], *, deadline: float) -> None:
        """Deliver ``event`` by ``deadline`` (``time.monotonic()``), or raise :class:`core.errors.NotifyUnavailable`."""
        ...


class FileNotifier:
    """Appends one JSON line per event to a file (``file:PATH``): the local default.

    Each line is one ``write`` on a descriptor opened with ``O_APPEND``, under an advisory lock, so
    concurrent writers (workers, a second ``polythumb watch``) never interleave lines.
    """

    max_event_bytes: int | None = None

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.target = f"file {self.path}"

    def publish(self, event: Mapping[str, Any], *, deadline: float | None = None) -> None:
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

    max_event_bytes: int | None = WEBHOOK_MAX_EVENT_BYTES

    def __init__(self, url: str, *, secret: str, attempts: int = http.ATTEMPTS) -> None:
        self.url = url
        self.target = f"webhook {http.describe(url)}"
        self._secret = secret
        self._attempts = attempts

    def __repr__(self) -> str:
        return f"WebhookNotifier({http.describe(self.url)!r})"

    def publish(self, event: Mapping[str, Any], *, deadline: float | None = None) -> None:
        body = event_bytes(event)

        def headers() -> dict[str, str]:  # signed per attempt: the timestamp stays fresh
            return {
                "Content-Type": CLOUDEVENT_CONTENT_TYPE,
                SIGNATURE_HEADER: sign(self._secret, body, timestamp=int(time.time())),
                "User-Agent": "polythumb",
            }

        http.post(self.url, body, headers=headers, what=self.target, deadline=deadline, attempts=self._attempts)
