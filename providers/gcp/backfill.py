"""The GCP backfill sink: one ``google.cloud.storage.object.v1.finalized`` CloudEvent POSTed per work item.

``polythumb backfill SRC --target gcp --sink-option url=https://<function URL>`` (or ``THUMBS_BACKFILL_URL``)
lists and compares on the laptop, then posts to the deployed function exactly what Eventarc posts for an
upload: a **binary-mode** CloudEvent (``ce-specversion``, ``ce-type``, ``ce-source``
``//storage.googleapis.com/projects/_/buckets/<bucket>``, ``ce-subject`` ``objects/<name>``, ``ce-id``,
``ce-time``, the ``ce-bucket`` extension) whose body is the object's resource (name, bucket, generation,
size, etag, as the listing reported them). ``handle_cloud_event`` handles it unchanged.

A post *is* the render: the function answers when the thumbnails are written, so the platform's
autoscaling follows the number of posts in flight. ``--workers`` bounds them (default 16; the deploy's
``max_instance_count`` x 1 request per instance is the useful ceiling), and ``--rate`` caps the pace.

Answers:

* 2xx: done;
* 408, 429 and 5xx (the function raises a transient error as 500; Cloud Run answers 429 when no instance
  is free) and connection errors/timeouts: retried by the driver with backoff;
* 401/403 (no, or an expired, identity token; no ``roles/run.invoker``) and 404 (no function at this URL)
  -- a caller the ingress setting refuses gets one of these too: the run stops, its checkpoint keeping
  what is done, since every other item would fail the same way;
* any other 4xx: that item goes to the dead-letter file.

**Identity token.** A function that does not allow unauthenticated calls needs
``Authorization: Bearer <ID token>`` whose audience is its URL: pass ``--sink-option id_token=<token>``
(``$(gcloud auth print-identity-token)``), or ``--sink-option id_token_file=PATH``, read again whenever
the file changes, so a long backfill survives the one-hour token lifetime if something rewrites it.
Fetching tokens from the metadata server or a service-account key is not implemented: it could not be
tested here (no metadata server, no network), so it is left to ``gcloud`` or the caller.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core import __version__
from core.errors import ConfigError, PermissionDenied
from core.events import ObjectEvent
from core.ops.backfill.dispatch import ItemOutcome, SendResult, SinkRequest, send_each
from providers.gcp import BACKFILL_URL, INSTALL_HINT
from providers.gcp.events import FINALIZED

#: The ``--sink-option`` keys this sink understands.
SINK_OPTIONS = ("url", "id_token", "id_token_file", "timeout")

#: Items per send of the driver, per worker thread (each item is one request).
ITEMS_PER_WORKER = 2

#: Seconds to wait for an answer: a post renders, so this must exceed the function's timeout (120 s deployed).
DEFAULT_TIMEOUT = 150.0
CONNECT_TIMEOUT = 10.0

_RETRYABLE = frozenset({408, 429})
_STOPPING = frozenset({401, 403, 404})
# CloudEvents HTTP binding: header values are percent-encoded outside printable ASCII, and '"' and '%'.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def object_resource(event: ObjectEvent) -> dict[str, Any]:
    """The Cloud Storage object resource of ``event``'s object, as the JSON API (and Eventarc) spell it."""
    resource: dict[str, Any] = {"kind": "storage#object", "name": event.key, "bucket": event.bucket}
    if event.version:
        resource["generation"] = event.version  # int64 fields are JSON strings in the JSON API
        resource["id"] = f"{event.bucket}/{event.key}/{event.version}"
    if event.size is not None:
        resource["size"] = str(event.size)
    if event.etag:
        resource["etag"] = event.etag
    if event.content_type:
        resource["contentType"] = event.content_type
    return resource


