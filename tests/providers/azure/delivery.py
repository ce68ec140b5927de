"""What Event Grid and the Functions host would hand the app, built from real blobs on Azurite.

* :func:`blob_event` -- the BlobCreated / BlobDeleted event Event Grid delivers for a blob, from the
  blob's real properties, in either schema.
* :func:`as_worker_event` -- that JSON decoded by the Python worker's own converter, exactly as the
  host passes it to an Event Grid trigger (``func.EventGridEvent`` or ``func.CloudEvent``).
* :func:`as_input_stream` -- the ``func.InputStream`` the worker builds for a blob trigger, from
  the trigger metadata the host sends (BlobTrigger, Uri, Properties, Metadata).
* :func:`as_worker_context` -- the ``func.Context`` the worker passes a function's ``context`` parameter, with
  the invocation's trace context as the worker's own class exposes it.
* :func:`as_http_request` / :func:`as_host_response` -- the ``func.HttpRequest`` the worker builds for an HTTP
  trigger from what the host sends, and what the host gets back from a returned ``func.HttpResponse``, both through
  the library's own converters.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent / "events"
TOPIC = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1"  # noqa: E501

SCHEMAS = ("eventgrid", "cloudevents")


class WorkerTraceContext:
    """The worker's ``TraceContext`` (azure_functions_worker/bindings/tracecontext.py): capitalised properties."""

    def __init__(self, traceparent: str, tracestate: str = "", attributes: dict[str, str] | None = None) -> None:
        self.Traceparent, self.Tracestate, self.Attributes = traceparent, tracestate, attributes or {}


