"""What the serve tests share: in-memory buckets that count every request, and a runtime over them."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.errors import AlreadyExists, PreconditionFailed
from core.runtime import FunctionRuntime
from core.serve import ServeRequest, ServeResponse, handle_request
from core.storage import MemoryStorage, ObjectInfo, StoredObject
from tests.log_capture import JsonLogs

SOURCE, DEST = "originals", "thumbs"
#: A signing key's secret in tests (never a real one).
SECRET = "s" * 40
KEYS = f"k1:{SECRET}"


class CountedStore:
    """A MemoryStorage that counts each request (and each put that stored something, per key)."""

    def __init__(self, bucket: str) -> None:
        self.inner = MemoryStorage(bucket)
        self.calls: Counter[str] = Counter()
        self.stored: Counter[str] = Counter()  # key -> puts that wrote it
        self.before: dict[str, Callable[[str], None]] = {}  # request name -> called first (to inject a fault)
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self.inner.bucket

    def _count(self, name: str, key: str) -> None:
        with self._lock:
            self.calls[name] += 1
        if name in self.before:
            self.before[name](key)

    def head(self, key: str) -> ObjectInfo:
        self._count("head", key)
        return self.inner.head(key)

    def get(self, key: str) -> StoredObject:
        self._count("get", key)
        return self.inner.get(key)

    def put(self, key: str, body: bytes, **options: Any) -> ObjectInfo:
        self._count("put", key)
        try:
            info = self.inner.put(key, body, **options)
        except (AlreadyExists, PreconditionFailed):
            raise
        with self._lock:
            self.stored[key] += 1
        return info

    def delete(self, key: str) -> None:
        self._count("delete", key)
        self.inner.delete(key)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        self._count("list", prefix)
        return self.inner.list(prefix, page_size=page_size)

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


class Served:
    """A serve function over two counted in-memory buckets, its log captured."""

    def __init__(self, **settings: str) -> None:
        self.source, self.dest = CountedStore(SOURCE), CountedStore(DEST)
        self.stores = {SOURCE: self.source, DEST: self.dest}
        environ = {"THUMBS_DEST_BUCKET": DEST, "THUMBS_SERVE_SOURCE_BUCKET": SOURCE, "THUMBS_SIZES": "128x96,48x48",
                   **settings}  # fmt: skip
        self.logs = JsonLogs()
        self.runtime = FunctionRuntime(self.stores.__getitem__, environ=environ)  # type: ignore[arg-type]
        self.logs.attach()

    def upload(self, key: str, body: bytes, **metadata: str) -> ObjectInfo:
        return self.source.inner.put(key, body, content_type="image/jpeg", metadata=metadata)

    def request(
        self, method: str, key: str, query: str = "", headers: Mapping[str, str] | None = None, *, raw: bool = False
    ) -> ServeResponse:
        from urllib.parse import quote

        path = key if raw else "/" + quote(key)
        return handle_request(self.runtime, ServeRequest(method, path, query, dict(headers or {})), route="test")

    def requests(self) -> int:
        """Storage requests so far, both buckets."""
        return self.source.requests + self.dest.requests

    def close(self) -> None:
        self.logs.detach()

    def serve_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.logs.lines() if line.get("request") == "serve"]


def modules_loaded_by_importing(module: str, environ: Mapping[str, str]) -> set[str]:
    """The modules a fresh interpreter holds after importing ``module`` with ``environ`` (a function's cold start)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    keep = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "POLYTHUMB_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env={**keep, "PYTHONPATH": str(root), **environ},
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


#: What only the serve path loads: the event functions, which share a cold start with it, never pay for it.
SERVE_ONLY_MODULES = {"core.serve", "core.serve_paths", "core.serve_gate", "core.serve_signing", "core.serve_adhoc"}
#: The embedded backends (with their sidecars, tree walk and locks): a cloud function never stores locally.
LOCAL_BACKENDS = {"core.storage.filesystem", "core.storage.memory", "core.storage.sidecar", "core.storage.tree",
                  "core.storage.keylocks"}  # fmt: skip
#: The alerts and the runaway detector: read by the generators and ``polythumb stats``, never by a function.
DEPLOY_TIME_TABLES = {"core.alerts"}
#: Completion events, their targets, manifests and URLs: loaded only with THUMBS_NOTIFY, THUMBS_MANIFEST or
#: THUMBS_URL_MODE (the tests' defaults set none of them).
UNCONFIGURED_COMPLETION = {"core.completion.events", "core.completion.targets", "core.completion.http",
                           "core.completion.notify", "core.completion.urls", "core.completion.manifest",
                           "core.completion.placeholders"}  # fmt: skip
#: The automatic brakes (``brake_on_runaway``) and the brakes they run: loaded by their own function only, on its
#: first alert, even where it shares the event functions' app (Azure), or from its own source file (GCP).
AUTOMATIC_BRAKES = {"providers.aws.brake", "providers.aws.brake_function",
                    "providers.gcp.brake", "providers.gcp.brake_steps", "providers.gcp.brake_rest",
                    "providers.gcp.brake_function",
                    "providers.azure.brake", "providers.azure.brake_core", "providers.azure.brake_arm",
                    "providers.azure.brake_function"}  # fmt: skip
#: Nothing a cloud event function's cold start should load.
NOT_ON_AN_EVENT_COLD_START = (SERVE_ONLY_MODULES | LOCAL_BACKENDS | DEPLOY_TIME_TABLES | UNCONFIGURED_COMPLETION
                              | AUTOMATIC_BRAKES)  # fmt: skip
#: The metric table: only a provider that encodes metrics into the log line (AWS's EMF) loads it at cold start.
METRIC_TABLE = "core.metrics"


def event_cold_start(module: str, environ: Mapping[str, str]) -> set[str]:
    """The modules a cloud event entrypoint's cold start loads, checked to hold it and none of
    :data:`NOT_ON_AN_EVENT_COLD_START`."""
    loaded = modules_loaded_by_importing(module, environ)
    assert module in loaded and "core.pipeline" in loaded
    assert not NOT_ON_AN_EVENT_COLD_START & loaded, sorted(NOT_ON_AN_EVENT_COLD_START & loaded)
    return loaded
