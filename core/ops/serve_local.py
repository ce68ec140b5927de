"""``polythumb serve SRC --out DEST``: the serve function on this machine, as a real HTTP server.

A stdlib :class:`~http.server.ThreadingHTTPServer` turns each request into a :class:`core.serve.ServeRequest`
and :func:`core.serve.handle_request`'s answer back into HTTP, nothing else: the same settings as
``polythumb run`` (``SRC`` is ``THUMBS_SERVE_SOURCE_BUCKET``, ``DEST`` ``THUMBS_DEST_BUCKET``), the same
pipeline, one JSON log line per request on stdout. Without ``THUMBS_PUBLIC_BASE_URL`` an output is answered
with its bytes (a browser follows nothing); with it, a ``302`` to the base URL and the key, e.g. a static server
of ``DEST``.

Threads are bounded (``--threads``): a connection that finds them all busy is answered ``503`` with
``Retry-After`` at once, from the accepting thread, so a burst of connections cannot start unbounded threads.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.runtime import FunctionRuntime
from core.serve import ServeRequest, handle_request, prepare

ROUTE = "local"
DEFAULT_THREADS = 32
#: The answer to a connection that finds every thread busy, written by the accepting thread.
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with at most ``threads`` requests handled at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime: FunctionRuntime, *, threads: int = DEFAULT_THREADS) -> None:
        self.runtime = runtime
        self._slots = threading.BoundedSemaphore(threads)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"


class _Handler(BaseHTTPRequestHandler):
    """Every method goes to the core, which answers 405 to all but GET and HEAD."""

    server: BoundedServer
    protocol_version = "HTTP/1.1"

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # BaseHTTPRequestHandler dispatches on do_<METHOD>
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a request body is never read: the connection cannot carry another request
        request = ServeRequest(self.command, path, query, headers)
        response = handle_request(self.server.runtime, request, route=ROUTE)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """The core logs each request as JSON; the stdlib's access line would only repeat it."""


def serve_forever(
    runtime: FunctionRuntime,
    *,
    host: str,
    port: int,
    threads: int = DEFAULT_THREADS,
    ready: Callable[[BoundedServer], None] | None = None,
) -> None:
    """Serve until interrupted. ``ready`` is called with the listening server (its URL) before the first request.

    Raises:
        ConfigError: a serve setting refused at start (:func:`core.serve.prepare`).
    """
    prepare(runtime)
    with BoundedServer((host, port), runtime, threads=threads) as server:
        if ready is not None:
            ready(server)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            print("polythumb serve: stopped", file=sys.stderr)
