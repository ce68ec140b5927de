"""What the completion tests share: schema checks, a BlurHash reference decoder, an HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from core.completion.events import schema


def validate_event(event: dict[str, Any]) -> None:
    """Fail unless ``event`` is valid against the shipped schema."""
    import jsonschema

    jsonschema.validate(event, schema(), format_checker=jsonschema.FormatChecker())


def validate_manifest(document: dict[str, Any]) -> None:
    """Fail unless ``document`` is a valid manifest (``$defs/manifest`` of the shipped schema)."""
    import jsonschema

    manifest_schema = {"$defs": schema()["$defs"], "$ref": "#/$defs/manifest"}
    jsonschema.validate(document, manifest_schema, format_checker=jsonschema.FormatChecker())


def read_events(path: Path, *, subject_prefix: str = "") -> list[dict[str, Any]]:
    """The events a ``file:`` target holds (those whose subject starts with ``subject_prefix``), validated."""
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    for event in events:
        validate_event(event)
    return [event for event in events if event["subject"].startswith(subject_prefix)]


def blurhash_mean(hash_: str, width: int = 32, height: int = 32) -> tuple[float, float, float]:
    """Mean sRGB colour of the image the reference decoder (the ``blurhash`` package) paints from ``hash_``."""
    import blurhash

    pixels = blurhash.decode(hash_, width, height)
    flat = [pixel for row in pixels for pixel in row]
    return tuple(sum(p[i] for p in flat) / len(flat) for i in range(3))  # type: ignore[return-value]


def mean_colour(image_bytes: bytes) -> tuple[float, float, float]:
    """Mean sRGB colour of an encoded image, transparency composited onto white."""
    import io

    from PIL import Image, ImageStat

    with Image.open(io.BytesIO(image_bytes)) as image:
        rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return tuple(ImageStat.Stat(flat).mean)  # type: ignore[return-value]


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 standing for a webhook, Pub/Sub's REST API or an Event Grid topic.

    ``answer`` decides each response from the request: ``(status, body)``. ``fail_next`` answers that many
    requests with 503 first (an outage).
    """

    answer: Callable[[Received], tuple[int, bytes]] = field(default=lambda r: (200, b"{}"))
    fail_next: int = 0
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                owner.requests.append(received)
                if owner.fail_next > 0:
                    owner.fail_next -= 1
                    status, body = 503, b"down"
                else:
                    status, body = owner.answer(received)
                    if 200 <= status < 300:
                        owner.accepted.append(received)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def ids(events: Iterable[dict[str, Any]]) -> list[str]:
    """The ids of ``events``, in order."""
    return [event["id"] for event in events]
