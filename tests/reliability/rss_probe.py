"""Render and probe image files, each in its own forked child; print one JSON line per file with its peak RSS.

Usage: ``python rss_probe.py MAX_PIXELS FILE...``, the engine in ``THUMBS_ENGINE`` (``auto`` when unset; the
deprecated ``POLYTHUMB_ENGINE`` too, as the settings read it). The parent imports polythumb and Pillow once and forks
a child per file, so each file's peak is its own: a forked child's high-water mark starts at the parent's
resident size at the fork (small: a fresh interpreter, see the launcher in ``test_hostile_images.py``),
never at an earlier file's peak. Outcomes: ``ok``, an image error's kind, or ``CRASH:<type>`` for
anything that is not a classified image error (a finding).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path

from core.config import load_config
from core.errors import ImageError
from core.imaging import Box, Fit, probe_image, render_thumbnails
from core.imaging.render import render_outputs

#: The engine every render here uses, validated as the functions validate it (THUMBS_ENGINE).
ENGINE = load_config({name: value for name, value in os.environ.items() if name.endswith("_ENGINE")}).engine


def peak_mb() -> float:
    """This process's peak resident set so far, in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except ImageError as exc:
        return exc.kind
    except BaseException as exc:  # anything else is a finding, reported rather than raised
        return f"CRASH:{type(exc).__name__}:{str(exc)[:120]}"
    return "ok"


def measure(path: Path, max_pixels: int) -> dict[str, object]:
    data = path.read_bytes()

    def render(strip: bool) -> Callable[[], object]:
        return lambda: render_thumbnails(
            data, boxes=[Box(256, 256), Box(64, 64)], fit=Fit.CONTAIN, format="jpeg", quality=None,
            strip_metadata=strip, max_pixels=max_pixels, engine=ENGINE,
        )  # fmt: skip

    def render_animated() -> object:  # animated = "keep": a GIF or WebP animation becomes animated WebP
        return render_outputs(
            data, boxes=[Box(256, 256), Box(64, 64)], fit=Fit.CONTAIN, encodings=[("webp", None)],
            strip_metadata=True, max_pixels=max_pixels, animated="keep", engine=ENGINE,
        )  # fmt: skip

    return {
        "file": path.name,
        "probe": outcome(lambda: probe_image(data, max_pixels=max_pixels)),
        "render": outcome(render(True)),
        "render_keeping_metadata": outcome(render(False)),  # EXIF and ICC carried over
        "render_animated": outcome(render_animated),
        "peak_rss_mb": round(peak_mb(), 1),
    }


def main(argv: list[str]) -> None:
    max_pixels = int(argv[0])
    for name in argv[1:]:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child measures one file and leaves without running any cleanup of the parent's
            os.close(read)
            os.write(write, json.dumps(measure(Path(name), max_pixels)).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            report = pipe.read()
        _, status = os.waitpid(child, 0)
        if report:
            print(report.decode(), flush=True)
        else:  # killed (e.g. by the OOM killer) or crashed in C: that is a finding too
            crashed = {"file": Path(name).name, "probe": f"CRASH:exit status {status}", "render": "",
                       "render_keeping_metadata": "", "render_animated": "", "peak_rss_mb": -1}  # fmt: skip
            print(json.dumps(crashed), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
