"""One small HTTP client for every event target that is a POST: webhooks, Pub/Sub REST, Event Grid.

Standard library only (``urllib``): a timeout per attempt, a bounded number of attempts with
jittered exponential back-off on what a retry can fix (connection errors, timeouts, 408, 429, 5xx),
then :class:`core.errors.NotifyUnavailable`, which the platform retries. Other answers (401, 403,
404, 400) fail at once: retrying in-process cannot fix them, but the platform's retry, then its
dead-letter queue, keeps the event rather than losing it.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from core.errors import NotifyUnavailable

TIMEOUT = 5.0  # seconds per attempt: an event is small; a target this slow is down
ATTEMPTS = 3
BACKOFF = 0.25  # seconds before the second attempt; doubles, with full jitter
_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | Callable[[], Mapping[str, str]],
    what: str,
    timeout: float = TIMEOUT,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """POST ``body`` and return the answer's body.

    Args:
        url: Where to.
        body: The request body.
        headers: Headers, or a function returning them per attempt (a fresh signature or token).
        what: How to name the target in errors (never the URL's query or a token).
        timeout: Seconds per attempt.
        attempts: Attempts in all.
        backoff: Base delay between attempts.
        sleep: Injected by tests.

    Raises:
        NotifyUnavailable: every attempt failed, or the target refused the event.
    """
    problem = ""
    for attempt in range(attempts):
        if attempt:
            sleep(random.uniform(0, backoff * 2 ** (attempt - 1)))
        request = urllib.request.Request(  # noqa: S310 -- the scheme is checked at start (https, or http to loopback)
            url, data=body, method="POST", headers=dict(headers() if callable(headers) else headers)
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer: bytes = response.read()
                return answer
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
            if exc.code not in _RETRYABLE:
                raise NotifyUnavailable(f"{what} refused the event ({problem}); the platform will retry") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            problem = type(getattr(exc, "reason", exc)).__name__
    raise NotifyUnavailable(f"{what} unreachable after {attempts} attempts ({problem}); the platform will retry")


def describe(target: str) -> str:
    """A loggable form of a target URI: no query string, no user info (either may carry a token)."""
    if "://" in target:
        parts = urlsplit(target)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return target
