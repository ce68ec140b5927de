"""The serve function: a miss handler, not an image API (``SERVE_CONTRACT.md``; docs/serve.md).

A ``GET`` or ``HEAD`` of a path that is an output key polythumb would write (a profile's thumbnail, or a
manifest) is answered with that output: a ``302`` to its URL (``THUMBS_URL_MODE``: the public base URL or a
signed URL), or its bytes (no URL mode, or ``THUMBS_SERVE_INLINE_MAX``). An output that exists is answered
without a render; a missing one is rendered first, by the upload path's own pipeline
(:func:`core.delivery.handle`: filter, loop guard, limits before decoding, conditional create-only puts,
provenance, the completion event), so a request and the upload event share each output's identity and
together write it once. A path that is no configured output is ``404`` without a storage request.

Signed ad-hoc outputs (``THUMBS_SERVE_ADHOC``, :mod:`core.serve_adhoc`) are the only way to sizes, fits and
formats outside the profiles: unsigned, tampered, expired or over a limit is ``403`` before any storage request.

Answers, every one with ``X-Content-Type-Options: nosniff``:

=====  ==============================================================================================
200    the output's bytes (``Content-Type``, the thumbnail's ``Cache-Control``, ``ETag``); 304 when ``If-None-Match``
       names it
302    ``Location``: the output's URL, ``Cache-Control: no-store`` (a CDN never caches the hop; a signed URL expires)
403    a signed ad-hoc request refused (or ad-hoc outputs are off)
404    no such output (``Cache-Control: public, max-age=60``): not an output key, a source missing, filtered,
       or itself a polythumb output
405    a method other than GET and HEAD (``Allow: GET, HEAD``)
409    the key belongs to another existing source (``output_conflict``)
414    a path (or query) longer than any output key
422    the source exists but polythumb refuses it (not an image, over THUMBS_MAX_PIXELS/BYTES...), cached 60 s
500    a setting or a grant to fix, or a bug (logged at ERROR)
503    ``Retry-After``: every render slot is busy (THUMBS_SERVE_CONCURRENCY) or storage failed for now
=====  ==============================================================================================

Responses carry ``X-Polythumb-Cache: hit`` (nothing written by this request) or ``miss`` (it rendered and
wrote), and after a render ``X-Polythumb-Written: N``, the thumbnails this request stored. Every request is
logged as one JSON line (route, method, path, ``http_status``, ``served``, ``refusal``...; never the
query); a render also logs its pipeline outcome, as an event delivery does.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from core.completion.manifest import manifest_params
from core.delivery import INTERNAL_ERROR, Result, handle
from core.errors import ConfigError, InvalidKey, PermissionDenied, PolythumbError, TransientError
from core.events import ObjectEvent
from core.keys import Provenance
from core.outcome import Action, Outcome, OutputRecord, Status
from core.profiles import Output
from core.serve_adhoc import AdhocRefused, adhoc_output, is_adhoc, read_params, spec_of
from core.serve_gate import Busy, Gate
from core.serve_paths import Lookup, ReverseIndex
from core.serve_signing import verify
from core.storage.port import ObjectInfo, Storage, head_or_none
from core.storage.validation import check_key

if TYPE_CHECKING:
    from core.runtime import FunctionRuntime

ALLOWED_METHODS = ("GET", "HEAD")
#: Longest percent-encoded path and query accepted (an output key is at most 1024 bytes of UTF-8: 3 KiB encoded).
MAX_RAW_PATH = 4096
MAX_QUERY = 2048
MAX_QUERY_FIELDS = 16
#: Sources one listing may return before the search stops (a listing is one request).
MAX_LISTED = 100
NEGATIVE_CACHE = "public, max-age=60"
NO_STORE = "no-store"
RETRY_AFTER_SECONDS = 1
CACHE_HEADER = "X-Polythumb-Cache"
WRITTEN_HEADER = "X-Polythumb-Written"
_LOGGED = 200  # longest path logged
_FOREIGN = "not_polythumb"


@dataclass(frozen=True)
class ServeRequest:
    """One HTTP request, as an adapter received it.

    Attributes:
        method: ``GET``, ``HEAD``, ... as received.
        raw_path: The path as on the wire, percent-encoded, after the platform's mount prefix (decoded here once).
        query: The raw query string, without ``?``.
        headers: Request headers, names in lower case.
    """

    method: str
    raw_path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeResponse:
    """The answer, for the adapter to send: ``body`` is empty for HEAD (its ``Content-Length`` is the GET's)."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass
class _Answer:
    """A response and what its log line says about it."""

    response: ServeResponse
    served: str  # bytes | redirect | not_modified | refused | error
    fields: dict[str, Any] = field(default_factory=dict)
    exception: BaseException | None = None  # a bug's, logged with its traceback

    @property
    def level(self) -> int:
        """ERROR for a 5xx that needs fixing, WARNING for one that passes (503), INFO otherwise."""
        status = self.response.status
        return logging.WARNING if status == 503 else logging.ERROR if status >= 500 else logging.INFO


def handle_request(runtime: FunctionRuntime, request: ServeRequest, *, route: str) -> ServeResponse:
    """Answer one request with ``runtime`` (the container's); never raises. Logs one line per request.

    Args:
        runtime: The runtime the entrypoint built once per container (:func:`prepare` checked its settings).
        request: The request.
        route: The entrypoint's name, logged (``function_url``, ``http``, ``local``...).
    """
    started = time.perf_counter()
    try:
        answer = _server(runtime).answer(request, route)
    except TransientError as exc:
        answer = _error(503, "storage_unavailable", exc, retry=True)
    except (PermissionDenied, ConfigError) as exc:  # a grant or a setting to fix: not retried by waiting
        answer = _error(500, exc.kind, exc)
    except Exception as exc:  # a bug: logged with its traceback
        answer = _error(500, INTERNAL_ERROR, exc)
        answer.exception = exc
    _log(runtime, request, route, answer, started)
    response = answer.response
    if request.method == "HEAD" and response.body:
        response = replace(response, body=b"")
    return response


def prepare(runtime: FunctionRuntime) -> None:
    """Check the serve settings and build what requests share, once per container (an entrypoint's cold start).

    Raises:
        ConfigError: THUMBS_SERVE_SOURCE_BUCKET unset, or a key template no path can be read back through
            (:func:`core.serve_paths.check_reversible`), naming the setting.
    """
    _server(runtime)


# -- the server of one runtime ----------------------------------------------------------------------------------

_servers: weakref.WeakKeyDictionary[FunctionRuntime, _Server] = weakref.WeakKeyDictionary()
_servers_lock = threading.Lock()


def _server(runtime: FunctionRuntime) -> _Server:
    with _servers_lock:
        server = _servers.get(runtime)
        if server is None:
            server = _servers[runtime] = _Server(runtime)
        return server


class _Server:
    """What one container's requests share: the settings, the reverse index, the render gate."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        config = runtime.config
        if not config.serve_source_bucket:
            raise ConfigError(
                "THUMBS_SERVE_SOURCE_BUCKET is not set: name the bucket or container the originals are in (the "
                "upload function's source), so a requested thumbnail can be rendered from its original"
            )
        if not config.dest_bucket:
            raise ConfigError("THUMBS_DEST_BUCKET is not set: name the bucket or container the thumbnails are in")
        self.runtime = runtime
        self.config = config
        self.index = ReverseIndex(config.profiles, manifest_key=config.manifest_key if config.manifest else None)
        self.gate: Gate[Result] = Gate(config.serve_concurrency)
        self.source_bucket = config.serve_source_bucket
        self.dest_bucket = config.dest_bucket

    @property
    def source(self) -> Storage:
        return self.runtime.thumbnailer.store(self.source_bucket)

    @property
    def dest(self) -> Storage:
        return self.runtime.thumbnailer.store(self.dest_bucket)

    def answer(self, request: ServeRequest, route: str) -> _Answer:
        """The answer to ``request`` (raises only storage and configuration errors, and bugs)."""
        if request.method not in ALLOWED_METHODS:
            return _refuse(405, "method", {"Allow": ", ".join(ALLOWED_METHODS)})
        if len(request.raw_path) > MAX_RAW_PATH or len(request.query) > MAX_QUERY:
            return _refuse(414, "too_long")
        key = _decoded_key(request.raw_path)
        if isinstance(key, _Answer):
            return key
        try:
            pairs = parse_qsl(request.query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            return _refuse(414, "too_long", path=key)
        if is_adhoc(name for name, _ in pairs):
            return self._adhoc(request, key, pairs, route)
        return self._profile_output(request, key, route)

    # -- a profile's output -------------------------------------------------------------------------------------

    def _profile_output(self, request: ServeRequest, key: str, route: str) -> _Answer:
        lookup = self.index.lookup(key)
        if not lookup:
            return _not_found("not_an_output", key)
        info = head_or_none(self.dest, key)
        owner = None
        if info is not None:
            provenance = Provenance.from_metadata(info.metadata)
            if provenance is None:  # never answered with an object polythumb did not write
                return _not_found(_FOREIGN, key)
            if self._current(key, provenance):
                return self._deliver(request, key, info, written=None, source=provenance.source_key)
            owner = provenance.source_key  # stale (settings changed): its owner renders it again first
        source = self._find_source(lookup, owner)
        if source is None:
            return _not_found("source_missing", key)
        return self._render(request, key, source, route=route)

    def _current(self, key: str, provenance: Provenance) -> bool:
        """Whether the output at ``key`` was rendered with today's settings for the source it records."""
        source = provenance.source_key
        output = self.index.output_for(key, source)
        if output is not None:
            return provenance.params == output.params
        return self.index.is_manifest_of(key, source) and provenance.params == manifest_params(self.config, source)

    def _find_source(self, lookup: Lookup, owner: str | None) -> str | None:
        """The source to render ``lookup.key`` from: the output's recorded owner, then each candidate in order,
        then each listing; None when none exists. A single candidate is left to the pipeline to look up."""
        candidates = list(lookup.sources)
        if owner is not None and self.index.renders(lookup.key, owner):
            candidates = [owner, *(source for source in candidates if source != owner)]
        if len(candidates) == 1 and not lookup.listings:
            return candidates[0]  # the pipeline's own head says whether it exists: no second request
        for source in candidates:
            if head_or_none(self.source, source) is not None:
                return source
        for prefix in lookup.listings:
            for listed in itertools.islice(self.source.list(prefix, page_size=MAX_LISTED), MAX_LISTED):
                if self.index.renders(lookup.key, listed.key):
                    return listed.key
        return None

    # -- a signed ad-hoc output ---------------------------------------------------------------------------------

    def _adhoc(self, request: ServeRequest, key: str, pairs: Iterable[tuple[str, str]], route: str) -> _Answer:
        config = self.config
        if not config.serve_adhoc:
            return _refuse(403, "adhoc_off", path=key)
        try:
            params = read_params(pairs)
            spec = spec_of(params, max_edge=config.serve_adhoc_max_edge, max_pixels=config.max_pixels)
            refused = verify(config.serve_keys, key, params)
            if refused is not None:
                raise AdhocRefused(refused, "the signature does not match")
            left = int(params["exp"]) - time.time()
            if left <= 0:
                raise AdhocRefused("expired", "the signed URL has expired")
            if left > config.serve_signed_max_ttl:
                raise AdhocRefused("expiry_too_far", "the signed URL expires later than THUMBS_SERVE_SIGNED_MAX_TTL")
            output = adhoc_output(config.serve_adhoc_prefix, key, spec, strip_metadata=config.strip_metadata)
        except AdhocRefused as exc:
            return _refuse(414 if exc.reason == "too_long" else 403, exc.reason, path=key)
        if not config.profiles.is_selected(key):
            return _not_found("filtered", key)
        return self._render(request, output.key, key, route=route, outputs=(output,))

    # -- rendering and answering --------------------------------------------------------------------------------

    def _render(
        self, request: ServeRequest, key: str, source: str, *, route: str, outputs: tuple[Output, ...] | None = None
    ) -> _Answer:
        """Render ``source`` through the pipeline (one render per source at a time here), then answer ``key``."""
        event = ObjectEvent.created(self.source_bucket, source)
        try:
            result, ran = self.gate.run(
                (source, outputs), lambda: handle(self.runtime, event, {"route": route}, outputs=outputs)
            )
        except Busy:
            return _busy(key)
        outcome = result.outcome
        record = _record_of(outcome, key) if outcome is not None else None
        written = _written(outcome) if ran and outcome is not None else 0
        if record is not None and record.action in (Action.WRITTEN, Action.UNCHANGED):
            info = head_or_none(self.dest, key)
            if info is None:  # deleted again meanwhile (its source was): the next request renders it anew
                return _busy(key)
            return self._deliver(request, key, info, written=written, source=source)
        if result.status is Status.ERROR or outcome is None:
            return self._after_error(request, key, result.error, source)
        if outcome.status is Status.FAILED:
            kind = outcome.error_kind or "failed"
            if kind == "output_conflict":
                return _refuse(409, kind, path=key, source=source)
            if kind == "invalid_key":
                return _not_found(kind, key)
            return _refuse(422, kind, cache=NEGATIVE_CACHE, path=key, source=source)
        return _not_found(str(outcome.reason or "source_missing"), key, source=source)

    def _after_error(self, request: ServeRequest, key: str, error: Exception | None, source: str) -> _Answer:
        """The render did not end (a transient error, or its completion event could not be published): answer
        with the output if it was stored anyway, else say why."""
        info = head_or_none(self.dest, key)
        provenance = Provenance.from_metadata(info.metadata) if info is not None else None
        if info is not None and provenance is not None and self._current(key, provenance):
            return self._deliver(request, key, info, written=None, source=source)
        if isinstance(error, TransientError):
            return _error(503, error.kind, error, retry=True)
        kind = error.kind if isinstance(error, PolythumbError) else INTERNAL_ERROR
        return _error(500, kind, error)

    def _deliver(
        self, request: ServeRequest, key: str, info: ObjectInfo, *, written: int | None, source: str
    ) -> _Answer:
        """The output at ``key``: a redirect to its URL, or its bytes. ``written``: what this request's render
        stored (None: no render ran)."""
        headers = {CACHE_HEADER: "miss" if written else "hit"}
        if written is not None:
            headers[WRITTEN_HEADER] = str(written)
        fields: dict[str, Any] = {"path": key, "source": source, "cache": headers[CACHE_HEADER]}
        if written is not None:
            fields["written"] = written
        urls, inline = self.runtime.completion.urls, self.config.serve_inline_max
        if urls.enabled and not (inline and info.size <= inline):
            url = urls.url(self.dest, key)
            if url is not None:
                return _Answer(_response(302, {**headers, "Location": url, "Cache-Control": NO_STORE}), "redirect",
                               fields)  # fmt: skip
        etag = f'"{info.etag}"'
        headers.update({"ETag": etag, "Cache-Control": info.cache_control or self.config.cache_control})
        if etag in _etags(request.headers.get("if-none-match", "")):
            return _Answer(_response(304, headers), "not_modified", fields)
        body = b""
        if request.method != "HEAD":
            stored = self.dest.get(key)
            info, body = stored.info, stored.body
            headers["ETag"] = f'"{info.etag}"'
        headers["Content-Type"] = info.content_type or "application/octet-stream"
        return _Answer(_response(200, headers, body, length=info.size), "bytes", fields)


# -- helpers ------------------------------------------------------------------------------------------------------


def _decoded_key(raw_path: str) -> str | _Answer:
    """The key a raw path names (decoded once, without the one leading ``/``), or the refusal."""
    path = raw_path[1:] if raw_path.startswith("/") else raw_path
    try:
        key = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return _not_found("not_an_output", raw_path[:_LOGGED])
    if not key or any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        return _not_found("not_an_output", raw_path[:_LOGGED])
    try:
        check_key(key)
    except InvalidKey:
        return _refuse(414, "too_long", path=raw_path[:_LOGGED])
    return key


def _record_of(outcome: Outcome, key: str) -> OutputRecord | None:
    records = [*outcome.outputs, *([outcome.manifest] if outcome.manifest is not None else [])]
    return next((record for record in records if record.key == key), None)


def _written(outcome: Outcome) -> int:
    return sum(1 for record in outcome.outputs if record.action is Action.WRITTEN)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _response(
    status: int, headers: Mapping[str, str], body: bytes = b"", *, length: int | None = None
) -> ServeResponse:
    size = str(len(body) if length is None else length)
    return ServeResponse(status, {**headers, "Content-Length": size, "X-Content-Type-Options": "nosniff"}, body)


def _plain(status: int, text: str, headers: Mapping[str, str]) -> ServeResponse:
    """A short text answer (what curl shows), e.g. ``404 Not Found: source missing``."""
    body = f"{status} {HTTPStatus(status).phrase}: {text}\n".encode()
    return _response(status, {**headers, "Content-Type": "text/plain; charset=utf-8"}, body)


def _refuse(
    status: int, reason: str, headers: Mapping[str, str] | None = None, *, cache: str = NO_STORE, **fields: Any
) -> _Answer:
    response = _plain(status, reason.replace("_", " "), {"Cache-Control": cache, **(headers or {})})
    return _Answer(response, "refused", {"refusal": reason, **fields})


def _not_found(reason: str, path: str, **fields: Any) -> _Answer:
    """404, cached briefly: the same request within a minute is answered by a CDN or the browser."""
    return _refuse(404, reason, cache=NEGATIVE_CACHE, path=path, **fields)


def _busy(path: str) -> _Answer:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return _refuse(503, "busy", headers, path=path)


def _error(status: int, kind: str, error: BaseException | None, *, retry: bool = False) -> _Answer:
    headers = {"Cache-Control": NO_STORE, **({"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else {})}
    message = f"{type(error).__name__}: {error}" if error is not None else kind
    return _Answer(_plain(status, "unavailable" if retry else "error", headers), "error",
                   {"error_kind": kind, "error_message": message[:1000]})  # fmt: skip


def _log(runtime: FunctionRuntime, request: ServeRequest, route: str, answer: _Answer, started: float) -> None:
    """The request's one log line (the path shortened, never the query: it may hold a signature)."""
    status = answer.response.status
    fields = {
        "route": route,
        "request": "serve",
        "method": request.method[:16],
        "path": request.raw_path,
        **answer.fields,
        "http_status": status,
        "served": answer.served,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    fields["path"] = str(fields["path"])[:_LOGGED]
    detail = f" ({fields['refusal']})" if "refusal" in fields else ""
    if "error_kind" in fields:
        detail = f" [{fields['error_kind']}]"
    runtime.logger.log(
        answer.level, "serve %s %s -> %s%s", fields["method"], fields["path"], status, detail,
        exc_info=answer.exception, extra={"fields": fields},
    )  # fmt: skip
