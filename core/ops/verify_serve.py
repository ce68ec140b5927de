"""``polythumb verify``'s serve step (issue 23): a thumbnail requested before the upload function could make it.

When the deployment serves on first request, ``verify`` asks its serve URL for one output of the first image it
uploads, right after the upload returns (the upload function is still to receive the event: a queue's batching
window, Eventarc's or Event Grid's delivery), follows a redirect, and checks the image. Once the other samples'
thumbnails have appeared (so the upload function has handled this upload's event too), it checks the outputs the
request stored are the very objects they were: the event path found them current and wrote nothing.

How a request reaches the serve URL (a CDN, a signed call) is the provider's (:meth:`core.ops.deploy.Deployer.
serve_fetch`); this module only speaks HTTP.
"""

from __future__ import annotations

import http.client
import io
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urljoin

from core.imaging.geometry import Size, output_size
from core.imaging.types import Box, Fit
from core.storage.port import Storage, head_or_none

#: The header the serve function answers with: ``miss`` (this request rendered) or ``hit`` (it found the output).
CACHE_HEADER = "x-polythumb-cache"


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP response: status, headers (names in lower case), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    url: str = ""


#: A GET of an output key through the deployment's serve URL (redirects not followed).
ServeFetch = Callable[[str], HttpAnswer]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx comes back as it is: the step follows it itself, without the request's credentials


def http_get(url: str, headers: Mapping[str, str] | None = None, *, timeout: float = 60.0) -> HttpAnswer:
    """GET ``url`` once (no redirect followed); an HTTP error status is an answer, not an exception.

    Raises:
        OSError: the server could not be reached, or answered no HTTP (a broken URL says so too).
    """
    if not url.startswith(("http://", "https://")):
        raise OSError(f"not an http(s) URL: {url[:100]}")
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=dict(headers or {}), method="GET")  # noqa: S310 - http(s) only
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpAnswer(response.status, _lower(response.headers.items()), response.read(), url)
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, _lower(error.headers.items()), error.read(), url)
    except (http.client.HTTPException, ValueError) as error:  # no HTTP answer, or a URL it cannot send
        raise OSError(f"{type(error).__name__}: {error}") from error


def fetch_from(base_url: str, *, sign: Callable[[str], Mapping[str, str]] | None = None) -> ServeFetch:
    """A :data:`ServeFetch` asking ``base_url`` + the percent-encoded key, with the headers ``sign`` adds, if any."""
    base = base_url if base_url.endswith("/") else base_url + "/"

    def fetch(key: str) -> HttpAnswer:
        url = base + quote(key)
        return http_get(url, sign(url) if sign else None)

    return fetch


@dataclass
class ServedFirst:
    """What the first request got, and the outputs of its original as they were right after it.

    Attributes:
        checks: ``(name, passed, detail)`` of the request itself.
        stored: Output key -> (revision, last modified) right after the request; empty when it failed.
    """

    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    stored: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)


def request_first(
    fetch: ServeFetch, dest: Storage, *, output_key: str, outputs: list[str], expected: Size, box: Box, fit: Fit
) -> ServedFirst:
    """Ask for ``output_key`` through the serve URL, follow a redirect, check the image is the output.

    Args:
        fetch: The deployment's serve URL.
        dest: The destination, read right after (``outputs``: every output of the same original).
        output_key: The output asked for.
        outputs: Every output key of its original (the request renders them all).
        expected: The original's displayed size; ``box`` and ``fit`` the output's.
    """
    from PIL import Image

    name = "serve: first request"
    started = time.monotonic()
    try:
        answer = fetch(output_key)
        hop = ""
        if answer.status in (301, 302, 303, 307, 308) and answer.headers.get("location"):
            cache = answer.headers.get(CACHE_HEADER, "?")
            answer = http_get(urljoin(answer.url, answer.headers["location"]))
            hop = f"{_status_line(answer)} after a redirect, "
            answer = HttpAnswer(answer.status, {**answer.headers, CACHE_HEADER: cache}, answer.body, answer.url)
    except OSError as exc:
        return ServedFirst([(name, False, f"the serve URL did not answer: {exc}")])
    took = time.monotonic() - started
    if answer.status != 200:
        return ServedFirst([(name, False, f"{_status_line(answer)} for {output_key}: {answer.body[:200]!r}")])
    want = output_size(expected, box, fit)
    try:
        with Image.open(io.BytesIO(answer.body)) as image:
            got = image.size
    except (OSError, SyntaxError, ValueError) as exc:
        return ServedFirst([(name, False, f"not a readable image ({exc})")])
    cache = answer.headers.get(CACHE_HEADER, "?")
    who = {"miss": "rendered by the request", "hit": "the upload function was first"}.get(cache, f"cache {cache}")
    detail = f"{hop}{got[0]}x{got[1]} in {took:.1f} s, {who} ({CACHE_HEADER}: {cache})"
    served = ServedFirst([(name, got == want, detail if got == want else f"size {got}, expected {want}; {detail}")])
    for key in outputs:
        info = head_or_none(dest, key)
        if info is not None:
            served.stored[key] = (info.revision, info.last_modified)
    return served


def check_untouched(dest: Storage, served: ServedFirst) -> tuple[str, bool, str]:
    """Whether the outputs the request stored are the same objects now (the upload's event wrote none again)."""
    name = "serve: upload event writes nothing"
    if not served.stored:
        return name, False, "nothing to compare: the first request failed"
    changed = []
    for key, before in served.stored.items():
        info = head_or_none(dest, key)
        if info is None or (info.revision, info.last_modified) != before:
            changed.append(key)
    detail = f"rewritten: {', '.join(changed)}" if changed else f"{len(served.stored)} outputs unchanged"
    return name, not changed, detail


def _status_line(answer: HttpAnswer) -> str:
    return f"HTTP {answer.status}"


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers}
