"""Completion on GCP: Pub/Sub from the real Cloud Function (functions-framework over HTTP), and V4 signed URLs.

There is no Pub/Sub emulator here (it needs gcloud), so a local HTTP server implements the one REST
method the notifier calls (``POST /v1/projects/P/topics/T:publish``), reached through
``PUBSUB_EMULATOR_HOST`` exactly as the Google client libraries reach the emulator. It checks the
request's shape as Pub/Sub would (base64 data, string attributes) and answers with message ids.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from core.completion.naming import manifest_key
from providers.gcp.notify import sign_url
from providers.gcp.storage import GcsStorage
from tests.completion.support import Received, Receiver, validate_event
from tests.images import jpeg_bytes
from tests.providers.gcp.rig import entrypoint
from tests.rigs.base import EntrypointRig

pytestmark = pytest.mark.gcp

TOPIC = "projects/polythumb-test/topics/thumbnails"


def _publish(request: Received) -> tuple[int, bytes]:
    if request.path != f"/v1/{TOPIC}:publish":
        return 404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}'
    messages = json.loads(request.body)["messages"]
    assert all(isinstance(v, str) for m in messages for v in m["attributes"].values())
    return 200, json.dumps({"messageIds": [str(i) for i, _ in enumerate(messages)]}).encode()


@pytest.fixture(scope="module")
def pubsub() -> Iterator[Receiver]:
    server = Receiver(answer=_publish)
    yield server
    server.close()


@pytest.fixture
def rig(request: pytest.FixtureRequest, pubsub: Receiver) -> Iterator[EntrypointRig]:
    settings = {"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"pubsub:{TOPIC}", "PUBSUB_EMULATOR_HOST": pubsub.host}
    made = entrypoint(request, in_place=False, extra=settings)  # a functions-framework server with these settings
    yield made
    made.close()


def _messages(pubsub: Receiver, key: str) -> list[dict[str, Any]]:
    found = []
    for request in pubsub.accepted:
        for message in json.loads(request.body)["messages"]:
            event = json.loads(base64.b64decode(message["data"]))
            if event["subject"] == key:
                assert message["attributes"] == {"content-type": "application/cloudevents+json",
                                                 "type": event["type"], "subject": key}  # fmt: skip
                validate_event(event)
                found.append(event)
    return found


def test_ready_failed_and_deleted_reach_pubsub(rig: EntrypointRig, pubsub: Receiver) -> None:
    key, bad = rig.key("p/cat.jpg"), rig.key("p/bad.jpg")
    rig.upload(key, jpeg_bytes(300, 200))
    rig.upload(bad, b"not an image")
    assert rig.deliver_created(key).status == "ok"
    assert rig.deliver_created(key).reason == "unchanged"  # Eventarc redelivers: same event id
    assert rig.deliver_created(bad).error_kind == "not_an_image"
    assert rig.deliver_deleted(key).status == "ok"

    ready, repeat, deleted = _messages(pubsub, key)
    assert (ready["type"], deleted["type"]) == ("dev.polythumb.thumbnails.ready", "dev.polythumb.thumbnails.deleted")
    assert repeat["id"] == ready["id"] and repeat["data"] == ready["data"]
    assert ready["data"]["manifest"]["key"] == manifest_key(rig.config, key)
    assert [e["type"] for e in _messages(pubsub, bad)] == ["dev.polythumb.thumbnails.failed"]
    assert rig.read_outputs() == {}


def test_a_pubsub_outage_makes_eventarc_redeliver_and_loses_nothing(rig: EntrypointRig, pubsub: Receiver) -> None:
    key = rig.key("outage/cat.jpg")
    rig.upload(key, jpeg_bytes(300, 200))
    pubsub.fail_next = 3  # every attempt of this delivery
    first = rig.deliver_created(key)
    assert (first.verdict, first.answer) == ("retry", "HTTP 500")
    written = {k: info.revision for k, info in rig.read_outputs().items()}
    assert manifest_key(rig.config, key) in written

    again = rig.deliver_created(key)
    assert (again.verdict, again.reason) == ("acknowledged", "unchanged")
    assert {k: info.revision for k, info in rig.read_outputs().items()} == written
    (event,) = _messages(pubsub, key)
    assert event["type"] == "dev.polythumb.thumbnails.ready"


def _service_account_credentials() -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {"type": "service_account", "project_id": "polythumb-test", "private_key_id": "k1",
            "private_key": pem.decode(), "client_email": "fn@polythumb-test.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}  # fmt: skip
    return service_account.Credentials.from_service_account_info(info)


def test_v4_signed_url(fake_gcs: Any, gcs_client: Any, gcs_new_bucket: Any) -> None:
    """Signed with the identity's key (locally: no request); fake-gcs-server serves the URL."""
    from google.cloud import storage

    bucket = gcs_new_bucket("signed")
    gcs_client.bucket(bucket).blob("a b/c.jpg").upload_from_string(b"bytes", content_type="image/jpeg")
    signing_client = storage.Client(project="polythumb-test", credentials=_service_account_credentials(),
                                    client_options={"api_endpoint": fake_gcs.url})  # fmt: skip
    url = sign_url(GcsStorage(bucket, client=signing_client), "a b/c.jpg", 600).url
    public = f"{fake_gcs.url}/{bucket}/a%20b/c.jpg?"  # the client's endpoint: storage.googleapis.com when deployed
    assert url.startswith(public)
    query = url[len(public) :]
    assert "X-Goog-Algorithm=GOOG4-RSA-SHA256" in query and "X-Goog-Expires=600" in query
    assert "X-Goog-Credential=fn%40polythumb-test.iam.gserviceaccount.com" in query
    # fake-gcs-server answers path-style reads for the public host: the same URL, routed to the emulator.
    request = urllib.request.Request(f"{fake_gcs.url}/{bucket}/a%20b/c.jpg?{query}",
                                     headers={"Host": "storage.googleapis.com"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"bytes"


class _Credentials:
    """Application Default Credentials that need a refresh before their first token."""

    def __init__(self, refreshes: list[int]) -> None:
        self.valid, self.token, self._refreshes = False, None, refreshes

    def refresh(self, request: Any) -> None:
        time.sleep(0.05)  # a slow metadata server: every other thread arrives meanwhile
        self._refreshes.append(1)
        self.valid, self.token = True, "ya29.token"


def test_the_credentials_are_made_on_the_first_publish_once_however_many_threads_publish(
    pubsub: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import providers.gcp.notify as module

    made: list[_Credentials] = []
    refreshes: list[int] = []

    def default() -> _Credentials:
        time.sleep(0.05)
        made.append(_Credentials(refreshes))
        return made[-1]

    monkeypatch.setattr(module, "_default_credentials", default)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    notifier = module.PubSubNotifier(TOPIC, pubsub_endpoint=pubsub.url)  # not the emulator: a token is sent
    assert made == []  # built at cold start: no credentials looked up there
    before = len(pubsub.accepted)
    event = {"specversion": "1.0", "id": "e-1", "type": "dev.polythumb.thumbnails.ready", "subject": "once.jpg"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: notifier.publish(event), range(8)))
    assert (len(made), len(refreshes)) == (1, 1)
    assert [r.headers["authorization"] for r in pubsub.accepted[before:]] == ["Bearer ya29.token"] * 8
