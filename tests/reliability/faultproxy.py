"""A fault-injecting HTTP proxy that sits between a storage SDK and its emulator.

The SDKs speak plain HTTP/1.1 to the emulators, so a small
threaded proxy on 127.0.0.1 can forward every request and, following a script
of :class:`Rule` objects, replace chosen requests with a fault:

* ``RESET`` -- the connection is reset (RST) before any answer;
* ``HOLD_DROP`` -- the request is held, then the connection is closed without an
  answer (what a client sees when a server stalls and a middlebox gives up);
* ``STATUS`` -- an HTTP error answer (500, 503, or a provider's throttling answer: each rig's
  ``throttle()``, built with :func:`http_error`);
* ``LOST_RESPONSE`` -- the request reaches the emulator, its answer never comes
  back (the write happened, the client cannot know);
* ``CUT_UPLOAD`` -- only half of the request body reaches the emulator, then both
  connections are cut (an upload interrupted mid-body);
* ``GATE`` -- the request waits until the test opens the rule's gate, then goes
  through (to stage races deterministically).

Every request is recorded (:attr:`FaultProxy.exchanges`), so tests count the
attempts an SDK really made. Nothing here knows any SDK: it is HTTP only.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Hop-by-hop headers (RFC 9110 7.6.1) and framing the proxy re-computes; never forwarded as is.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "expect", "content-length"}
)  # fmt: skip

#: How long a GATE rule waits for the test before letting the request through anyway.
GATE_TIMEOUT = 30.0


class Fault(StrEnum):
    """What the proxy does to a request a rule matches."""

    RESET = "reset"
    HOLD_DROP = "hold_drop"
    STATUS = "status"
    LOST_RESPONSE = "lost_response"
    CUT_UPLOAD = "cut_upload"
    GATE = "gate"


@dataclass
class Rule:
    """One line of a fault script.

    Attributes:
        fault: What to do.
        method: Only requests with this method (``None``: any).
        path: Only requests whose target (path and query) matches this regex.
        skip: Matching requests let through before the first fault (2 = fault the 3rd).
        times: Faults to inject before the rule is spent; ``None`` = forever.
        status: HTTP status of a ``STATUS`` answer.
        body: Body of a ``STATUS`` answer.
        headers: Headers of a ``STATUS`` answer.
        hold: Seconds a ``HOLD_DROP`` holds the request before closing.
    """

    fault: Fault
    method: str | None = None
    path: str | None = None
    skip: int = 0
    times: int | None = 1
    status: int = 503
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    hold: float = 0.3
    #: Set by the proxy when a request reaches a GATE rule.
    arrived: threading.Event = field(default_factory=threading.Event)
    #: Set by the test to let gated requests through.
    gate: threading.Event = field(default_factory=threading.Event)
    matched: int = 0
    fired: int = 0

    def matches(self, method: str, target: str) -> bool:
        """Whether the request is one this rule is about (spent or not)."""
        if self.method is not None and method != self.method:
            return False
        return self.path is None or re.search(self.path, target) is not None

    def open(self) -> None:
        """Let every request held at this GATE rule through."""
        self.gate.set()


@dataclass
class Exchange:
    """One request the proxy saw, and what became of it.

    Recorded as soon as the request is read, and its status set before the answer is relayed, so a
    client that has its answer always finds the exchange recorded.
    """

    method: str
    target: str
    fault: Fault | None
    body_bytes: int
    status: int | None = None


def http_error(status: int, body: bytes = b"", **headers: str) -> Rule:
    """A ``STATUS`` rule answering ``status`` (adjust matching fields on the result)."""
    return Rule(Fault.STATUS, status=status, body=body, headers=headers)


class FaultProxy:
    """A running proxy to ``upstream`` (``http://host:port``) on a free port of 127.0.0.1."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.rules: list[Rule] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: give it to the SDK instead of the emulator's address."""
        return f"http://127.0.0.1:{self.port}"

    def add(self, rule: Rule, *, method: str | None = None, path: str | None = None, **changes: Any) -> Rule:
        """Append ``rule`` to the script (optionally narrowing it) and return it."""
        if method is not None:
            rule.method = method
        if path is not None:
            rule.path = path
        for name, value in changes.items():
            setattr(rule, name, value)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Forget every rule (requests pass untouched from now on); the record stays."""
        with self._lock:
            for rule in self.rules:
                rule.gate.set()
            self.rules.clear()

    def reset_record(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.exchanges.clear()

    def seen(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        """The requests seen so far, filtered like a rule."""
        probe = Rule(Fault.STATUS, method=method, path=path)
        with self._lock:
            return [e for e in self.exchanges if probe.matches(e.method, e.target)]

    def close(self) -> None:
        """Stop serving and release every held request."""
        self.clear()
        self._server.shutdown()
        self._server.server_close()

    # -- used by the handler -------------------------------------------------------

    def _decide(self, method: str, target: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, target):
                    continue
                rule.matched += 1
                spent = rule.times is not None and rule.fired >= rule.times
                if rule.matched > rule.skip and not spent:
                    rule.fired += 1
                    return rule
            return None

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)


@contextmanager
def running_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` for the duration of a ``with`` block."""
    proxy = FaultProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, consults the script, forwards it or injects the fault."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # the test output stays clean
        return

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the socket was reset on purpose
            super().finish()

    def __getattr__(self, name: str) -> Callable[[], None]:
        # do_GET, do_PUT, do_HEAD, ...: every method goes through one path.
        if name.startswith("do_"):
            return self._proxy
        raise AttributeError(name)

    @property
    def proxy(self) -> FaultProxy:
        return self.server.proxy  # type: ignore[attr-defined, no-any-return]

    def _proxy(self) -> None:
        body = self._read_body()
        rule = self.proxy._decide(self.command, self.path)
        fault = rule.fault if rule else None
        exchange = Exchange(self.command, self.path, fault, len(body))
        self.proxy._record(exchange)
        if rule is None or fault is Fault.GATE:
            if rule is not None:
                rule.arrived.set()
                rule.gate.wait(GATE_TIMEOUT)
            self._forward(body, exchange)
        elif fault is Fault.STATUS:
            exchange.status = rule.status
            self._answer(rule.status, dict(rule.headers), rule.body)
        elif fault is Fault.RESET:
            self._reset()
        elif fault is Fault.HOLD_DROP:
            threading.Event().wait(rule.hold)  # not time.sleep: tests may compress the SDKs' sleeps
            self.close_connection = True
            self.connection.close()
        elif fault is Fault.LOST_RESPONSE:
            self._forward(body, exchange, relay=False)
            self._reset()
        elif fault is Fault.CUT_UPLOAD:
            self._send_half(body)
            self._reset()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _upstream_headers(self, body: bytes) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        return headers

    def _forward(self, body: bytes, exchange: Exchange, *, relay: bool = True) -> None:
        proxy = self.proxy
        connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self._upstream_headers(body):
                connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            payload = response.read()
            headers = response.getheaders()
        except (OSError, http.client.HTTPException):
            self._reset()  # the emulator itself failed: the client sees a broken connection
            return
        finally:
            connection.close()
        exchange.status = response.status
        if relay:
            self._relay(response.status, response.reason, headers, payload)

    def _relay(self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            lowered = name.lower()
            if lowered in _HOP_BY_HOP and not (lowered == "content-length" and self.command == "HEAD"):
                continue
            self.send_header(name, value)
        if self.command != "HEAD" and status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _send_half(self, body: bytes) -> None:
        """Send the request with its full Content-Length but only half its body, then hang up."""
        proxy = self.proxy
        head = [f"{self.command} {self.path} HTTP/1.1"]
        head += [f"{name}: {value}" for name, value in self._upstream_headers(body)]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body[: len(body) // 2]
        with socket.create_connection((proxy.upstream_host, proxy.upstream_port), timeout=5) as upstream:
            upstream.sendall(raw)
            upstream.shutdown(socket.SHUT_WR)
            try:
                while upstream.recv(65536):
                    pass  # let the emulator notice the short body and answer (or hang up)
            except OSError:
                pass

    def _reset(self) -> None:
        """Abort the client connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
