"""Logs never carry credentials, connection strings or signed URLs.

* :func:`core.logs.redact` and :class:`core.logs.JsonFormatter`, directly, on every secret shape the
  three clouds use (keys, tokens, connection strings, SAS and signed-URL query strings, URL userinfo,
  authorization headers), in plain text, in JSON fields and in tracebacks.
* A full run on each provider -- success, a non-image, a malformed event, a transient outage, a permission
  error, a delete -- at DEBUG, with credentials planted where an SDK error message could echo them: the
  captured JSON lines are searched for every planted secret.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from typing import Any

import pytest

from core.logs import JsonFormatter, redact
from tests.images import jpeg_bytes
from tests.reliability.conftest import JsonLines, SdkSleeps
from tests.reliability.faultproxy import http_error
from tests.reliability.rigs import Notification, Rig

# -- redact(), directly ----------------------------------------------------------------------

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS_SIG = "Zm9vYmFyc2lnbmF0dXJlK3Rlc3Q%3D"
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: shape -> (text holding a secret, the secret)
SECRET_SHAPES = {
    "azure connection string": (f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={AZURITE_KEY};", AZURITE_KEY),
    "azure SAS connection string": (
        f"BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2022-11-02&sig={SAS_SIG}",
        SAS_SIG,
    ),
    "azure SAS URL": (f"https://a.blob.core.windows.net/c/b.jpg?sv=2022-11-02&sp=r&sig={SAS_SIG}", SAS_SIG),
    "azure shared key header": ("Authorization: SharedKey devstoreaccount1:b0ZHa2V5c2lnPQ==", "b0ZHa2V5c2lnPQ=="),
    "s3 presigned URL (v4)": (
        f"https://b.s3.amazonaws.com/k?X-Amz-Credential={AKID}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Signature=abcdef0123456789",
        "abcdef0123456789",
    ),
    "s3 presigned URL security token": (
        "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FwoGZXIvYXdzEJrTOKEN&X-Amz-Signature=x",
        "FwoGZXIvYXdzEJrTOKEN",
    ),
    "s3 presigned URL (v2)": (
        f"https://b.s3.amazonaws.com/k?AWSAccessKeyId={AKID}&Expires=1&Signature=dGVzdHNpZ25hdHVyZQ%3D%3D",
        "dGVzdHNpZ25hdHVyZQ",
    ),
    "aws access key id": (f"credentials {AKID} were refused", AKID),
    "aws secret in env form": (f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}", SECRET_KEY),
    "aws secret in JSON form": (f'{{"aws_secret_access_key": "{SECRET_KEY}"}}', SECRET_KEY),
    "aws session token in JSON form": ('{"SessionToken": "FwoGZXIvYXdzEJrSESSION"}', "FwoGZXIvYXdzEJrSESSION"),
    "gcs signed URL": (
        "https://storage.googleapis.com/b/o?X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20260101"
        "&X-Goog-Signature=0a1b2c3d4e5f",
        "0a1b2c3d4e5f",
    ),
    "gcs v2 signed URL": (
        "https://storage.googleapis.com/b/o?GoogleAccessId=sa@p.iam&Expires=1&Signature=c2lnbmF0dXJlVjI%3D",
        "c2lnbmF0dXJlVjI",
    ),
    "bearer token": ("Authorization: Bearer ya29.a0AfH6SMBcanarytoken", "ya29.a0AfH6SMBcanarytoken"),
    "URL userinfo": ("GET http://polythumb:CanaryPassw0rd@127.0.0.1:4443/storage/v1/b/x: Not Found", "CanaryPassw0rd"),
    "private key": (
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}',
        "MIIEvQIBADANBg",
    ),
    "password field": ("password=hunter2-canary", "hunter2-canary"),
    "client secret": ("client_secret=s3cr3t-canary-value", "s3cr3t-canary-value"),
}


@pytest.mark.parametrize("shape", sorted(SECRET_SHAPES))
def test_redact_removes_every_secret_shape(shape: str) -> None:
    text, secret = SECRET_SHAPES[shape]
    cleaned = redact(text)
    assert secret not in cleaned, cleaned
    assert "***" in cleaned


def test_redact_keeps_what_is_not_secret() -> None:
    text = "created my-bucket/photos/red flower.jpg: ok (revision 0x8D4BCC2E4835CD0, 12 ms) https://host/path?a=1"
    assert redact(text) == text


def test_the_formatter_redacts_fields_messages_and_tracebacks() -> None:
    secret_arg = (f"AccountKey={AZURITE_KEY}",)
    record = logging.LogRecord("polythumb", logging.ERROR, __file__, 1, "failed with %s", secret_arg, None)
    fields = {"token": "tok-canary-1", "detail": {"sig": "sig-canary-2"}, "url": "https://u:pw-canary-3@h/"}
    record.fields = fields  # type: ignore[attr-defined]
    try:
        raise RuntimeError("X-Amz-Signature=sig-canary-4")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    json.loads(line)  # still one JSON object
    for canary in (AZURITE_KEY, "tok-canary-1", "sig-canary-2", "pw-canary-3", "sig-canary-4"):
        assert canary not in line, line


# -- a full run on each provider, captured ------------------------------------------------------

AWS_CANARIES = {
    "AWS_ACCESS_KEY_ID": "AKIAPOLYTHUMBCANARY7",
    "AWS_SECRET_ACCESS_KEY": "polythumb/Secret+Canary/0123456789abcdefghijKLMN",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEPolythumbSessionCanaryToken0123456789",
}
GCS_PASSWORD = f"Canary{uuid.uuid4().hex[:12]}"


def _plant_credentials(rig: Rig, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> list[str]:
    """Give the function credentials an SDK error message could echo; return the secrets to look for."""
    if rig.provider == "aws":
        for name, value in AWS_CANARIES.items():
            monkeypatch.setenv(name, value)  # read by make_client() when the runtime is built
        return list(AWS_CANARIES.values())
    if rig.provider == "gcp":
        # Credentials in the endpoint URL: requests keeps them in every URL an error message quotes.
        rig.function_endpoint = rig.proxy.url.replace("http://", f"http://polythumb:{GCS_PASSWORD}@")  # type: ignore[attr-defined]
        return [GCS_PASSWORD]
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    from tests.fixtures.azure import ACCOUNT_KEY, ACCOUNT_NAME

    sas = generate_account_sas(
        ACCOUNT_NAME, ACCOUNT_KEY, ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
        expiry="2099-01-01T00:00:00Z",
    )  # fmt: skip
    signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    # A SAS connection string: the token travels in every request's query string.
    rig.connection_string = f"BlobEndpoint={rig.proxy.url}/{ACCOUNT_NAME};SharedAccessSignature={sas}"  # type: ignore[attr-defined]
    return [ACCOUNT_KEY, sas, signature]


def _run_everything(rig: Rig) -> dict[str, Any]:
    """Every kind of outcome the function logs, once."""
    good = rig.upload("logs/good.jpg", jpeg_bytes(64, 48))
    bad = rig.upload("logs/not-an-image.jpg", b"<html>no</html>")
    down = rig.upload("logs/down.jpg", jpeg_bytes(64, 48))
    denied = rig.upload("logs/denied.jpg", jpeg_bytes(64, 48))
    for method, path in (rig.source_head(), rig.source_read()):  # the metadata read fails first
        rig.proxy.add(http_error(503), method=method, path=path + "logs(?:/|%2F)down", times=None)
        rig.proxy.add(http_error(403), method=method, path=path + "logs(?:/|%2F)denied", times=None)
    results = {n.key: rig.deliver(n) for n in (good, bad, down, denied)}
    results["deleted"] = rig.deliver(rig.delete("logs/good.jpg"))
    malformed = Notification("malformed", good.kind, _malformed(rig, good), "malformed-1")
    results["malformed"] = rig.deliver(malformed)
    return results


def _malformed(rig: Rig, template: Notification) -> Any:
    if rig.provider == "aws":
        return {**template.payload, "MessageId": "malformed-1", "Body": "{not json"}
    if rig.provider == "gcp":
        attrs, data = template.payload
        return ({**attrs, "id": "malformed-1"}, {**data, "name": None})
    return {**template.payload, "id": "malformed-1", "subject": "/blobServices/default/containers/x"}


def test_a_full_run_logs_no_credentials(
    rig: Rig, json_logs: JsonLines, sdk_sleeps: SdkSleeps, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    secrets = _plant_credentials(rig, monkeypatch, request)
    rig.configure(THUMBS_LOG_LEVEL="DEBUG")

    results = _run_everything(rig)

    assert not results["logs/good.jpg"].retry and results["logs/down.jpg"].retry  # the run did what we meant
    text = json_logs.text()
    lines = json_logs.lines()
    assert {line["severity"] for line in lines} >= {"INFO", "WARNING", "ERROR"}, "every kind of line was written"
    assert any("logs/down.jpg" in line.get("message", "") for line in lines if line["severity"] == "WARNING")
    for secret in secrets:
        assert secret not in text, f"a credential reached the logs: {secret[:6]}..."
