"""What Cloud Storage would deliver for an object, over HTTP, in each envelope GCP uses."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

STORAGE_SOURCE = "//storage.googleapis.com/projects/_/buckets/{bucket}"


def object_resource(blob: Any) -> dict[str, Any]:
    """The object's JSON API resource as the emulator returned it: what Eventarc puts in ``data``.

    google-cloud-storage keeps the raw resource in ``_properties`` (no public accessor returns it
    whole); size and generation are JSON strings there, exactly as in real deliveries.
    """
    blob.reload()
    return dict(blob._properties)


def attributes(resource: Mapping[str, Any], event_type: str, *, event_id: str | None = None) -> dict[str, str]:
    """The CloudEvent context attributes Eventarc sets for a Cloud Storage event."""
    bucket = resource["bucket"]
    return {
        "specversion": "1.0",
        "id": event_id or uuid.uuid4().hex,
        "type": event_type,
        "source": STORAGE_SOURCE.format(bucket=bucket),
        "subject": f"objects/{resource['name']}",
        "time": resource.get("updated") or "2024-01-01T00:00:00Z",
        "bucket": bucket,  # the extension attribute Eventarc adds
    }


def header_value(value: str) -> str:
    """A ce-* header value per the CloudEvents HTTP binding: space, '"', '%' and non-ASCII percent-encoded."""
    return "".join(c if 0x21 <= ord(c) <= 0x7E and c not in '"%' else quote(c, safe="") for c in value)


def post_binary(url: str, attrs: Mapping[str, str], data: Any) -> requests.Response:
    """Binary content mode: attributes as ``ce-*`` headers, the object resource as the JSON body."""
    headers = {f"ce-{name}": header_value(value) for name, value in attrs.items()}
    headers["Content-Type"] = "application/json"
    return requests.post(url, data=json.dumps(data).encode(), headers=headers, timeout=60)


def post_structured(url: str, attrs: Mapping[str, str], data: Any) -> requests.Response:
    """Structured content mode: one ``application/cloudevents+json`` document."""
    envelope = {**attrs, "datacontenttype": "application/json", "data": data}
    return post_json(url, envelope, content_type="application/cloudevents+json")


def post_cloud_event(url: str, mode: str, attrs: Mapping[str, str], data: Any) -> requests.Response:
    """POST in ``mode`` ("binary" or "structured")."""
    return (post_binary if mode == "binary" else post_structured)(url, attrs, data)


def post_json(url: str, payload: Any, *, content_type: str = "application/json") -> requests.Response:
    """POST a JSON document as is (a background event, a structured CloudEvent, junk)."""
    return requests.post(
        url, data=json.dumps(payload, ensure_ascii=False).encode(), headers={"Content-Type": content_type}, timeout=60
    )


def background_event(resource: Mapping[str, Any], event_type: str, *, event_id: str | None = None) -> dict[str, Any]:
    """A 1st-gen ``{context, data}`` background event for the object."""
    return {
        "context": {
            "eventId": event_id or str(uuid.uuid4().int)[:16],
            "timestamp": resource.get("updated") or "2024-01-01T00:00:00Z",
            "eventType": event_type,
            "resource": {
                "service": "storage.googleapis.com",
                "name": f"projects/_/buckets/{resource['bucket']}/objects/{resource['name']}",
                "type": "storage#object",
            },
        },
        "data": dict(resource),
    }


def object_change_event(resource: Mapping[str, Any], *, deleted: bool) -> dict[str, Any]:
    """The old flat ``providers/cloud.storage/eventTypes/object.change`` event for the object."""
    data = {**resource, "resourceState": "not_exists" if deleted else "exists"}
    return {
        "eventId": str(uuid.uuid4().int)[:16],
        "eventType": "providers/cloud.storage/eventTypes/object.change",
        "resource": f"projects/_/buckets/{resource['bucket']}/objects/{resource['name']}#{resource['generation']}",
        "timestamp": resource.get("updated") or "2024-01-01T00:00:00Z",
        "data": data,
    }


def raw_request(
    base_url: str, method: str, raw_path: str, query: str = "", headers: Mapping[str, str] | None = None
) -> tuple[int, Any, bytes]:
    """One HTTP request with the path sent byte for byte as given (``http.client``: no normalising, no redirect
    followed); ``(status, headers, body)``, the headers a case-insensitive mapping."""
    import http.client
    from urllib.parse import urlsplit

    from requests.structures import CaseInsensitiveDict

    where = urlsplit(base_url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=60)
    try:
        connection.request(method, raw_path + (f"?{query}" if query else ""), headers=dict(headers or {}))
        response = connection.getresponse()
        body = response.read()
        return response.status, CaseInsensitiveDict(response.getheaders()), body
    finally:
        connection.close()
