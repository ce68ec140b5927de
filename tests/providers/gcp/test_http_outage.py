"""GCP's own reliability cases, beyond the shared suite (which delivers CloudEvents in-process, see
:class:`tests.providers.gcp.rig.Faulty`): the function over real HTTP during a storage outage, and the
retry deadline google-api-core keeps on a clock other threads must not move.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.images import jpeg_bytes
from tests.providers.gcp import rig as gcp
from tests.providers.gcp.deliveries import post_binary
from tests.providers.gcp.emulator import PROJECT, ROOT, _stop, _wait_for_http, free_port
from tests.reliability.faultproxy import Fault, Rule, http_error
from tests.rigs.base import FaultRig
from tests.rigs.plugin import COMPRESSED_SLEEP, SdkSleeps

pytestmark = pytest.mark.gcp

SOURCE = jpeg_bytes(320, 240)


@pytest.fixture
def faulty(request: pytest.FixtureRequest) -> FaultRig:
    return gcp.faulty(request, request.getfixturevalue("fault_proxy")(gcp.upstream(request)))


@pytest.mark.slow  # the function's own client, unpatched: it retries for its full 30 s deadline first
def test_gcp_function_answers_500_during_an_outage_and_200_after(faulty: FaultRig, tmp_path: Path) -> None:
    """Over real HTTP: functions-framework turns the transient error into 500, which Eventarc redelivers."""
    rig = faulty
    key = "http/photo.jpg"
    notification = rig.upload(key, SOURCE)
    method, path = rig.source_read()
    rig.proxy.add(http_error(503), method=method, path=path, times=None)
    port, log = free_port(), tmp_path / "ff.log"
    environ = {name: value for name, value in os.environ.items() if not name.startswith("THUMBS_")}
    environ.update(THUMBS_DEST_BUCKET=rig.dest, THUMBS_SIZES="64x64,32x32", STORAGE_EMULATOR_HOST=rig.proxy.url,
                   GOOGLE_CLOUD_PROJECT=PROJECT, PYTHONPATH=str(ROOT), WORKERS="1", THREADS="1")  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--source", str(ROOT / "providers" / "gcp" / "main.py"),
             "--target", "handle_cloud_event", "--signature-type", "cloudevent", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_http(url, server, log, "functions-framework")
        attrs, data = notification.payload
        outage = post_binary(url, attrs, data)
        assert outage.status_code == 500, log.read_text()  # Eventarc retries a 5xx
        assert len(rig.proxy.seen(method, path)) >= 2, "the SDK retried before giving up"
        rig.assert_absent(key)

        rig.proxy.clear()
        assert post_binary(url, attrs, data).status_code == 200, log.read_text()
        rig.assert_complete(key)
    finally:
        _stop(server)


def test_another_threads_back_off_does_not_spend_this_deliverys_gcs_deadline(
    faulty: FaultRig, request: pytest.FixtureRequest
) -> None:
    """The cause of the intermittent ``[gcp-hold_drop-source_read]`` failure, pinned (it was a non-strict xfail).

    google-api-core stops retrying on a deadline read from ``time.monotonic``; the test clock shim used to
    advance one shared clock for every thread's compressed back-off. An SDK retry loop running in another
    thread (here, one that was already backing off when the test started, as one left behind by an earlier
    test) then spent this delivery's 30 s in a moment: one dropped download ended in ``RetryError``.
    """
    from google.api_core.retry import retry_unary

    rig = faulty
    stop = threading.Event()

    def backing_off_elsewhere() -> None:
        while not stop.is_set():
            clock = retry_unary.time  # read per call, as retry_unary does: this test's shim once installed
            if clock is time:
                time.sleep(COMPRESSED_SLEEP)  # before: compressed by the shim of the test that started it
            else:
                clock.sleep(8.0)

    other = threading.Thread(target=backing_off_elsewhere, daemon=True)
    other.start()
    try:
        sdk_sleeps: SdkSleeps = request.getfixturevalue("sdk_sleeps")  # installed while the other thread runs
        notification = rig.upload("blip/elsewhere.jpg", SOURCE)
        method, path = rig.source_read()
        rule = rig.proxy.add(Rule(Fault.HOLD_DROP, hold=0.2), method=method, path=path, times=1)

        delivery = rig.deliver(notification)

        assert not delivery.retry, f"another thread's back-off cost this delivery its retry: {delivery.error!r}"
        assert rule.fired == 1 and len(rig.proxy.seen(method, path)) == 2
        assert len(sdk_sleeps.of("gcp")) == 1, "only this test's own back-off is recorded"
        rig.assert_complete("blip/elsewhere.jpg")
    finally:
        stop.set()
