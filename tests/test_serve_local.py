"""``polythumb serve``, ``polythumb sign`` and ``backfill --lazy`` as a person runs them: real processes, real HTTP.

Several ``polythumb serve`` processes on one destination and the upload event in this process write each output
once; the server's threads are bounded; a template no path can be read back through stops it at start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.config import load_config
from core.events import ObjectEvent
from core.keys import META_SOURCE, decode_meta_value
from core.ops.runner import handle_safely, local_runtime, open_local_bucket
from core.ops.serve_local import BUSY, BoundedServer
from core.runtime import FunctionRuntime
from core.storage import FilesystemStorage
from tests.images import jpeg_bytes, open_bytes
from tests.rigs.local import ROOT, ServeProcess, backfill_environment

SIZES = {"THUMBS_SIZES": "160x120,48x48"}
KEYS = "k1:" + "q" * 40


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "a").mkdir(parents=True)
    (src / "a" / "cat.jpg").write_bytes(jpeg_bytes(1600, 1200))
    dest.mkdir()
    return src, dest


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.ops.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**backfill_environment(), **(env or {})}, timeout=120, check=False)  # fmt: skip


def test_several_serve_processes_and_the_upload_event_write_each_output_once(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    src, dest = folders
    servers = [ServeProcess(src, dest, SIZES, log=tmp_path / f"serve{i}.log") for i in range(3)]
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(dest), **SIZES})
    runtime = local_runtime(config)
    outputs = [output.key for output in config.profiles.outputs_for("a/cat.jpg")]
    start = threading.Barrier(len(servers) * len(outputs) + 1)
    written: list[int] = []
    event: list[int] = []

    def request(server: ServeProcess, key: str) -> None:
        start.wait()
        status, headers, _ = server.request("GET", "/" + key)
        assert status == 200
        written.append(int(headers.get("X-Polythumb-Written", "0")))

    def deliver() -> None:
        start.wait()
        outcome = handle_safely(runtime, ObjectEvent.created(str(src.resolve()), "a/cat.jpg"))
        event.append(sum(1 for output in outcome.outputs if output.action == "written"))

    try:
        threads = [threading.Thread(target=request, args=(server, key)) for server in servers for key in outputs]
        threads.append(threading.Thread(target=deliver))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for server in servers:
            server.stop()
    assert len(written) == len(servers) * len(outputs) and len(event) == 1
    assert sum(written) + event[0] == len(outputs)  # each output exists (below): each was written exactly once
    store = FilesystemStorage(dest)
    for key in outputs:
        assert decode_meta_value(store.head(key).metadata[META_SOURCE]) == "a/cat.jpg"
    lines = [line for server in servers for line in server.records() if line.get("request") == "serve"]
    assert sorted({line["http_status"] for line in lines}) == [200]


def test_polythumb_serve_redirects_to_the_public_base_url_when_one_is_set(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    src, dest = folders
    settings = {**SIZES, "THUMBS_PUBLIC_BASE_URL": "http://127.0.0.1:9/t/"}
    server = ServeProcess(src, dest, settings, log=tmp_path / "l")
    try:
        status, headers, body = server.request("GET", "/a/cat-48x48.jpg")
        assert (status, headers["Location"], body) == (302, "http://127.0.0.1:9/t/a/cat-48x48.jpg", b"")
        assert (dest / "a" / "cat-48x48.jpg").is_file()
    finally:
        server.stop()


def test_a_signed_url_from_polythumb_sign_is_answered_by_polythumb_serve(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    src, dest = folders
    signed = cli("sign", "a/cat.jpg", "-W", "120", "-H", "90", "--fit", "cover", "--format", "png",
                 env={"THUMBS_SERVE_KEYS": KEYS})  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    url = urlsplit(signed.stdout.strip())
    settings = {**SIZES, "THUMBS_SERVE_ADHOC": "true", "THUMBS_SERVE_KEYS": KEYS}
    server = ServeProcess(src, dest, settings, log=tmp_path / "l")
    try:
        status, headers, body = server.request("GET", url.path, url.query)
        assert (status, headers["Content-Type"], open_bytes(body).size) == (200, "image/png", (120, 90))
        tampered = url.query.replace("w=120", "w=121")
        assert server.request("GET", url.path, tampered)[0] == 403
    finally:
        server.stop()
    assert KEYS.split(":")[1] not in server.log.read_text()


def test_polythumb_serve_refuses_a_template_it_cannot_read_back(folders: tuple[Path, Path]) -> None:
    src, dest = folders
    template = {"THUMBS_KEY_TEMPLATE": "{stem}-{size}.{ext}"}
    result = cli("serve", str(src), "--out", str(dest), "--port", "0", env=template)
    assert result.returncode == 2
    assert "configuration error: THUMBS_KEY_TEMPLATE='{stem}-{size}.{ext}' has no {dir}" in result.stderr


@pytest.fixture
def one_thread_server(folders: tuple[Path, Path]) -> Iterator[BoundedServer]:
    src, dest = folders
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(dest), "THUMBS_SERVE_SOURCE_BUCKET": str(src),
                                        **SIZES})  # fmt: skip
    server = BoundedServer(("127.0.0.1", 0), FunctionRuntime(open_local_bucket, config=config), threads=1)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_connection_over_the_thread_limit_is_503_at_once(one_thread_server: BoundedServer) -> None:
    address = one_thread_server.server_address[:2]
    with socket.create_connection(address, timeout=10) as holder:  # takes the one thread: it sends nothing yet
        time.sleep(0.2)
        with socket.create_connection(address, timeout=10) as second:
            second.sendall(b"GET /a/cat-48x48.jpg HTTP/1.1\r\nHost: x\r\n\r\n")
            assert second.recv(4096) == BUSY
        holder.sendall(b"GET /a/cat-48x48.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := holder.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK")


def test_backfill_lazy_renders_nothing_says_so_and_the_first_request_renders(folders: tuple[Path, Path]) -> None:
    src, dest = folders
    assert cli("run", str(src), "--out", str(dest), "--sizes", "48x48", "--no-progress").returncode == 0
    lazy = cli("backfill", str(src), "--out", str(dest), "--sizes", "160x120,48x48", "--lazy", "--json")
    assert lazy.returncode == 0, lazy.stderr
    report = json.loads(lazy.stdout)
    assert (report["mode"], report["rendered"], report["on_first_request"], report["stale"]) == ("lazy", 0, 1, 0)
    assert report["missing"] == 1 and sorted(os.listdir(dest / "a")) == ["cat-48x48.jpg"]
    said = cli("backfill", str(src), "--out", str(dest), "--sizes", "160x120,48x48", "--lazy")
    assert "lazy: nothing rendered" in said.stdout and "first request" in said.stdout
    refused = cli("backfill", str(src), "--out", str(dest), "--lazy", "--delete-orphans")
    assert refused.returncode == 2 and "--lazy" in refused.stderr
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(dest), "THUMBS_SERVE_SOURCE_BUCKET": str(src),
                                        "THUMBS_SIZES": "160x120,48x48"})  # fmt: skip
    from core.serve import ServeRequest, handle_request

    runtime = FunctionRuntime(open_local_bucket, config=config)
    response = handle_request(runtime, ServeRequest("GET", "/a/cat-160x120.jpg"), route="local")
    assert (response.status, response.headers["X-Polythumb-Written"]) == (200, "1")  # only the new size
