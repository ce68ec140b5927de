"""Logs never carry credentials, connection strings or signed URLs.

* :func:`core.logs.redact` and :class:`core.logs.JsonFormatter`, directly, on every secret shape the
  clouds use (keys, tokens, connection strings, SAS and signed-URL query strings, URL userinfo,
  authorization headers; each rig module lists its cloud's), in plain text, in JSON fields and in tracebacks.
* A full run on each provider -- success, a non-image, a malformed event, a transient outage, a permission
  error, a delete -- at DEBUG, with credentials planted where an SDK error message could echo them: the
  captured JSON lines are searched for every planted secret.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from core.logs import JsonFormatter, redact
from tests import rigs
from tests.images import jpeg_bytes
from tests.log_capture import JsonLogs
from tests.reliability.faultproxy import http_error
from tests.rigs.base import FaultRig, Notification
from tests.rigs.plugin import SdkSleeps

# -- redact(), directly ----------------------------------------------------------------------

#: Secret shapes of no one cloud -> (text holding one, the secret); each rig module adds its cloud's own.
GENERIC_SECRET_SHAPES = {
    "bearer token": ("Authorization: Bearer ya29.a0AfH6SMBcanarytoken", "ya29.a0AfH6SMBcanarytoken"),
    "URL userinfo": ("GET http://polythumb:CanaryPassw0rd@127.0.0.1:4443/storage/v1/b/x: Not Found", "CanaryPassw0rd"),
    "private key": (
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}',
        "MIIEvQIBADANBg",
    ),
    "password field": ("password=hunter2-canary", "hunter2-canary"),
    "client secret": ("client_secret=s3cr3t-canary-value", "s3cr3t-canary-value"),
}
SECRET_SHAPES = {**GENERIC_SECRET_SHAPES, **rigs.secret_shapes()}


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
    secret_arg = ("client_secret=arg-canary-0",)
    record = logging.LogRecord("polythumb", logging.ERROR, __file__, 1, "failed with %s", secret_arg, None)
    fields = {"token": "tok-canary-1", "detail": {"sig": "sig-canary-2"}, "url": "https://u:pw-canary-3@h/"}
    record.fields = fields  # type: ignore[attr-defined]
    try:
        raise RuntimeError("password=sig-canary-4")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    json.loads(line)  # still one JSON object
    for canary in ("arg-canary-0", "tok-canary-1", "sig-canary-2", "pw-canary-3", "sig-canary-4"):
        assert canary not in line, line


# -- a full run on each provider, captured ------------------------------------------------------

def _run_everything(rig: FaultRig) -> dict[str, Any]:
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
    malformed = Notification("malformed", good.kind, rig.malformed(good, "malformed-1"), "malformed-1")
    results["malformed"] = rig.deliver(malformed)
    return results


def test_a_full_run_logs_no_credentials(
    rig: FaultRig, json_logs: JsonLogs, sdk_sleeps: SdkSleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = rig.plant_credentials(monkeypatch)  # credentials an SDK error message could echo
    rig.configure(THUMBS_LOG_LEVEL="DEBUG")

    results = _run_everything(rig)

    assert not results["logs/good.jpg"].retry and results["logs/down.jpg"].retry  # the run did what we meant
    text = json_logs.text()
    lines = json_logs.lines()
    assert {line["severity"] for line in lines} >= {"INFO", "WARNING", "ERROR"}, "every kind of line was written"
    assert any("logs/down.jpg" in line.get("message", "") for line in lines if line["severity"] == "WARNING")
    for secret in secrets:
        assert secret not in text, f"a credential reached the logs: {secret[:6]}..."
