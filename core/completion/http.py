"""One small HTTP client for every event target that is a POST: webhooks, Pub/Sub REST, Event Grid.

Standard library only (``http.client``). Three bounds make a bad target cheap:

* **Redirects are never followed.** A 3xx answer is a failure naming its ``Location`` (without the
  query). Following it would turn the POST into a bodyless GET (301/302/303) that counts as delivered,
  carry the signature or bearer token to whatever host it names, and reach addresses (or plain http)
  the start-up checks refused.
* **One deadline per publish**: every attempt, its connect, send and each read, ends by it. A timeout per
  socket read alone lets a server dripping one byte per read hold a function for minutes.
* **A few KB of answer**: the body of a 2xx is read up to :data:`MAX_ANSWER` bytes, an error's not at all.

Within the deadline, what a retry can fix (connection errors, timeouts, 408, 425, 429, 5xx) is tried
again with jittered exponential back-off, at most :data:`ATTEMPTS` times; then
:class:`core.errors.NotifyUnavailable` (or :class:`core.errors.NotifyTimeout` when time ran out), which
the platform retries. Other answers (400, 401, 403, 404, a redirect) fail at once: retrying in-process
cannot fix them, but the platform's retry, then its dead-letter queue, keeps the event rather than
losing it.
"""

from __future__ import annotations

import http.client
import io
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

from core.completion.window import PUBLISH_BUDGET
from core.errors import NotifyTimeout, NotifyUnavailable

ATTEMPT_TIMEOUT = 5.0  # seconds one attempt may take (connect to last byte): an event is small
ATTEMPTS = 3
BACKOFF = 0.25  # seconds before the second attempt; doubles, with full jitter
MAX_ANSWER = 8 * 1024  # bytes of a 2xx answer read (Pub/Sub's message ids); the rest is never read
_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Answer:
    """What a target answered: its status, its ``Location`` (a redirect's), and at most a few KB of body."""

    status: int
    location: str | None
    body: bytes


def exchange(
    method: str,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    deadline: float,
    max_answer: int = MAX_ANSWER,
    error_body: bool = False,
) -> Answer:
    """One request, no redirect followed, over by ``deadline`` (``time.monotonic()`` seconds).

    ``error_body``: read (at most ``max_answer`` bytes of) a non-2xx answer's body too, for an API whose
    refusals say why in it; by default an error's body is never read.

    Raises:
        TimeoutError: the deadline passed (connecting, sending or reading).
        OSError: the connection failed (refused, reset, TLS, an answer that is not HTTP).
    """
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=_left(deadline),
                                                 context=_tls())  # fmt: skip
    elif parts.scheme == "http":
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=_left(deadline))
    else:
        raise ValueError(f"not an http(s) URL: {describe(url)}")
    try:
        connection.connect()
    except BaseException:
        connection.close()  # a socket whose TLS handshake failed
        raise
    sock = connection.sock
    try:
        connection.sock = _DeadlineSocket(sock, deadline)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=dict(headers))
        response = connection.getresponse()
        answer = response.read(max_answer) if error_body or 200 <= response.status < 300 else b""
        return Answer(response.status, response.getheader("Location"), answer)
    except http.client.HTTPException as exc:  # not an HTTP answer: a connection problem to the caller
        raise ConnectionError(f"not an HTTP answer ({type(exc).__name__})") from exc
    finally:
        connection.close()
        sock.close()  # here, not before: the rest of a long answer is never read


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | Callable[[], Mapping[str, str]],
    what: str,
    deadline: float | None = None,
    attempt_timeout: float = ATTEMPT_TIMEOUT,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """POST ``body`` and return (at most :data:`MAX_ANSWER` bytes of) the answer's body.

    Args:
        url: Where to.
        body: The request body.
        headers: Headers, or a function returning them per attempt (a fresh signature or token).
        what: How to name the target in errors (never the URL's query or a token).
        deadline: When the whole publish must be over (``time.monotonic()`` seconds); by default
            :data:`PUBLISH_BUDGET` from now.
        attempt_timeout: Longest one attempt may take.
        attempts: Attempts in all.
        backoff: Base delay between attempts.
        sleep: Injected by tests.

    Raises:
        NotifyTimeout: the deadline passed before the target took the event.
        NotifyUnavailable: the target refused or redirected the event, or every attempt failed.
    """
    end = time.monotonic() + PUBLISH_BUDGET if deadline is None else deadline
    problem, out_of_time = "no attempt", True
    for attempt in range(attempts):
        if attempt:
            delay = random.uniform(0, backoff * 2 ** (attempt - 1))
            if time.monotonic() + delay >= end:
                out_of_time = True
                break
            sleep(delay)
        now = time.monotonic()
        if now >= end:
            out_of_time = True
            break
        fresh = dict(headers() if callable(headers) else headers)
        try:
            answer = exchange("POST", url, body, headers=fresh, deadline=min(end, now + attempt_timeout))
        except TimeoutError:
            problem, out_of_time = "timed out", True
            continue
        except OSError as exc:
            problem, out_of_time = type(exc).__name__, False
            continue
        if 200 <= answer.status < 300:
            return answer.body
        if 300 <= answer.status < 400:
            where = describe(urljoin(url, answer.location)) if answer.location else "nowhere (no Location)"
            raise NotifyUnavailable(
                f"{what} answered HTTP {answer.status} redirecting to {where}; redirects are never followed (the "
                "event, its signature or token would go elsewhere): set the target to the final URL; the platform "
                "will retry"
            )
        problem, out_of_time = f"HTTP {answer.status}", False
        if answer.status not in _RETRYABLE:
            raise NotifyUnavailable(f"{what} refused the event ({problem}); the platform will retry")
    if out_of_time:
        raise NotifyTimeout(f"{what} did not take the event in time ({problem}); the platform will retry")
    raise NotifyUnavailable(f"{what} unreachable after {attempts} attempts ({problem}); the platform will retry")


def describe(target: str) -> str:
    """A loggable form of a target URI: no query string, no fragment, no user info (any may carry a token)."""
    scheme, sep, rest = target.partition(":")
    if sep and not rest.startswith("//"):  # scheme:rest (file:PATH, sns:ARN, eventgrid:https://...)
        return scheme + sep + (describe(rest) if "://" in rest else rest.partition("?")[0].partition("#")[0])
    parts = urlsplit(target)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # an invalid port: shown as written, still without user info
        port = ":" + parts.netloc.rpartition(":")[2]
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be POSTed to (None when it can): no host, an invalid port."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the URL has no host"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        return "the port must be a number from 1 to 65535"
    return None


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _DeadlineSocket:
    """A connected socket whose every send and read ends by one deadline (what ``http.client`` calls)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def arm(self) -> None:
        """Give the next socket operation what is left of the deadline (a TimeoutError when nothing is)."""
        self._sock.settimeout(_left(self._deadline))

    def sendall(self, data: Any) -> None:
        self.arm()
        self._sock.sendall(data)

    def recv_into(self, buffer: Any) -> int:
        self.arm()
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        """Nothing: http.client closes its connection before the answer is read; :func:`exchange` closes the socket."""


class _Reader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)
