"""Misbehaving HTTP targets on 127.0.0.1 for the completion tests: redirecting, dripping, hanging, flooding.

Each is a raw socket server (one thread per connection, daemon), so it can answer exactly as badly as a real
target might: no HTTP framework in between to tidy the bytes. Every server stops by itself when closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RawServer:
    """A TCP server that hands every accepted connection to ``serve(conn, server)``; records what it saw."""

    serve: Callable[[socket.socket, RawServer], None]
    connections: int = 0
    received: list[bytes] = field(default_factory=list)
    sent: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client gave up: what these servers are for
            self.serve(conn, self)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def read_request(conn: socket.socket, server: RawServer) -> bytes:
    """Read one request's head and body (by Content-Length) and record it."""
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    server.received.append(head + b"\r\n\r\n" + body)
    return head


def answering(status: int) -> Callable[[socket.socket, RawServer], None]:
    """Answers every request (any method) with ``status`` and an empty body."""

    def serve(conn: socket.socket, server: RawServer) -> None:
        read_request(conn, server)
        conn.sendall(f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())

    return serve


def redirecting(status: int, location: str) -> Callable[[socket.socket, RawServer], None]:
    """Answers every request with ``status`` and ``Location: location``."""

    def serve(conn: socket.socket, server: RawServer) -> None:
        read_request(conn, server)
        conn.sendall(f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())  # fmt: skip

    return serve


def dripping(interval: float) -> Callable[[socket.socket, RawServer], None]:
    """Reads the request, then sends a valid 200 answer one byte every ``interval`` seconds."""

    def serve(conn: socket.socket, server: RawServer) -> None:
        read_request(conn, server)
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        answer += b"{}"
        for byte in answer:
            if server.stopped:
                return
            conn.sendall(bytes([byte]))
            server.sent += 1
            time.sleep(interval)

    return serve


def hanging(conn: socket.socket, server: RawServer) -> None:
    """Reads the request and never answers (until the client leaves or the server stops)."""
    read_request(conn, server)
    conn.settimeout(0.2)
    while not server.stopped:
        try:
            if not conn.recv(1):
                return
        except TimeoutError:
            continue


def flooding(size: int) -> Callable[[socket.socket, RawServer], None]:
    """Answers 200 with a body of ``size`` bytes, sent as fast as the client reads it."""

    def serve(conn: socket.socket, server: RawServer) -> None:
        read_request(conn, server)
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
        chunk = b"0" * 65536
        while server.sent < size and not server.stopped:
            conn.sendall(chunk)
            server.sent += len(chunk)

    return serve