def as_worker_context(function_name: str, *, traceparent: str | None = None) -> Any:
    """The invocation context the worker builds (its ``bindings/context.py``): a ``func.Context`` whose
    ``trace_context`` carries the host's Activity (a new one per invocation when none came in)."""
    import threading

    import azure.functions as func

    class WorkerContext(func.Context):
        def __init__(self) -> None:
            self._trace = WorkerTraceContext(traceparent or f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01")
            self._invocation_id = str(uuid.uuid4())

        invocation_id = property(lambda self: self._invocation_id)
        thread_local_storage = property(lambda self: threading.local)
        function_name = property(lambda self: function_name)
        function_directory = property(lambda self: str(Path(__file__).resolve().parent))
        trace_context = property(lambda self: self._trace)
        retry_context = property(lambda self: None)

    return WorkerContext()


def load_event(name: str) -> Any:
    """A vendor sample from tests/providers/azure/events."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8-sig"))


def blob_event(
    container: str,
    key: str,
    *,
    schema: str,
    kind: str = "created",
    properties: Any = None,
    url: str,
    api: str | None = None,
    event_id: str | None = None,
    content_length: int | None = None,
) -> dict[str, Any]:
    """The event Event Grid delivers for ``container/key``.

    ``properties`` is the blob's real ``BlobProperties`` (created events): its ETag is already quoted,
    as Event Grid sends it; content type and length are the blob's.
    """
    event_type = "Microsoft.Storage.BlobCreated" if kind == "created" else "Microsoft.Storage.BlobDeleted"
    data: dict[str, Any] = {
        "api": api or ("PutBlob" if kind == "created" else "DeleteBlob"),
        "clientRequestId": str(uuid.uuid4()),
        "requestId": str(uuid.uuid4()),
        "blobType": "BlockBlob",
        "url": url,
        "sequencer": uuid.uuid4().hex.upper(),
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }
    if properties is not None:
        data["contentType"] = properties.content_settings.content_type
        if kind == "created":
            data["eTag"] = properties.etag
            data["contentLength"] = properties.size if content_length is None else content_length
    subject = f"/blobServices/default/containers/{container}/blobs/{key}"
    ident = event_id or str(uuid.uuid4())
    # Event Grid stamps the write's time, in 100 ns ticks: the blob's Last-Modified, else now (a delete).
    written = properties.last_modified if properties is not None else datetime.now(UTC)
    moment = written.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if schema == "cloudevents":
        return {
            "source": TOPIC, "subject": subject, "type": event_type, "time": moment,
            "id": ident, "data": data, "specversion": "1.0",
        }  # fmt: skip
    return {
        "topic": TOPIC, "subject": subject, "eventType": event_type, "eventTime": moment,
        "id": ident, "data": data, "dataVersion": "", "metadataVersion": "1",
    }  # fmt: skip


def as_worker_event(raw: dict[str, Any]) -> Any:
    """Decode one event the way the Python worker does for an ``eventGridTrigger`` binding."""
    from azure.functions import meta
    from azure.functions.eventgrid import EventGridEventInConverter

    return EventGridEventInConverter.decode(meta.Datum(json.dumps(raw), "json"), trigger_metadata={})


def as_input_stream(
    body: bytes, *, blob_trigger: str, uri: str, properties: dict[str, Any], metadata: dict[str, str]
) -> Any:
    """Decode a blob-trigger invocation the way the Python worker does (``blob`` binding)."""
    from azure.functions import meta
    from azure.functions.blob import BlobConverter

    trigger_metadata = {
        "BlobTrigger": meta.Datum(blob_trigger, "string"),
        "Uri": meta.Datum(uri, "string"),
        "Properties": meta.Datum(json.dumps(properties), "json"),
        "Metadata": meta.Datum(json.dumps(metadata), "json"),
    }
    return BlobConverter.decode(meta.Datum(body, "bytes"), trigger_metadata=trigger_metadata)


def host_blob_properties(properties: Any) -> dict[str, Any]:
    """The ``Properties`` trigger metadata the host sends, from real ``BlobProperties``.

    Shaped like the python-library sample: ETag unquoted, ContentLength a *string*, enums as ints.
    """
    return {
        "ContentType": properties.content_settings.content_type,
        "ETag": properties.etag.strip('"'),
        "Created": properties.creation_time.isoformat(),
        "LastModified": properties.last_modified.isoformat(),
        "BlobType": 2,
        "LeaseStatus": 2,
        "LeaseState": 1,
        "LeaseDuration": 0,
        "ContentLength": str(properties.size),
    }


#: Where the Functions host serves a function app (``https://<app>.azurewebsites.net`` in Azure).
APP_ORIGIN = "https://polythumb-thumbs.azurewebsites.net"


def as_http_request(
    method: str, url_path: str, query: str = "", headers: dict[str, str] | None = None, *, route_params: Any = None
) -> Any:
    """The ``func.HttpRequest`` the Python worker decodes from the host's RPC message for one request.

    ``url_path`` is the request's path as sent, percent-encoded, route prefix included (``/api/thumbs/...``): the
    host passes the request URL whole. Header names arrive in lower case, as the host forwards them.
    """
    from urllib.parse import parse_qsl

    from azure.functions import meta
    from azure.functions.http import HttpRequestConverter

    def text(value: str) -> Any:
        return meta.Datum(type="string", value=value)

    sent = {"host": APP_ORIGIN.removeprefix("https://"), "user-agent": "Mozilla/5.0", **(headers or {})}
    data = meta.Datum(type="http", value={
        "method": text(method),
        "url": text(f"{APP_ORIGIN}{url_path}" + (f"?{query}" if query else "")),
        "headers": {name.lower(): text(value) for name, value in sent.items()},
        "query": {name: text(value) for name, value in parse_qsl(query, keep_blank_values=True)},
        "params": {name: text(value) for name, value in (route_params or {}).items()},
        "body": meta.Datum(type="bytes", value=b""),
    })  # fmt: skip
    return HttpRequestConverter.decode(data, trigger_metadata={})


def as_host_response(response: Any) -> tuple[int, Any, bytes]:
    """What the host receives for a returned ``func.HttpResponse``: status, headers (case-insensitive), body."""
    from azure.functions.http import HttpResponseConverter
    from requests.structures import CaseInsensitiveDict

    encoded = HttpResponseConverter.encode(response, expected_type=None).value
    headers = CaseInsensitiveDict({name: datum.value for name, datum in encoded["headers"].items()})
    return int(encoded["status_code"].value), headers, encoded["body"].value
