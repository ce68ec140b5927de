"""Where the storage backends really differ, observed on each one (the ``store`` rigs), for the matrix.

Each test records what it saw as the ``observed`` property (the conformance report prints it) and
asserts what the port promises whatever the backend does underneath, so it fails when that breaks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import AlreadyExists, PermanentError, PreconditionFailed, StorageError
from core.storage import Storage
from tests.contract.raw import NO_SDK, RequestLog, raw_get, raw_put, recorded_requests, rig_of, shape, status_of

Record = Callable[[str, object], None]


def _conditions(log: RequestLog) -> str:
    """The conditions the adapter's writes carried, by shape (headers, query parameters or system calls)."""
    writes = log.writes() or log.requests
    if not writes:
        return "no request (in-process)"
    parts = []
    for write in writes:
        if write["method"].startswith("os."):
            parts.append(write["method"])
            continue
        sent = [f"{name}: {shape(value)}" for name, value in sorted(write["conditions"].items())]
        sent += [f"?{name}={shape(value)}" for name, value in sorted(write["query"].items()) if name.startswith("if")]
        parts.append(", ".join(sent) or "(no condition)")
    return "; ".join(dict.fromkeys(parts))


def test_observed_metadata_name_with_a_hyphen(
    request: pytest.FixtureRequest, store: Storage, record_property: Record
) -> None:
    """Metadata name `Polythumb-Probe` (hyphen, capitals): what the backend stores, what the port does."""
    rig = rig_of(request)
    observed = []
    if rig not in NO_SDK:
        try:
            raw_put(request, store, "raw-hyphen.bin", {"Polythumb-Probe": "1"})
            observed.append(f"backend stores `{next(iter(raw_get(request, store, 'raw-hyphen.bin').metadata))}`")
        except Exception as exc:
            observed.append(f"backend refuses ({status_of(exc)})")
    try:
        written = store.put("port-hyphen.bin", b"x", content_type="text/plain", metadata={"Polythumb-Probe": "1"})
    except StorageError as exc:
        assert isinstance(exc, PermanentError), "a refused name must be a permanent error, never retried"
        observed.append(f"port refuses before sending ({type(exc).__name__})")
    else:
        assert dict(store.head("port-hyphen.bin").metadata) == {"polythumb-probe": "1"} == dict(written.metadata)
        observed.append("port accepts, reads back `polythumb-probe`")
    record_property("observed", "; ".join(observed))


def test_observed_metadata_name_case(request: pytest.FixtureRequest, store: Storage, record_property: Record) -> None:
    """Metadata name case: how `Polythumb_Case`, written with the SDK, comes back; the port always lower-cases."""
    rig = rig_of(request)
    if rig in NO_SDK:
        observed = "no SDK below the port"
    else:
        raw_put(request, store, "raw-case.bin", {"Polythumb_Case": "1"})
        [name] = raw_get(request, store, "raw-case.bin").metadata
        folded = "folded" if name == "polythumb_case" else "kept" if name == "Polythumb_Case" else "changed"
        observed = f"backend returns `{name}` (case {folded})"
        assert dict(store.head("raw-case.bin").metadata) == {"polythumb_case": "1"}  # the port folds it
    store.put("port-case.bin", b"x", content_type="text/plain", metadata={"Polythumb_Case": "1"})
    assert dict(store.head("port-case.bin").metadata) == {"polythumb_case": "1"}
    record_property("observed", f"{observed}; port: `polythumb_case`")


def test_observed_etag_quoting(request: pytest.FixtureRequest, store: Storage, record_property: Record) -> None:
    """ETag as the backend sends it (HEAD / LIST), and as the port returns it."""
    rig = rig_of(request)
    written = store.put("etag.bin", b"etag", content_type="text/plain")
    port = {written.etag, store.head("etag.bin").etag, *(i.etag for i in store.list("etag.bin"))}
    assert len(port) == 1 and '"' not in next(iter(port)), port  # one bare ETag whatever the call
    if rig in NO_SDK:
        observed = f"no SDK: port computes `{shape(next(iter(port)))}`"
    else:
        raw = raw_get(request, store, "etag.bin")
        assert raw.etag_head.strip('"') == next(iter(port))
        observed = f"HEAD `{shape(raw.etag_head)}`, LIST `{shape(raw.etag_listed)}`; port bare"
    record_property("observed", observed)


def test_observed_revision_kind(store: Storage, record_property: Record) -> None:
    """What the revision is (what conditions and thumbnails name): a version, or the ETag."""
    first = store.put("rev.bin", b"1", content_type="text/plain")
    second = store.put("rev.bin", b"2", content_type="text/plain")
    assert first.revision != second.revision == store.head("rev.bin").revision
    kind = f"version `{shape(second.version)}`" if second.version else f"ETag `{shape(second.etag)}`"
    record_property("observed", kind)


def test_observed_create_only_primitive(
    request: pytest.FixtureRequest, store: Storage, monkeypatch: pytest.MonkeyPatch, record_property: Record
) -> None:
    """Create-only write: the request the adapter sends, and the backend's answer when the object exists."""
    with recorded_requests(request, monkeypatch) as log:
        store.put("once.bin", b"1", content_type="text/plain", if_none_match=True)
        with pytest.raises(AlreadyExists) as caught:
            store.put("once.bin", b"2", content_type="text/plain", if_none_match=True)
    assert store.get("once.bin").body == b"1"  # honoured: nothing replaced
    record_property("observed", f"{_conditions(log)} -> {status_of(caught.value)}")


def test_observed_replace_only_primitive(
    request: pytest.FixtureRequest, store: Storage, monkeypatch: pytest.MonkeyPatch, record_property: Record
) -> None:
    """Replace-only write (compare-and-swap): the request sent, and the answer to a stale revision."""
    first = store.put("cas.bin", b"1", content_type="text/plain")
    with recorded_requests(request, monkeypatch) as log:
        store.put("cas.bin", b"2", content_type="text/plain", if_match=first.revision)
        with pytest.raises(PreconditionFailed) as caught:
            store.put("cas.bin", b"3", content_type="text/plain", if_match=first.revision)
    assert store.get("cas.bin").body == b"2"  # honoured: the stale writer lost
    record_property("observed", f"{_conditions(log)} -> {status_of(caught.value)}")
