"""Runs inside an unpacked cloud package (``python -S``, ``sys.path`` = the package and what its runtime
installs): imports the cloud's entrypoint module, then renders on request.

``serve ENTRY``: one JSON request per line on stdin (``{"file", "sizes", "quality"}``), one JSON answer per
line: the wall and CPU seconds of ``render_thumbnails`` (what the entrypoint's pipeline calls) from the
bytes in memory to the encoded JPEGs, the outputs, and the engine that rendered. ``coldstart ENTRY``:
one JSON line with the import time of the entrypoint, whether pyvips / pillow-heif came along, and what
loading each on first use costs. Only the standard library is imported before the package's own modules.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any


def _render(data: bytes, sizes: list[int], quality: int) -> dict[str, Any]:
    from core.imaging import Box, Fit, render_thumbnails
    from core.imaging.engine import engine_for

    boxes = [Box(size, size) for size in sizes]
    wall, cpu = time.perf_counter(), time.process_time()
    thumbnails = render_thumbnails(data, boxes=boxes, fit=Fit.CONTAIN, format="jpeg", quality=quality,
                                   strip_metadata=True, max_pixels=200_000_000)  # fmt: skip
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "outputs": [base64.b64encode(thumbnail.body).decode() for thumbnail in thumbnails],
        "engine": engine_for(data, boxes=boxes, fit=Fit.CONTAIN, max_pixels=200_000_000),
    }


def floor(code: str) -> None:
    """Print the import time of ``code`` (Pillow + the SDK + one client), after the host modules."""
    host, body = code.split("\n--\n", 1)
    for name in filter(None, host.split(",")):
        importlib.import_module(name)
    started = time.perf_counter()
    exec(body, {})  # noqa: S102 -- the benchmark's own floor snippet
    print(json.dumps({"floor_ms": (time.perf_counter() - started) * 1000}))


def serve(entry: str) -> None:
    """Import ``entry``, then answer render requests until stdin closes."""
    importlib.import_module(entry)
    cache: dict[str, bytes] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            if request["file"] not in cache:
                cache[request["file"]] = Path(request["file"]).read_bytes()
            answer = _render(cache[request["file"]], request["sizes"], request["quality"])
        except Exception as exc:  # reported to the benchmark, which shows it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def coldstart(entry: str, *host: str) -> None:
    """Print the entrypoint's import cost and the first-use cost of each optional engine.

    ``host`` modules (functions-framework, azure.functions) are imported first and not counted: the
    platform has them loaded before it imports the entry module.
    """
    for name in host:
        importlib.import_module(name)
    started = time.perf_counter()
    importlib.import_module(entry)
    entry_ms = (time.perf_counter() - started) * 1000
    loaded = {name: name in sys.modules for name in ("PIL.Image", "pyvips", "pillow_heif")}
    from core.imaging import decode, vips_engine

    started = time.perf_counter()
    vips_ok = vips_engine.available()  # what the first render that picks libvips pays: import pyvips, start libvips
    vips_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    heif_ok = decode.heif_opener_available()  # the first HEIC source: import pillow_heif, register its opener
    heif_ms = (time.perf_counter() - started) * 1000
    print(json.dumps({
        "entry_ms": entry_ms, "loaded_at_import": loaded, "vips": vips_ok, "vips_first_use_ms": vips_ms,
        "heif": heif_ok, "heif_first_use_ms": heif_ms,
        "pyvips_file": getattr(sys.modules.get("pyvips"), "__file__", None),
    }))  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "coldstart":
        coldstart(sys.argv[2], *sys.argv[3:])
    else:
        floor(sys.argv[2])