def cloud_event_headers(event: ObjectEvent) -> dict[str, str]:
    """The binary-mode CloudEvent headers of a ``finalized`` event for ``event``'s object."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{event.bucket}",
        "ce-subject": quote(f"objects/{event.key}", safe=_HEADER_SAFE),
        "ce-id": event.event_id or f"backfill-{event.bucket}-{event.version or event.etag or ''}",
        "ce-bucket": event.bucket,
        "Content-Type": "application/json",
    }
    if event.event_time:
        headers["ce-time"] = event.event_time
    return headers


class TokenSource:
    """The identity token: a fixed one, or the content of a file, read again whenever the file changes.

    Never logged, never part of an error message or a ``repr``.
    """

    def __init__(self, *, token: str | None = None, path: Path | None = None) -> None:
        self._token = (token or "").strip() or None
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        if path is not None:
            self.current()  # an unreadable file fails now, before any listing

    def __repr__(self) -> str:
        return "TokenSource(<hidden>)"

    def current(self) -> str | None:
        """The token to send now (None: send no Authorization header)."""
        if self._path is None:
            return self._token
        with self._lock:
            try:
                stat = self._path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                if stamp != self._stamp:
                    self._token, self._stamp = self._path.read_text(encoding="utf-8").strip() or None, stamp
            except OSError as exc:
                raise ConfigError(f"cannot read the identity token file {self._path} ({type(exc).__name__})") from None
            return self._token


class CloudEventSink:
    """POSTs one binary CloudEvent per work item to the function URL, ``workers`` at a time.

    Args:
        url: The function's URL (``https://...``; ``http://`` only on this machine, for the emulator).
        workers: Posts in flight at most.
        tokens: Where the identity token comes from (None: no Authorization header).
        timeout: Seconds to wait for one answer (the render happens within it).
    """

    def __init__(
        self, url: str, *, workers: int, tokens: TokenSource | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if not url.startswith("https://") and not url.startswith(("http://127.0.0.1", "http://localhost")):
            raise ConfigError(
                "the function URL must be https:// (an identity token is a bearer credential); "
                "plain http is accepted only on this machine, for the functions-framework emulator"
            )
        requests = _import_requests()
        from requests.adapters import HTTPAdapter

        self.url = url
        self._workers = max(1, workers)
        self._tokens = tokens
        self._timeout = (CONNECT_TIMEOUT, timeout)
        self._session = requests.Session()
        # One pooled connection per worker: every post reuses a kept-alive connection.
        self._session.mount(url, HTTPAdapter(pool_connections=1, pool_maxsize=self._workers, max_retries=0))
        self._session.headers["User-Agent"] = f"polythumb/{__version__} backfill"
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="polythumb-post")

    @property
    def max_batch_size(self) -> int:
        return self._workers * ITEMS_PER_WORKER

    def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
        """Post every event of ``batch``; report each."""
        token = self._tokens.current() if self._tokens is not None else None
        return send_each(self._pool, lambda event: self._post(event, token), batch)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._session.close()

    def _post(self, event: ObjectEvent, token: str | None) -> ItemOutcome:
        """None when done; (reason, retryable) when it failed; an exception that must stop the run."""
        import requests

        headers = cloud_event_headers(event)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(object_resource(event), ensure_ascii=False).encode("utf-8")
        try:
            response = self._session.post(self.url, data=body, headers=headers, timeout=self._timeout)
        except requests.Timeout:
            return ("timed out waiting for the function", True)
        except requests.RequestException as exc:  # connection refused, reset, DNS: the message names no secret
            return (f"{type(exc).__name__}: the function is unreachable", True)
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return None
        if status in _RETRYABLE or status >= 500:
            return (f"HTTP {status}", True)
        if status == 404:
            return ConfigError(
                "HTTP 404: no function answers at the backfill URL, or its ingress setting refuses this network "
                "(the deploy's is internal-only: see providers/gcp/README.md, Backfill)"
            )
        if status in _STOPPING:
            return PermissionDenied(
                f"HTTP {status}: the function refused the call; it needs an identity token for its URL "
                "(--sink-option id_token=... or id_token_file=...) of an account with roles/run.invoker on it, "
                "sent from a network its ingress setting lets in"
            )
        return (f"HTTP {status}: refused by the function", False)


def make_sink(request: SinkRequest) -> CloudEventSink:
    """The sink for ``polythumb backfill --target gcp`` (see :mod:`core.ops.backfill.dispatch`).

    Raises:
        ConfigError: no URL (``--sink-option url=...`` or ``THUMBS_BACKFILL_URL``), an unknown sink option,
            an unreadable token file or a bad timeout.
    """
    options = request.checked_options(SINK_OPTIONS)
    url = (options.get("url") or "").strip() or BACKFILL_URL.read(os.environ)
    if not url:
        raise ConfigError(
            f"--target gcp needs the function's URL: --sink-option url=<url> or {BACKFILL_URL.name} "
            "(Terraform output backfill_url)"
        )
    if options.get("id_token") and options.get("id_token_file"):
        raise ConfigError("give --sink-option id_token or id_token_file, not both")
    token_file = options.get("id_token_file")
    tokens = None
    if token_file or options.get("id_token"):
        tokens = TokenSource(token=options.get("id_token"), path=Path(token_file) if token_file else None)
    try:
        timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
    except ValueError:
        raise ConfigError("--sink-option timeout must be a number of seconds") from None
    if timeout <= 0:
        raise ConfigError("--sink-option timeout must be positive")
    return CloudEventSink(url, workers=int(request.workers or 16), tokens=tokens, timeout=timeout)


def _import_requests() -> Any:
    try:
        import requests
    except ImportError as exc:  # pragma: no cover - requests comes with google-cloud-storage
        raise ImportError(f"the GCP backfill needs requests: {INSTALL_HINT}") from exc
    return requests
