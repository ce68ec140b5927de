"""V4 signed URLs with the function's own identity (issue 20, item 14): IAM ``signBlob``, served locally.

On Cloud Run the function's credentials come from the metadata server and hold no key, so each URL is
signed by IAM ``signBlob``. Both are local HTTP servers here: the metadata server (google-auth's own
``compute_engine.Credentials`` reach it; its host is the SDK's ``GCE_METADATA_HOST``, read at import, so
the test sets the SDK's copy of it) and the IAM Credentials API (the signer's ``iam_endpoint``). The URL is
made by google-cloud-storage from the blob on fake-gcs-server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import ConfigError, SigningRefused, SigningUnavailable
from core.runtime import FunctionRuntime
from providers.gcp.notify import GcsUrlSigner
from providers.gcp.storage import GcsStorage
from tests.completion.support import Received, Receiver

pytestmark = pytest.mark.gcp

EMAIL = "fn@polythumb-test.iam.gserviceaccount.com"
SIGNATURE = bytes(range(256))



class Metadata(Receiver):
    """GCE's metadata server: the default service account's email and an access token."""

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = self
        handler = self._server.RequestHandlerClass

        def do_get(this: Any) -> None:
            owner.requests.append(Received(this.path, dict(this.headers.items()), b""))
            if "/token" in this.path:
                body = json.dumps({"access_token": "metadata-token", "expires_in": 3600, "token_type": "Bearer"})
            elif "/service-accounts/default" in this.path:
                body = json.dumps({"email": EMAIL, "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                                   "aliases": ["default"]})  # fmt: skip
            else:
                this.send_response(404)
                this.send_header("Content-Length", "0")
                this.end_headers()
                return
            this.send_response(200)
            this.send_header("Metadata-Flavor", "Google")
            this.send_header("Content-Type", "application/json")
            this.send_header("Content-Length", str(len(body)))
            this.end_headers()
            this.wfile.write(body.encode())

        handler.do_GET = do_get  # type: ignore[attr-defined]


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``compute_engine.Credentials`` whose metadata server is local."""
    from google.auth.compute_engine import Credentials, _metadata

    server = Metadata()
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", server.host)
    yield Credentials()
    server.close()


@pytest.fixture
def iam() -> Iterator[Receiver]:
    server = Receiver(answer=lambda r: (200, json.dumps({"keyId": "k1", "signedBlob": base64.b64encode(SIGNATURE)
                                                         .decode()}).encode()))  # fmt: skip
    yield server
    server.close()


def _store(fake_gcs: Any, identity: Any, bucket: str) -> GcsStorage:
    from google.cloud import storage

    client = storage.Client(project="polythumb-test", credentials=identity,
                            client_options={"api_endpoint": fake_gcs.url})  # fmt: skip
    return GcsStorage(bucket, client=client)


def test_signblob_signs_with_the_identitys_token(
    fake_gcs: Any, gcs_new_bucket: Any, identity: Any, iam: Receiver
) -> None:
    store = _store(fake_gcs, identity, gcs_new_bucket("iam"))
    signed = GcsUrlSigner(iam_endpoint=iam.url)(store, "a b/c.jpg", 600)
    assert "X-Goog-Credential=fn%40polythumb-test.iam.gserviceaccount.com" in signed.url
    assert f"X-Goog-Signature={SIGNATURE.hex()}" in signed.url and "X-Goog-Expires=600" in signed.url
    (call,) = iam.requests
    assert call.path == f"/v1/projects/-/serviceAccounts/{EMAIL}:signBlob"
    assert call.headers["authorization"] == "Bearer metadata-token"
    assert base64.b64decode(json.loads(call.body)["payload"]).startswith(b"GOOG4-RSA-SHA256\n")


def _cold_start(
    fake_gcs: Any,
    identity: Any,
    iam: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    answer: tuple[int, bytes],
    **settings: str,
) -> FunctionRuntime:
    """The function's cold start with ``THUMBS_URL_MODE=signed``, IAM answering each signBlob with ``answer``."""
    from providers.gcp import notify

    iam.answer = lambda request: answer
    monkeypatch.setattr(notify.sign_url, "iam_endpoint", iam.url)
    environ = {"THUMBS_URL_MODE": "signed", **settings}
    return FunctionRuntime(lambda name: _store(fake_gcs, identity, name), environ=environ, provider="gcp")


def test_an_identity_without_signblob_fails_the_cold_start_naming_the_role(
    fake_gcs: Any, gcs_new_bucket: Any, identity: Any, iam: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the thumbnails were written, then every event was a retried internal_error."""
    refused = (403, b'{"error": {"code": 403, "status": "PERMISSION_DENIED"}}')
    with pytest.raises(ConfigError) as caught:
        _cold_start(fake_gcs, identity, iam, monkeypatch, refused, THUMBS_DEST_BUCKET=gcs_new_bucket("iam-refused"),
                    THUMBS_MANIFEST="true")  # fmt: skip
    assert isinstance(caught.value, SigningRefused) and caught.value.kind == "config"
    assert "THUMBS_URL_MODE=signed" in str(caught.value) and "roles/iam.serviceAccountTokenCreator" in str(caught.value)
    assert len(iam.requests) == 1  # one call per cold start


def test_an_iam_outage_is_transient_and_does_not_fail_the_start(
    fake_gcs: Any, gcs_new_bucket: Any, identity: Any, iam: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = gcs_new_bucket("iam-down")
    runtime = _cold_start(fake_gcs, identity, iam, monkeypatch, (503, b"{}"), THUMBS_DEST_BUCKET=bucket)
    with pytest.raises(SigningUnavailable):
        runtime.completion.urls.url(runtime.thumbnailer.store(bucket), "x.jpg")
