"""``polythumb verify``'s serve step (issue 23) against the local service: ``polythumb serve`` over real HTTP as the
serve URL, ``polythumb watch`` as the upload function, on two directories.

The watcher starts only once the first request has been answered, which is what a deployment's event path gives
(a queue's batching window, Eventarc's delivery): the step must see the request render, then the event write
nothing. The clouds' own runs of the step are in tests/providers/<cloud>/test_verify.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.config import Config, load_config
from core.ops.runner import open_local_bucket, watch_directory
from core.ops.serve_local import BoundedServer
from core.ops.verify import verify
from core.ops.verify_serve import HttpAnswer, ServeFetch, fetch_from, http_get
from core.runtime import FunctionRuntime
from core.storage.filesystem import FilesystemStorage
from tests.images import jpeg_bytes

SETTINGS = {"THUMBS_SIZES": "160x120,48x48", "THUMBS_CACHE_CONTROL": "public, max-age=60"}


class Deployment:
    """The local service on ``src`` -> ``dst``: a serve server, and a watcher started on demand."""

    def __init__(self, tmp_path: Path) -> None:
        self.src, self.dst = tmp_path / "src", tmp_path / "dst"
        self.src.mkdir()
        self.dst.mkdir()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.server: BoundedServer | None = None

    def config(self, **settings: str) -> Config:
        return load_config({**SETTINGS, "THUMBS_DEST_BUCKET": str(self.dst), **settings})

    def serve(self, **settings: str) -> str:
        config = self.config(THUMBS_SERVE_SOURCE_BUCKET=str(self.src), **settings)
        self.server = BoundedServer(("127.0.0.1", 0), FunctionRuntime(open_local_bucket, config=config))
        self._start(self.server.serve_forever, poll_interval=0.05)
        return self.server.url

    def watch(self, **settings: str) -> None:
        self._start(watch_directory, self.src, self.config(**settings), interval=0.05, stop=self.stop)

    def _start(self, target: Callable[..., object], *args: object, **kwargs: object) -> None:
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    found = Deployment(tmp_path)
    yield found
    found.close()


def then_watch(fetch: ServeFetch, start: Callable[[], None]) -> ServeFetch:
    """``fetch``, and the event path started once its first answer is in."""

    def first(key: str) -> HttpAnswer:
        try:
            return fetch(key)
        finally:
            start()

    return first


def lines(report_table: str, name: str) -> list[str]:
    return [line for line in report_table.splitlines() if line.startswith(name)]


def test_the_first_request_renders_and_the_upload_event_then_writes_nothing(deployment: Deployment) -> None:
    url = deployment.serve()
    fetch = then_watch(fetch_from(url), deployment.watch)
    report = verify(FilesystemStorage(deployment.src), FilesystemStorage(deployment.dst), deployment.config(),
                    prefix="uploads/", timeout=30, poll=0.1, serve=fetch)  # fmt: skip
    table = report.table()
    assert report.passed, table
    [first] = lines(table, "serve: first request")
    assert "75x120" in first and "rendered by the request (x-polythumb-cache: miss)" in first
    [untouched] = lines(table, "serve: upload event writes nothing")
    assert " pass " in untouched and "2 outputs unchanged" in untouched
    names = [check.name for check in report.checks]
    assert names.index("serve: first request") < names.index("thumbnails appear")
    assert names.index("oriented.jpg 48x48") < names.index("serve: upload event writes nothing")


def test_a_redirect_is_followed_to_the_image(deployment: Deployment) -> None:
    """With a public base URL the serve function answers 302 (a CDN in front of the destination)."""
    base = deployment.serve(THUMBS_URL_MODE="public", THUMBS_PUBLIC_BASE_URL="http://thumbs.invalid/")
    moved: list[str] = []

    def via_cdn(key: str) -> HttpAnswer:
        answer = fetch_from(base)(key)
        moved.append(answer.headers.get("location", ""))
        # The CDN of the base URL, here the destination directory itself.
        local = FilesystemStorage(deployment.dst).get(key)
        return HttpAnswer(200, {"x-polythumb-cache": answer.headers["x-polythumb-cache"]}, local.body, answer.url)

    report = verify(FilesystemStorage(deployment.src), FilesystemStorage(deployment.dst), deployment.config(),
                    prefix="uploads/", timeout=30, poll=0.1, serve=then_watch(via_cdn, deployment.watch))  # fmt: skip
    assert report.passed, report.table()
    assert moved and moved[0].startswith("http://thumbs.invalid/uploads/polythumb-verify-")


def test_the_step_fails_when_the_upload_event_writes_the_served_thumbnail_again(deployment: Deployment) -> None:
    url = deployment.serve()
    fetch = then_watch(fetch_from(url), lambda: deployment.watch(THUMBS_QUALITY="41"))  # other settings
    report = verify(FilesystemStorage(deployment.src), FilesystemStorage(deployment.dst), deployment.config(),
                    prefix="uploads/", timeout=30, poll=0.1, serve=fetch)  # fmt: skip
    [untouched] = lines(report.table(), "serve: upload event writes nothing")
    assert " FAIL " in untouched and "rewritten: uploads/polythumb-verify-" in untouched
    assert not report.passed


def test_a_serve_url_that_does_not_answer_fails_the_step_and_the_rest_still_runs(deployment: Deployment) -> None:
    deployment.watch()
    with BoundedServer(("127.0.0.1", 0), FunctionRuntime(open_local_bucket, config=deployment.config())) as closed:
        dead = closed.url  # bound, then closed: nothing listens there any more
    report = verify(FilesystemStorage(deployment.src), FilesystemStorage(deployment.dst), deployment.config(),
                    prefix="uploads/", timeout=30, poll=0.1, serve=fetch_from(dead))  # fmt: skip
    table = report.table()
    [first] = lines(table, "serve: first request")
    assert " FAIL " in first and "the serve URL did not answer" in first
    [untouched] = lines(table, "serve: upload event writes nothing")
    assert " FAIL " in untouched and "the first request failed" in untouched
    assert " pass " in lines(table, "thumbnails appear")[0]  # the event path is still checked


def test_without_a_serve_url_verify_is_what_it_was(deployment: Deployment) -> None:
    deployment.watch()
    report = verify(FilesystemStorage(deployment.src), FilesystemStorage(deployment.dst), deployment.config(),
                    prefix="uploads/", timeout=30, poll=0.1)  # fmt: skip
    assert report.passed and not [c for c in report.checks if c.name.startswith("serve:")]


def test_http_get_follows_no_redirect_and_answers_an_error_status(deployment: Deployment) -> None:
    url = deployment.serve(THUMBS_URL_MODE="public", THUMBS_PUBLIC_BASE_URL="http://thumbs.invalid/") + "/"
    (deployment.src / "a.jpg").write_bytes(jpeg_bytes(320, 200))
    answer = http_get(url + "a-48x48.jpg")
    assert answer.status == 302 and answer.headers["location"] == "http://thumbs.invalid/a-48x48.jpg"
    missing = http_get(url + "nothing-48x48.jpg")
    assert (missing.status, missing.headers["cache-control"]) == (404, "public, max-age=60")
    with pytest.raises(OSError, match="not an http"):
        http_get("file:///etc/passwd")
    with pytest.raises(OSError, match="InvalidURL"):
        http_get(url.rstrip("/") + "x/")  # a port that is no number
