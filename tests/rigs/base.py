"""What the rigs of every platform share; each platform's own rig lives in its rig module.

Two shapes, both fed by one rig module per platform (``tests/rigs/local.py``,
``tests/providers/<cloud>/rig.py``):

* :class:`EntrypointRig` (the end-to-end suite): the platform's real event path and entrypoint, each
  delivery reported as the platform would see it (:class:`DeliveryReport`);
* :class:`FaultRig` (the reliability suite): the provider's function with its storage traffic going
  through a :class:`~tests.reliability.faultproxy.FaultProxy`, each delivery an :class:`Attempt`.

:class:`RigModule` lists what a rig module provides; :class:`Schedule` is an adapter's documented retry
schedule; :class:`BackfillRig` drives the kill-and-resume backfill scenario.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pytest

from core import registry
from core.config import Config, load_config
from core.errors import TransientError
from core.events import EventKind
from core.keys import (
    META_BOX,
    META_PARAMS,
    META_SOURCE,
    META_SOURCE_BUCKET,
    META_SOURCE_REVISION,
    META_VERSION,
    decode_meta_value,
    is_polythumb_output,
)
from core.ops.backfill.dispatch import SinkRequest
from core.runtime import FunctionRuntime
from core.storage.port import ObjectInfo, Storage, StoredObject
from tests.reliability.faultproxy import FaultProxy, Rule

if TYPE_CHECKING:  # the contract suite's helpers import the rig registry, which imports this module's users
    from tests.contract.raw import RawObject, RequestLog

# -- end to end ----------------------------------------------------------------------------------

#: The settings every entrypoint runs with (plus its own THUMBS_DEST_BUCKET): not the defaults, so
#: the tests prove the settings reach each platform's function.
SETTINGS: Mapping[str, str] = {"THUMBS_SIZES": "160x120,48x48", "THUMBS_CACHE_CONTROL": "public, max-age=3600"}

#: Seconds a rig waits for the platform's event to show up (a watcher scan, an SQS message).
EVENT_TIMEOUT = 15.0


@dataclass(frozen=True)
class DeliveryReport:
    """What happened to one delivery, as the platform saw it (the test's view; polythumb's own answer to a
    delivery is :class:`core.delivery.Delivery`).

    Attributes:
        acknowledged: True when the platform would not deliver it again (SQS message not in
            ``batchItemFailures``, HTTP 2xx, the function returned); False means it retries.
        status: polythumb's outcome (``ok``, ``skipped``, ``failed``), from its log record or result.
        reason: Why it was skipped, if it was.
        error_kind: The permanent error's kind, if it failed.
        key: The key as the entrypoint decoded it from the envelope (from its outcome).
        envelope: The raw forms of the key found in the envelope, by field name.
        handler_ms: Time spent in the function (the invocation, or the HTTP request).
        answer: What the function answered the platform, in the platform's terms.
        written: How many thumbnails the delivery stored (from its outcome's outputs); None when unknown.
    """

    acknowledged: bool
    status: str | None = None
    reason: str | None = None
    error_kind: str | None = None
    key: str | None = None
    envelope: Mapping[str, str] = field(default_factory=dict)
    handler_ms: float = 0.0
    answer: str = ""
    written: int | None = None

    @property
    def verdict(self) -> str:
        """``acknowledged`` or ``retry``: what the platform does next."""
        return "acknowledged" if self.acknowledged else "retry"


class EntrypointRig:
    """An entrypoint rig of the end-to-end suite: one platform's real event path, under a test's own prefix.

    Subclasses implement ``upload``, ``deliver_created`` and ``deliver_deleted``; the rest is shared.
    """

    name = "rig"

    def __init__(self, *, source: Storage, dest: Storage, settings: Mapping[str, str], provider: str | None):
        self.prefix = f"e2e-{uuid.uuid4().hex[:10]}"
        self._source = source
        self._dest = dest
        self.source_bucket = source.bucket
        self.dest_bucket = dest.bucket
        own = registry.get(provider).function_settings if provider else ()  # as the entrypoint reads them
        self._config = load_config(settings, extra_settings=own)
        self.deliveries: list[DeliveryReport] = []

    @property
    def config(self) -> Config:
        return self._config

    @property
    def delivery_result(self) -> DeliveryReport:
        assert self.deliveries, "nothing was delivered yet"
        return self.deliveries[-1]

    @property
    def handler_ms(self) -> float:
        return sum(delivery.handler_ms for delivery in self.deliveries)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def read_outputs(self) -> dict[str, ObjectInfo]:
        found = {}
        for listed in self._dest.list(f"{self.prefix}/"):
            info = self._dest.head(listed.key)  # listings may lack metadata (S3)
            if is_polythumb_output(info.metadata):
                found[info.key] = info
        return found

    def read_body(self, key: str) -> bytes:
        return self._dest.get(key).body

    def source_info(self, key: str) -> ObjectInfo:
        return self._source.head(key)

    def _record(self, delivery: DeliveryReport) -> DeliveryReport:
        self.deliveries.append(delivery)
        return delivery

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines the function wrote about this rig's objects, as the platform receives them."""
        raise NotImplementedError

    def deliver_rewritten(self, key: str) -> DeliveryReport:
        """Deliver the event of ``key``'s latest write (an upload over an existing key: a new revision with a
        notification of its own), where ``deliver_created`` delivers the first write's event again."""
        raise NotImplementedError(f"the {self.name} rig cannot deliver a rewrite's own event")

    def remove_outputs(self) -> int:
        """Delete every thumbnail of this rig's objects (something removing them as they are written); how many."""
        outputs = list(self.read_outputs())
        for key in outputs:
            self._dest.delete(key)
        return len(outputs)

    def _own(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The records about this rig's objects (its keys start with its prefix)."""
        return [dict(r) for r in records if str(r.get("key", "")).startswith(f"{self.prefix}/")]

    def serve(
        self, method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One HTTP request through the platform's real serve entrypoint: ``(status, headers, body)``.

        The optional ``serve`` capability (a rig module declares ``CAPABILITIES = ("serve",)``): ``path`` is the
        raw, percent-encoded path of an output key, with its leading ``/``; the serve function runs with this
        rig's settings and ``THUMBS_SERVE_SOURCE_BUCKET`` set to its source bucket. Header names in the answer
        are as the platform sends them (compare them case-insensitively).
        """
        raise NotImplementedError(f"the {self.name} rig has no serve entrypoint")

    def close(self) -> None:
        """Nothing to stop by default."""


def guess_content_type(key: str, given: str | None) -> str:
    if given:
        return given
    return "image/png" if key.lower().endswith(".png") else "image/jpeg"


def outcome_fields(record: Mapping[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return {}
    return {
        "status": record.get("status"),
        "reason": record.get("reason"),
        "error_kind": record.get("error_kind"),
        "key": record.get("key"),
        "written": sum(1 for output in record.get("outputs") or () if output.get("action") == "written"),
    }


def cold_start(module: str) -> ModuleType:
    """Import ``module`` afresh, as a new worker process would."""
    sys.modules.pop(module, None)
    return importlib.import_module(module)


# -- reliability -------------------------------------------------------------------------------

SIZES = "64x64,32x32"
THUMBNAIL_METADATA = (META_SOURCE, META_SOURCE_BUCKET, META_SOURCE_REVISION, META_BOX, META_PARAMS, META_VERSION)


@dataclass
class Notification:
    """One event the platform delivers (and may deliver again)."""

    key: str
    kind: EventKind
    payload: Any
    ident: str


@dataclass
class Attempt:
    """What one delivery ended as, from the platform's side."""

    retry: bool
    error: BaseException | None = None


@dataclass
class FaultRig:
    """A reliability rig: one provider's function, its storage traffic through a :class:`FaultProxy`.

    Subclasses give the request patterns of the function's traffic, the provider's throttling answer,
    how a runtime is built (its clients pointed at the proxy), how notifications are captured and delivered.
    """

    provider: str
    proxy: FaultProxy
    source: str
    dest: str
    direct: Callable[[str], Storage]
    settings: dict[str, str] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    #: The partial batch response of the last batch delivered (platforms with ``partial_batch``).
    last_batch_response: dict[str, Any] = field(default_factory=dict)
    #: Whether the platform delivers batches answered by a partial batch response naming the failures.
    partial_batch: ClassVar[bool] = False

    #: Request patterns of the function's traffic, for fault rules: name -> (method, target regex), the
    #: regex a template of ``{source}``, ``{dest}`` (the buckets) and ``{account}``.
    patterns: ClassVar[dict[str, tuple[str, str]]] = {}
    account: ClassVar[str] = ""

    def _pattern(self, name: str) -> tuple[str, str]:
        method, target = self.patterns[name]
        return method, target.format(source=self.source, dest=self.dest, account=self.account)

    def source_read(self) -> tuple[str, str]:
        """The download of a source object."""
        return self._pattern("source_read")

    def dest_write(self) -> tuple[str, str]:
        """The upload of a thumbnail."""
        return self._pattern("dest_write")

    def source_head(self) -> tuple[str, str]:
        """The metadata read of a source object (the pipeline's first request)."""
        return self._pattern("source_head")

    def throttle(self) -> Rule:
        """The provider's own throttling answer."""
        raise NotImplementedError

    def plant_credentials(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """Give the function credentials an SDK error message could echo; return the secrets to look for."""
        raise NotImplementedError

    def malformed(self, template: Notification, ident: str) -> Any:
        """A payload shaped like ``template``'s that the entrypoint must refuse as malformed."""
        raise NotImplementedError

    # -- set-up --------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return load_config({"THUMBS_DEST_BUCKET": self.dest, "THUMBS_SIZES": SIZES, **self.settings})

    def configure(self, **settings: str) -> None:
        """Further THUMBS_* settings for the function (a new runtime is built)."""
        self.settings.update(settings)
        self._runtime: FunctionRuntime | None = None

    def runtime(self) -> FunctionRuntime:
        """The function instance deliveries go to (one warm container)."""
        if getattr(self, "_runtime", None) is None:
            self._runtime = self.new_runtime()
        assert self._runtime is not None
        return self._runtime

    def new_runtime(self) -> FunctionRuntime:
        """Another function instance (its own storage client), as a concurrent container would be."""
        environ = {"THUMBS_DEST_BUCKET": self.dest, "THUMBS_SIZES": SIZES, **self.settings}
        return self._build_runtime(environ)

    def _build_runtime(self, environ: Mapping[str, str]) -> FunctionRuntime:
        raise NotImplementedError

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> Notification:
        """Write a source object (directly) and return the created notification the platform emits."""
        raise NotImplementedError

    def delete(self, key: str) -> Notification:
        """Delete a source object (directly) and return the deleted notification."""
        raise NotImplementedError

    # -- delivery ----------------------------------------------------------------------

    def deliver(self, notification: Notification, runtime: FunctionRuntime | None = None) -> Attempt:
        """Deliver one notification to the function (or to ``runtime``), once."""
        [result] = self.deliver_batch([notification], runtime)
        return result

    def deliver_batch(self, notifications: list[Notification], runtime: FunctionRuntime | None = None) -> list[Attempt]:
        """Deliver several notifications (one batch where the platform batches; one by one elsewhere)."""
        return [self._deliver_one(n, runtime or self.runtime()) for n in notifications]

    def _deliver_one(self, notification: Notification, runtime: FunctionRuntime) -> Attempt:
        try:
            self._invoke(notification, runtime)
        except Exception as exc:  # the platform sees a failed invocation and redelivers
            return Attempt(retry=True, error=exc)
        return Attempt(retry=False)

    def _invoke(self, notification: Notification, runtime: FunctionRuntime) -> None:
        raise NotImplementedError

    def deliver_until_done(self, notification: Notification, *, limit: int = 5) -> list[Attempt]:
        """Redeliver as the platform does until the function acknowledges (at most ``limit`` times)."""
        results = []
        for _ in range(limit):
            results.append(self.deliver(notification))
            if not results[-1].retry:
                return results
        raise AssertionError(f"still failing after {limit} deliveries: {results[-1].error!r}")

    # -- read-back ---------------------------------------------------------------------

    def dest_objects(self) -> dict[str, StoredObject]:
        """Every object in the destination, body and info, read directly from the emulator."""
        store = self.direct(self.dest)
        return {info.key: store.get(info.key) for info in store.list()}

    def expected_outputs(self, key: str) -> dict[str, Any]:
        """Output key -> box of every thumbnail of ``key``."""
        return {output.key: output.box for output in self.config.profiles.outputs_for(key)}

    def source_revision(self, key: str) -> str:
        return self.direct(self.source).head(key).revision

    def assert_outputs_sound(self) -> dict[str, StoredObject]:
        """Every object in the destination is a whole image with all of polythumb's metadata."""
        from tests.images import open_bytes

        objects = self.dest_objects()
        for out_key, stored in objects.items():
            meta = stored.info.metadata
            missing = [name for name in THUMBNAIL_METADATA if name not in meta]
            assert not missing, f"{out_key} lacks metadata {missing}"
            assert stored.info.size == len(stored.body) > 0, f"{out_key} is empty or its size lies"
            image = open_bytes(stored.body)  # a truncated body fails to decode here
            assert stored.info.content_type == f"image/{(image.format or '').lower()}", out_key
        return objects

    def assert_complete(self, key: str) -> None:
        """Every thumbnail of ``key`` exists, is sound and was rendered from its current revision."""
        objects = self.assert_outputs_sound()
        revision = self.source_revision(key)
        for out_key in self.expected_outputs(key):
            assert out_key in objects, f"missing {out_key}; have {sorted(objects)}"
            meta = objects[out_key].info.metadata
            assert decode_meta_value(meta[META_SOURCE]) == key
            assert decode_meta_value(meta[META_SOURCE_REVISION]) == revision, f"{out_key} is stale"

    def assert_absent(self, key: str) -> None:
        objects = self.dest_objects()
        left = [out for out in self.expected_outputs(key) if out in objects]
        assert not left, f"thumbnails left behind: {left}"


def is_transient(delivery: Attempt) -> bool:
    """The delivery failed in a way the platform retries, for a transient reason."""
    return delivery.retry and (delivery.error is None or isinstance(delivery.error, TransientError))


@dataclass(frozen=True)
class Schedule:
    """What one adapter documents: attempts per call and the back-off window of each retry."""

    attempts: tuple[int, int]  # inclusive bounds
    window: Callable[[int, str], tuple[float, float]]  # (retry number from 1, fault) -> (low, high) seconds
    total_sleep: float  # the most one call may sleep in all


# -- backfill ----------------------------------------------------------------------------------

#: Keys whose encodings differ between envelopes, messages and listings: space, plus, percent, non-ASCII.
TRICKY_KEYS = ("plus+sign/a+b.jpg", "unicode/café/日本語 写真.jpg", "percent/100% off.jpg", "space dir/x y.jpg")


def sink_request(target: str, *, workers: int | None = None, **options: str) -> SinkRequest:
    """What ``polythumb backfill --target <target> --sink-option KEY=VALUE ...`` asks a sink factory for."""
    return SinkRequest(target=target, src="images", dest="thumbs", config=load_config({}), workers=workers,
                       sink_options=options)  # fmt: skip


def current_keys(config: Config, source: Storage, dest: Storage, keys: Sequence[str]) -> set[str]:
    """The ``keys`` whose every thumbnail in ``dest`` renders their current revision with ``config``."""
    from core.errors import NotFound

    thumbs = {info.key for info in dest.list()}
    done = set()
    for key in keys:
        revision = source.head(key).revision
        for output in config.profiles.outputs_for(key):
            if output.key not in thumbs:
                break
            try:
                meta = dest.head(output.key).metadata  # listings may carry no metadata
            except NotFound:
                break
            rendered = decode_meta_value(meta.get(META_SOURCE_REVISION, ""))
            if rendered != revision or meta.get(META_PARAMS) != output.params:
                break
        else:
            done.add(key)
    return done


class BackfillRig(Protocol):
    """One platform's ``polythumb backfill`` set-up for the kill-and-resume scenario.

    The CLI runs in a subprocess (``command``, ``environment``); work it hands to the platform reaches
    the real function, which ``settle`` lets finish (draining a queue, or waiting for posts in flight).
    """

    name: str
    count: int
    sizes: str
    #: The originals' extension and content type.
    suffix: str
    content_type: str
    #: Options pacing the first run so the kill lands part-way (``--rate`` for a cloud).
    pace: tuple[str, ...]
    #: The summary field counting the work items of a run (``rendered`` locally, ``sent`` to a cloud).
    work_field: str
    source: Storage
    dest: Storage

    @property
    def config(self) -> Config:
        """The settings the function renders with."""
        ...

    def body(self, variant: int = 0) -> bytes:
        """An original's bytes (a different ``variant`` is a changed original)."""
        ...

    def render(self, keys: Sequence[str]) -> None:
        """Thumbnails of ``keys`` made the way the platform makes them on upload."""
        ...

    def command(self, checkpoint: Path, *extra: str) -> list[str]:
        """The backfill command line."""
        ...

    def environment(self) -> dict[str, str]:
        """The CLI's environment (the operator's settings, nothing of the developer's)."""
        ...

    def settle(self) -> list[str] | None:
        """Let the work sent so far finish; the keys the function handled, where the platform says."""
        ...

    def check_logs(self) -> None:
        """The function's own log has nothing unexpected."""
        ...


# -- what a rig module provides -------------------------------------------------------------------


class RigModule(Protocol):
    """What every rig module (``tests/rigs/local.py``, ``tests/providers/<cloud>/rig.py``) provides to the
    shared suites; ``tests/test_rig_modules.py`` holds each module in the tree to it.

    It is also a pytest plugin (its emulator and bucket fixtures: ``<store>_store`` for each of ``STORES``).
    ``CAPABILITIES`` (optional, read by :func:`tests.rigs.with_capability`) names what its entrypoint rig can do
    beyond events: ``serve`` (:meth:`EntrypointRig.serve`).
    """

    NAME: str  # the entrypoint id: ``local``, or the provider folder's name
    STORES: tuple[str, ...]  # the contract suite's storage rig ids it serves
    REQUIRES: tuple[str, ...]  # the modules it needs (SDK, emulator, function runtime)

    def entrypoint(
        self, request: pytest.FixtureRequest, *, in_place: bool, extra: Mapping[str, str] | None = None
    ) -> EntrypointRig: ...

    def backfill(self, request: pytest.FixtureRequest, tmp_path: Path) -> BackfillRig: ...

    def record_requests(
        self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, log: RequestLog
    ) -> AbstractContextManager[None]: ...


class CloudRigModule(RigModule, Protocol):
    """A provider's rig module (:func:`tests.rigs.cloud_rigs`): beyond every rig's, an SDK below the port, a
    fault rig with a documented retry schedule, vendor event samples, and the credential shapes it could leak.

    ``EMULATOR_GAPS`` (``{gap: why}``, read by :func:`tests.rigs.emulator_gap`) is optional: only an emulator
    that falls short of its cloud has one.
    """

    RETRY: Schedule
    SAMPLES: Path  # the folder of vendor payloads (``*.json``) of the observed-events report
    SECRET_SHAPES: Mapping[str, tuple[str, str]]  # shape -> (text an SDK error could carry, the secret in it)

    def faulty(self, request: pytest.FixtureRequest, proxy: FaultProxy) -> FaultRig: ...

    def upstream(self, request: pytest.FixtureRequest) -> str: ...

    def patch_sdk_sleeps(self, monkeypatch: pytest.MonkeyPatch, shim: Any) -> None: ...

    def parse_sample(self, document: Any) -> tuple[int, int]: ...

    def raw_put(
        self, request: pytest.FixtureRequest, store: Storage, key: str, metadata: Mapping[str, str]
    ) -> None: ...

    def raw_get(self, request: pytest.FixtureRequest, store: Storage, key: str) -> RawObject: ...
