"""A recording local stand-in of the Eventarc v1 and Pub/Sub v1 REST APIs, for the automatic brake's tests.

It keeps triggers and subscriptions between calls and answers the methods the brake's REST transport uses the
way the APIs document them: ``GET .../triggers/*`` and ``GET .../subscriptions/*`` return the resource;
``PATCH .../subscriptions/*`` takes ``{"subscription": {...}, "updateMask": "a,b"}`` and changes only the masked
fields (400 without a mask, or for a field it does not know); ``POST .../subscriptions/*:modifyPushConfig`` takes
``{"pushConfig": {...}}`` (an empty one makes a pull subscription; a push one gets Pub/Sub's
``x-goog-version`` attribute when it has none). Unknown resources answer 404 with Google's error body. Each
request is recorded (method, path, body); ``fail_next`` makes the next calls answer a status (a throttled API).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRIGGER = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/triggers/[^/:]+)$")
SUBSCRIPTION = re.compile(r"^/v1/(projects/[^/]+/subscriptions/[^/:]+)(:modifyPushConfig)?$")
#: The Subscription fields ``updateMask`` may name here (the brake's, and a few more it never sends).
PATCHABLE = {"labels", "messageRetentionDuration", "ackDeadlineSeconds", "deadLetterPolicy"}


@dataclass
class ControlPlane:
    """The state (``triggers``, ``subscriptions``: name -> resource), the requests seen, and injected failures."""

    triggers: dict[str, Any]
    subscriptions: dict[str, Any]
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail_next(self, status: int, *, on: str = "") -> None:
        """The next request (whose path ends with ``on``) answers ``status``, and changes nothing."""
        self.failures.append((status, on))

    def changes(self) -> list[tuple[str, str, Any]]:
        """The requests that change something (PATCH, POST)."""
        return [request for request in self.requests if request[0] != "GET"]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path, copy.deepcopy(body)))
            for index, (status, on) in enumerate(self.failures):
                if path.endswith(on):
                    del self.failures[index]
                    return status, _error(status, "injected failure", "UNAVAILABLE" if status >= 500 else "DENIED")
            trigger, subscription = TRIGGER.match(path), SUBSCRIPTION.match(path)
            if trigger and method == "GET":
                found = self.triggers.get(trigger.group(1))
                return (200, found) if found else (404, _error(404, f"Resource '{trigger.group(1)}' was not found"))
            if not subscription:
                return 404, _error(404, f"unknown path {path}")
            name, verb = subscription.group(1), subscription.group(2)
            current = self.subscriptions.get(name)
            if current is None:
                return 404, _error(404, f"Resource not found (resource={name.rsplit('/', 1)[-1]}).")
            if method == "GET" and not verb:
                return 200, current
            if method == "PATCH" and not verb:
                return self._patch(current, body)
            if method == "POST" and verb:
                push = dict((body or {}).get("pushConfig") or {})
                if push.get("pushEndpoint"):
                    push.setdefault("attributes", {"x-goog-version": "v1"})
                current["pushConfig"] = push
                return 200, {}
            return 405, _error(405, f"{method} is not allowed on {path}", "METHOD_NOT_ALLOWED")

    def _patch(self, current: dict[str, Any], body: Any) -> tuple[int, Any]:
        mask = [part for part in str((body or {}).get("updateMask") or "").split(",") if part]
        fields = (body or {}).get("subscription") or {}
        if not mask:
            return 400, _error(400, "Invalid update_mask provided in the UpdateSubscriptionRequest", "INVALID_ARGUMENT")
        unknown = [part for part in mask if part not in PATCHABLE]
        if unknown:
            return 400, _error(400, f"Invalid update_mask path(s): {unknown}", "INVALID_ARGUMENT")
        for part in mask:
            if part in fields:
                current[part] = copy.deepcopy(fields[part])
            else:
                current.pop(part, None)  # masked but absent: cleared, as the API does
        return 200, current


def _error(code: int, message: str, status: str = "NOT_FOUND") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


@contextmanager
def serve(triggers: dict[str, Any], subscriptions: dict[str, Any]) -> Iterator[ControlPlane]:
    """Serve a :class:`ControlPlane` on 127.0.0.1 (a free port) while the block runs."""
    plane = ControlPlane(copy.deepcopy(triggers), copy.deepcopy(subscriptions))

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, answer = plane.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    plane.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield plane
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
