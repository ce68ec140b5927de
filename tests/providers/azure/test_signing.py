"""User delegation SAS URLs (issue 20, items 14 and 15), against Blob Storage's REST API served locally.

Azurite issues user delegation keys only with OAuth over HTTPS, so a local TLS server answers the one call
the SDK makes (``POST /?restype=service&comp=userdelegationkey``) as Blob Storage does: the key's start and
expiry echo the request, or 403 ``AuthorizationPermissionMismatch`` for an identity without the role. The
real ``BlobServiceClient`` talks to it (certificate trusted through ``REQUESTS_CA_BUNDLE``); the test counts
key fetches and checks every URL's ``se`` against its key's expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.completion.urls import UrlBuilder
from core.config import load_config
from core.errors import SigningRefused
from providers.azure.notify import AzureUrlSigner
from providers.azure.storage import AzureBlobStorage

pytestmark = pytest.mark.azure

WEEK = 7 * 24 * 3600


@dataclass
class _Token:
    token: str
    expires_on: int


class _Identity:
    """The managed identity: a fixed Entra token."""

    def get_token(self, *scopes: str, **_: Any) -> _Token:
        return _Token("entra-token", 2**31)


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


@dataclass
class BlobService:
    """Blob Storage's user delegation key call, over TLS on 127.0.0.1."""

    folder: Path
    refuse: bool = False
    fetches: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                assert "comp=userdelegationkey" in self.path and self.headers["Authorization"] == "Bearer entra-token"
                if owner.refuse:
                    answer = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch'
                              b"</Code><Message>This request is not authorized.</Message></Error>")  # fmt: skip
                    self._send(403, answer, {"x-ms-error-code": "AuthorizationPermissionMismatch"})
                    return
                start = re.search(r"<Start>(.*?)</Start>", body).group(1)  # type: ignore[union-attr]
                expiry = re.search(r"<Expiry>(.*?)</Expiry>", body).group(1)  # type: ignore[union-attr]
                owner.fetches.append((start, expiry))
                answer = (
                    '<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>oid</SignedOid>'
                    f"<SignedTid>tid</SignedTid><SignedStart>{start}</SignedStart><SignedExpiry>{expiry}</SignedExpiry>"
                    "<SignedService>b</SignedService><SignedVersion>2021-08-06</SignedVersion>"
                    "<Value>a2V5LWJ5dGVzLWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk=</Value></UserDelegationKey>"
                ).encode()
                self._send(200, answer, {})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "application/xml", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        cert, key = _certificate(self.folder)
        self.ca = cert
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def store(self) -> AzureBlobStorage:
        from azure.storage.blob import BlobServiceClient

        port = self._server.server_address[1]
        service = BlobServiceClient(f"https://127.0.0.1:{port}/devstoreaccount1", credential=_Identity())
        return AzureBlobStorage("thumbs", service=service)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def blob_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobService]:
    server = BlobService(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca))
    yield server
    server.close()


def _se(url: str) -> dt.datetime:
    value = parse_qs(urlsplit(url).query)["se"][0]
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_one_key_serves_many_urls_and_no_url_outlives_it(blob_service: BlobService) -> None:
    """THUMBS_URL_TTL of 7 days: one key fetch for 30 URLs; each URL expires with its key, and says so."""
    signer, store = AzureUrlSigner(), blob_service.store()
    signed = [signer(store, f"p/{n}.jpg", WEEK) for n in range(30)]
    assert len(blob_service.fetches) == 1  # before: one fetch per URL
    key_expiry = _parse(blob_service.fetches[0][1])
    for url in signed:
        assert "sp=r" in url.url and "skoid=oid" in url.url
        assert _se(url.url) <= key_expiry and url.expires == _se(url.url)  # before: se was 5 min past the key
    assert min(url.expires for url in signed) >= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WEEK) - dt.timedelta(
        hours=1
    )


def test_the_manifests_expiry_is_the_earliest_url(blob_service: BlobService) -> None:
    config = load_config({"THUMBS_URL_MODE": "signed", "THUMBS_URL_TTL": "7d"})
    links = UrlBuilder(config, signer=AzureUrlSigner()).links(blob_service.store(), ["a.jpg", "b.jpg", "c.json"])
    assert links.expires == min(_se(url) for url in links.urls.values() if url)
    assert links.expires is not None and links.expires <= _parse(blob_service.fetches[0][1])


def test_a_short_ttl_reuses_the_key_and_gets_its_full_ttl(blob_service: BlobService) -> None:
    signer, store = AzureUrlSigner(), blob_service.store()
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed = [signer(store, f"s/{n}.jpg", 3600) for n in range(10)]
    assert len(blob_service.fetches) == 1
    assert all(before + dt.timedelta(seconds=3600) <= url.expires for url in signed)


def test_an_identity_without_the_delegator_role_is_refused_at_start(blob_service: BlobService) -> None:
    blob_service.refuse = True
    with pytest.raises(SigningRefused) as caught:
        AzureUrlSigner().check(blob_service.store())
    assert "THUMBS_URL_MODE=signed" in str(caught.value) and "Storage Blob Delegator" in str(caught.value)
    assert caught.value.kind == "config"


def test_the_key_is_fetched_with_the_stores_own_client(blob_service: BlobService) -> None:
    """The process's one client (its retry policy, timeouts and connections), not a second one per account."""
    store = blob_service.store()
    calls: list[object] = []
    fetch = store.service.get_user_delegation_key

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return fetch(*args, **kwargs)

    store.service.get_user_delegation_key = counted  # type: ignore[method-assign]
    AzureUrlSigner()(store, "k.jpg", 3600)
    assert len(calls) == len(blob_service.fetches) == 1
