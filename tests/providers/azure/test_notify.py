"""Completion on Azure: Event Grid from the real function app (``on_event_grid``), and SAS URLs on Azurite.

There is no Event Grid emulator: a local HTTP server stands for the custom topic, checking what the
topic checks (a bearer token, a CloudEvents content type, one JSON CloudEvent) and answering 200. The
managed identity is the one piece replaced: a credential that hands out a fixed token, given to the
notifier the function app built from ``THUMBS_NOTIFY``.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from core.completion.naming import manifest_key
from providers.azure.notify import EVENTGRID_SCOPE, EventGridNotifier, sign_url
from providers.azure.storage import AzureBlobStorage
from tests.completion.support import Received, Receiver, validate_event
from tests.images import jpeg_bytes
from tests.providers.azure.rig import Entrypoint as AzureRig

pytestmark = pytest.mark.azure

TOKEN = "entra-token-for-tests"


@dataclass
class _AccessToken:
    token: str
    expires_on: int


class StaticCredential:
    """Stands for the function's managed identity: the scope asked for is recorded."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> _AccessToken:
        self.scopes.extend(scopes)
        return _AccessToken(TOKEN, 2**31)


def _topic(request: Received) -> tuple[int, bytes]:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return 401, b"{}"
    if not request.headers.get("content-type", "").startswith("application/cloudevents+json"):
        return 415, b"{}"
    return 200, b""


@pytest.fixture
def topic() -> Iterator[Receiver]:
    server = Receiver(answer=_topic)
    yield server
    server.close()


@pytest.fixture
def rig(request: pytest.FixtureRequest, topic: Receiver) -> Iterator[tuple[AzureRig, StaticCredential]]:
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    endpoint = f"{topic.url}/api/events"
    made = AzureRig(
        service=request.getfixturevalue("azure_service"),
        connection_string=request.getfixturevalue("azurite").connection_string,
        new_container=request.getfixturevalue("new_container"),
        in_place=False,
        setenv=monkeypatch.setenv,
        extra={"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"eventgrid:{endpoint}"},
    )
    runtime = sys.modules["providers.azure.function_app"].runtime  # the app the rig cold-started
    (built,) = runtime.completion.notifiers
    assert isinstance(built, EventGridNotifier) and built.endpoint == endpoint
    credential = StaticCredential()
    runtime.completion.notifiers = [EventGridNotifier(endpoint, eventgrid_credential=credential)]
    yield made, credential
    made.close()


def _events(topic: Receiver, key: str) -> list[dict[str, Any]]:
    events = [json.loads(r.body) for r in topic.accepted]
    for event in events:
        validate_event(event)
    return [e for e in events if e["subject"] == key]


def test_ready_failed_and_deleted_reach_the_topic(rig: tuple[AzureRig, StaticCredential], topic: Receiver) -> None:
    azure, credential = rig
    key, bad = azure.key("p/cat.jpg"), azure.key("p/bad.jpg")
    azure.upload(key, jpeg_bytes(300, 200))
    azure.upload(bad, b"not an image")
    assert azure.deliver_created(key).status == "ok"
    assert azure.deliver_created(key).reason == "unchanged"  # Event Grid delivers at least once
    assert azure.deliver_created(bad).error_kind == "not_an_image"
    assert azure.deliver_deleted(key).status == "ok"

    ready, repeat, deleted = _events(topic, key)
    assert (ready["type"], deleted["type"]) == ("dev.polythumb.thumbnails.ready", "dev.polythumb.thumbnails.deleted")
    assert repeat["id"] == ready["id"]
    assert ready["data"]["manifest"]["key"] == manifest_key(azure.config, key)
    assert [e["type"] for e in _events(topic, bad)] == ["dev.polythumb.thumbnails.failed"]
    assert set(credential.scopes) == {EVENTGRID_SCOPE}
    assert azure.read_outputs() == {}


def test_a_topic_outage_makes_event_grid_redeliver_and_loses_nothing(
    rig: tuple[AzureRig, StaticCredential], topic: Receiver
) -> None:
    azure, _ = rig
    key = azure.key("outage/cat.jpg")
    azure.upload(key, jpeg_bytes(300, 200))
    topic.fail_next = 3
    assert azure.deliver_created(key).verdict == "retry"
    written = {k: info.revision for k, info in azure.read_outputs().items()}
    again = azure.deliver_created(key)
    assert (again.verdict, again.reason) == ("acknowledged", "unchanged")
    assert {k: info.revision for k, info in azure.read_outputs().items()} == written
    assert [e["type"] for e in _events(topic, key)] == ["dev.polythumb.thumbnails.ready"]


def test_sas_url_is_read_only_and_served(azure_service: Any, new_container: Callable[..., str]) -> None:
    """On Azurite (account key) the SAS is a service SAS; Azurite checks its signature on the GET."""
    container = new_container("sas")
    azure_service.get_blob_client(container, "a b/c.jpg").upload_blob(b"bytes")
    url = sign_url(AzureBlobStorage(container, service=azure_service), "a b/c.jpg", 300).url
    assert "sp=r&" in url and "sig=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"bytes"
    tampered = url.replace("sp=r&", "sp=rw&")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403


def test_the_credential_is_made_on_the_first_publish_once_however_many_threads_publish(
    topic: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import providers.azure.notify as module

    made: list[StaticCredential] = []

    def default() -> StaticCredential:
        time.sleep(0.05)  # a slow first creation: every other thread arrives meanwhile
        made.append(StaticCredential())
        return made[-1]

    monkeypatch.setattr(module, "_default_credential", default)
    notifier = EventGridNotifier(f"{topic.url}/api/events")
    assert made == []  # built at cold start: no credential there
    event = {"specversion": "1.0", "id": "e-1", "type": "dev.polythumb.thumbnails.ready", "subject": "once.jpg"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: notifier.publish(event), range(8)))
    assert len(made) == 1 and made[0].scopes == [EVENTGRID_SCOPE] * 8
    assert len(topic.accepted) == 8
