"""Each backend seen without the port: its SDK's own view, and the HTTP requests the port's adapter sends.

For the observation tests (``test_observed_storage.py``): what a backend does with a raw write, and
which request an adapter sends for a conditional write. Nothing is mocked: the probes talk to the
same emulators, and the request recorders watch requests on their way there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.storage import Storage
from tests import rigs

#: Rigs with no SDK below the port: nothing to observe there but the port itself.
NO_SDK = ("memory", "filesystem")


def rig_of(request: pytest.FixtureRequest) -> str:
    """The ``store`` rig the current test runs on."""
    return str(request.node.callspec.params["store"])


@dataclass(frozen=True)
class RawObject:
    """What the backend's own SDK reports for an object."""

    metadata: Mapping[str, str]
    etag_head: str
    etag_listed: str


def raw_put(request: pytest.FixtureRequest, store: Storage, key: str, metadata: Mapping[str, str]) -> None:
    """Write ``key`` with the backend's SDK, bypassing the adapter (and its name rules)."""
    rig = rig_of(request)
    if rig in NO_SDK:
        raise ValueError(f"{rig} has no SDK below the port")
    rigs.rig_of_store(rig).raw_put(request, store, key, metadata)


def raw_get(request: pytest.FixtureRequest, store: Storage, key: str) -> RawObject:
    """Read ``key`` back with the backend's SDK: metadata as stored, ETags as sent by HEAD and by LIST."""
    rig = rig_of(request)
    if rig in NO_SDK:
        raise ValueError(f"{rig} has no SDK below the port")
    result: RawObject = rigs.rig_of_store(rig).raw_get(request, store, key)
    return result


@dataclass
class RequestLog:
    """Requests seen on their way to the backend: method, URL query and conditional headers."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    def writes(self) -> list[dict[str, Any]]:
        """The requests that write an object (PUT, or POST uploads)."""
        return [r for r in self.requests if r["method"] in ("PUT", "POST")]

    def add(self, method: str, url: str, headers: Mapping[str, Any]) -> None:
        query = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
        conditions = {name: _text(value) for name, value in headers.items() if name.lower().startswith("if-")}
        self.requests.append({"method": method.upper(), "query": query, "conditions": conditions})


@contextmanager
def recorded_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[RequestLog]:
    """Record what the adapter sends (each rig knows where to listen: its SDK's hooks, ``requests``, or the
    system calls of the filesystem, whose "requests" are link and rename)."""
    log = RequestLog()
    with rigs.rig_of_store(rig_of(request)).record_requests(request, monkeypatch, log):
        yield log


@contextmanager
def record_http_requests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, log: RequestLog
) -> Iterator[None]:
    """Record every request sent through ``requests`` (the transport of several SDKs) during the block."""
    import requests

    original = requests.Session.request

    def recording(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        log.add(method, url, dict(kwargs.get("headers") or {}))
        return original(session, method, url, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(requests.Session, "request", recording)
        yield


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def status_of(exc: BaseException) -> str:
    """The HTTP status and service error code behind a translated storage error, e.g. ``412 PreconditionFailed``."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and "Error" in response:  # botocore ClientError
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return f"{status} {response['Error'].get('Code', '')}".strip()
        status = getattr(seen, "status_code", None) or getattr(seen, "code", None)
        if isinstance(status, int):
            code = getattr(seen, "error_code", None)
            code = getattr(code, "value", code) or type(seen).__name__  # an enum, or the class says it
            return f"{status} {code}"
        seen = seen.__cause__ or seen.__context__
    return f"{type(exc).__name__} raised in-process"


def shape(value: str) -> str:
    """A value's shape without its digits: ``"<32 hex>"``, ``0x<hex>``, ``<number>``, ``<base64>``."""
    quoted = value.startswith('"') and value.endswith('"')
    inner = value.strip('"')
    if inner in ("*", "0"):
        form = inner
    elif re.fullmatch(r"[0-9a-f]{32}(-\d+)?", inner):
        form = "<32 hex>"
    elif re.fullmatch(r"0x[0-9A-Fa-f]+", inner):
        form = "0x<hex>"
    elif inner.isdigit():
        form = "<number>"
    elif re.fullmatch(r"[A-Za-z0-9+/=_-]+", inner):
        form = "<base64>"
    else:
        form = "<opaque>"
    return f'"{form}"' if quoted else form
