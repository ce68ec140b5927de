"""A recording stand-in of Azure Resource Manager and of App Service's managed identity endpoint, on 127.0.0.1.

For the automatic brake (providers/azure/brake_function.py, brake_arm.py), which calls Resource Manager's REST
API with a token of the app's identity. It keeps its state in the same file, and the same shape, as the
stand-in ``az`` (tests/providers/azure/fake_az.py: ``resources``, ``apps``, ``full_urls``), so what the
automatic brake did is what ``polythumb brake|release azure`` then read and undo; a PUT of a subscription is
:func:`fake_az.put_subscription`, as the stand-in ``az`` does it.

As the real services: the identity endpoint answers only with the ``X-IDENTITY-HEADER`` it was given, with a
token for the resource asked; Resource Manager refuses a request without that token (401), with another API
version than the resource type's (400 ``InvalidApiVersionParameter``), or for a resource it does not hold (404
``ResourceNotFound``); the app's ``stop`` and ``start`` change its state, kept between calls. Every request is
recorded (method, path, api-version); ``fail_next`` makes the next requests answer an error, ``lose_answer_of``
carries one out and loses its answer (as when the app stopping itself ends the call).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.providers.azure.fake_az import Refused, put_subscription

#: The API version of each resource type, as the brake's requests must name it.
API_VERSIONS = {"Microsoft.EventGrid": "2022-06-15", "Microsoft.Web": "2023-12-01"}
IDENTITY_HEADER = "identity-header-of-the-app"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.stand-in-token"


@dataclass
class Call:
    method: str
    path: str
    api_version: str | None
    status: int


@dataclass
class FakeArm:
    """The running stand-in: its URLs, its state file and the requests it answered."""

    state: Path
    endpoint: str = ""
    identity_endpoint: str = ""
    calls: list[Call] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)

    def resources(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state.read_text(encoding="utf-8"))
        return state

    def save(self, resources: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(resources), encoding="utf-8")

    def fail_next(self, status: int, code: str, *, times: int = 1) -> None:
        """The next ``times`` Resource Manager requests answer ``status`` with error ``code``."""
        self.failures.extend([(status, code)] * times)

    def lose_answer_of(self, method: str, suffix: str) -> None:
        """The next ``method`` request on a path ending in ``suffix`` is carried out, but its answer is lost (504)."""
        self.lost.append((method, suffix))

    def environment(self) -> dict[str, str]:
        """What App Service sets for the app's managed identity, and the brake's endpoint setting."""
        return {"IDENTITY_ENDPOINT": self.identity_endpoint, "IDENTITY_HEADER": IDENTITY_HEADER,
                "BRAKE_MANAGEMENT_ENDPOINT": self.endpoint}  # fmt: skip

    def arm_calls(self) -> list[tuple[str, str]]:
        """``(method, path)`` of each Resource Manager request, in order."""
        return [(call.method, call.path) for call in self.calls]


def _handler(arm: FakeArm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._answer(status, {"error": {"code": code, "message": message}})

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if parts.path == "/msi/token":
                return self._token(query)
            status = self._arm(method, parts.path, query.get("api-version"), body)
            arm.calls.append(Call(method, parts.path, query.get("api-version"), status))

        def _token(self, query: dict[str, str]) -> None:
            if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER or query.get("api-version") != "2019-08-01":
                return self._error(400, "BadRequest", "not the app's identity header, or another api-version")
            arm.tokens_issued.append(query.get("resource", ""))
            token = {"access_token": TOKEN, "expires_on": "4102444800", "resource": query.get("resource"),
                     "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-000000000001"}  # fmt: skip
            self._answer(200, token)

        def _arm(self, method: str, path: str, api_version: str | None, body: bytes) -> int:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._error(401, "AuthenticationFailed", "no valid bearer token")
                return 401
            if arm.failures:
                status, code = arm.failures.pop(0)
                self._error(status, code, f"stand-in {code}")
                return status
            provider = path.split("/providers/", 1)[1].split("/", 1)[0] if "/providers/" in path else ""
            if api_version != API_VERSIONS.get(provider):
                self._error(400, "InvalidApiVersionParameter", f"api-version {api_version} for {provider}")
                return 400
            resources = arm.resources()
            status, answer = self._route(resources, method, path, body)
            arm.save(resources)
            for lost in arm.lost:
                if lost[0] == method and path.endswith(lost[1]):
                    arm.lost.remove(lost)
                    self._error(504, "GatewayTimeout", "done, but the answer was lost")
                    return 504
            if status >= 400:
                self._error(status, answer["code"], answer["message"])
            else:
                self._answer(status, answer)
            return status

        def _route(self, resources: dict[str, Any], method: str, path: str, body: bytes) -> tuple[int, Any]:
            apps = resources["apps"]
            if path.endswith("/getFullUrl") and method == "POST":
                return 200, {"endpointUrl": resources["full_urls"][path[: -len("/getFullUrl")]]}
            if "/eventSubscriptions/" in path and method in ("GET", "PUT"):
                if method == "GET":
                    found = resources["resources"].get(path)
                    if found is None:
                        return 404, {"code": "ResourceNotFound", "message": path}
                    return 200, found
                try:
                    return 200, put_subscription(resources, path, json.loads(body))
                except Refused as exc:
                    return 400, {"code": "BadRequest", "message": str(exc)}
            app_id, _, action = path.partition("/host/default/") if "/host/default/" in path else (path, "", "")
            for suffix in ("/stop", "/start"):
                if method == "POST" and path.endswith(suffix) and path[: -len(suffix)] in apps:
                    apps[path[: -len(suffix)]]["state"] = "Stopped" if suffix == "/stop" else "Running"
                    return 200, None
            if method == "POST" and action == "listkeys" and app_id in apps:
                return 200, {"masterKey": "master==", "functionKeys": {"default": "function=="},
                             "systemKeys": {"blobs_extension": apps[app_id]["blobs_extension"]}}  # fmt: skip
            if method == "GET" and path in apps:
                return 200, {"id": path, "name": path.rsplit("/", 1)[1], "properties": {"state": apps[path]["state"]}}
            return 404, {"code": "ResourceNotFound", "message": f"{method} {path}"}

    return Handler


@contextmanager
def serve(state: Path) -> Iterator[FakeArm]:
    """Run the stand-in on a free port of 127.0.0.1 over the ``fake_az`` state file ``state``."""
    arm = FakeArm(state)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(arm))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    arm.endpoint, arm.identity_endpoint = base, f"{base}/msi/token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield arm
    finally:
        server.shutdown()
        server.server_close()
