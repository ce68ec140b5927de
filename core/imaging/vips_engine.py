"""The libvips engine (the optional ``fast`` extra): its runtime, what it decodes, and its decode and resize.

A source the libvips engine renders stays in libvips from its bytes to the
encoded thumbnails (:mod:`core.imaging.vips_render`): decoding (JPEG shrinks
in the DCT as Pillow's draft does; WebP scaled while decoding, which Pillow's
plugin cannot, by the libwebp Pillow ships, :mod:`core.imaging.libwebp`, into one
buffer; rows stream through the resize instead of the whole raster sitting in memory),
resizing (vectorised LANCZOS3), orientation, sRGB conversion and alpha
(:mod:`core.imaging.vips_colour`), metadata and encoding
(:mod:`core.imaging.vips_encode`). Both engines follow the same rules, so the
thumbnails are the same whichever renders:

* **limits**: Pillow opened the source header-only and :mod:`core.imaging.decode`
  checked it against ``max_pixels`` before libvips sees a byte;
* **formats**: JPEG, still PNG and still WebP only, each through its own loader
  (never libvips' sniffing ``new_from_buffer``); everything else is Pillow's;
* **orientation, EXIF, ICC**: read by Pillow from the header (a PNG keeping
  them after its pixel data, or cut short, goes to the Pillow engine, which
  reads the rest after decoding); the plan (:mod:`core.imaging.plan`) runs in
  stored orientation and each small thumbnail is turned upright at the end;
  what is done with a profile is :func:`core.imaging.colour.profile_verdict`'s;
* **modes**: 16-bit samples keep their top byte, palettes and tRNS keys
  become RGB(A)/LA in the loader, alpha is resized premultiplied;
* **errors**: libvips fails on truncated data (``fail_on="truncated"``), and
  any libvips failure while decoding is a :class:`TruncatedImage`.

pyvips is imported on first use, never at import, and set up there for a
function: one request at a time, many requests per warm process. Its operation
cache is switched off (every render has new bytes, so a cached operation only
keeps an old source alive), and its worker threads are as many as the CPUs
this process may use (affinity and a cgroup CPU quota), not libvips' default
of the host's core count, so a 1-2 vCPU function is not oversubscribed.
``VIPS_CONCURRENCY``, libvips' own setting, overrides the thread count.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import sys
from types import ModuleType
from typing import Any

from PIL import Image, ImageFile

from core.errors import ConfigError
from core.imaging import decode, geometry, libwebp, plan, sniff

#: Pillow modes of each source format this engine decodes exactly as the Pillow engine does.
_MODES = {
    "JPEG": frozenset({"L", "RGB", "CMYK"}),
    "PNG": frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
}
#: Sources with a larger ICC profile are left to the Pillow engine. Real profiles stay under 600 KB; a
#: JPEG can carry 16 MB of APP2 "profile", which libvips copies again (a peak near 180 MB, Pillow's ~97 MB).
MAX_ICC_BYTES = 1 << 20
#: WebP decodes this many times the largest output. libwebp scales while decoding by exact area
#: averaging (not by powers of two like a JPEG's DCT), so it needs less margin than ``draft_gap``:
#: 1.5 keeps 48 dB PSNR against a full LANCZOS resize (2.0: 50 dB) and cuts the peak memory of a
#: 12 MP WebP at 1024 px from +46 MB to +32 MB (the decoded frame is held whole; with libvips' loader,
#: twice in RGBA: decoded by :mod:`core.imaging.libwebp`, once in RGB, +21 MB for three sizes).
WEBP_DRAFT_GAP = 1.5
#: The resize from the decoded image first shrinks by whole factors (box
#: filter) down to this many times the target, then applies LANCZOS3; the
#: same trade as the Pillow engine's ``reducing_gap``.
REDUCING_GAP = 2.0


#: libvips' own setting for its worker threads per pipeline (read by libvips when it starts).
CONCURRENCY_ENV = "VIPS_CONCURRENCY"
#: glibc malloc arenas once libvips is loaded (see :func:`_limit_malloc_arenas`).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)

_forked_after_start: list[bool] = []  # set in a child forked after libvips started (no global statement)


def cpu_budget() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota (containers, functions)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, quota) if quota else cpus)


def _cgroup_cpu_quota() -> int | None:
    """The CPU quota of this process's cgroup, rounded up to whole CPUs; None when unlimited or unknown."""
    quota_period = _words("/sys/fs/cgroup/cpu.max")  # cgroup v2: "max 100000" or "150000 100000"
    if not quota_period:  # cgroup v1
        quota_period = _words("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")[:1] + _words(
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us"
        )
    try:
        quota, period = int(quota_period[0]), int(quota_period[1])
    except (IndexError, ValueError):  # absent, "max" or garbage: no quota
        return None
    return -(-quota // period) if quota > 0 and period > 0 else None


def _words(path: str) -> list[str]:
    try:
        with open(path, encoding="ascii") as pseudo_file:
            return pseudo_file.read().split()
    except (OSError, UnicodeDecodeError):
        return []


def concurrency() -> int:
    """libvips worker threads per pipeline: ``VIPS_CONCURRENCY`` if set, else :func:`cpu_budget`.

    Raises:
        ConfigError: ``VIPS_CONCURRENCY`` is not a positive integer.
    """
    raw = os.environ.get(CONCURRENCY_ENV, "").strip()
    if not raw:
        return cpu_budget()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{CONCURRENCY_ENV} must be a positive integer (libvips worker threads); got {raw!r}")
    return int(raw)


@functools.cache
def _pyvips() -> ModuleType | None:
    """pyvips, configured once for a single-request process; None when it (or libvips) is missing.

    Raises:
        ConfigError: ``VIPS_CONCURRENCY`` is not a positive integer.
    """
    threads = concurrency()  # validated before libvips starts: a bad value fails the first render loudly
    try:
        pyvips = importlib.import_module("pyvips")
    except (ImportError, OSError):  # not installed, or libvips failed to load
        return None
    # Every render has new bytes: cached operations would only keep old sources in memory.
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)
    pyvips.concurrency_set(threads)
    _limit_malloc_arenas()
    # libvips keeps a pool of worker threads; a child forked from this process has none of them and
    # would wait for them forever. Such a child renders with Pillow instead (fork before first use,
    # or use forkserver/spawn, to keep the fast engine in workers).
    os.register_at_fork(after_in_child=lambda: _forked_after_start.append(True))
    return pyvips


def _limit_malloc_arenas() -> None:
    """Caps glibc's malloc arenas before libvips starts its worker threads.

    glibc gives each new thread that allocates its own arena (up to 8 per core), and every arena keeps
    the freed tiles of the largest image it ever held: a warm process rendering mixed sources then grows
    by tens of MB over its first few hundred renders (measured +25 to +37 MB from render 50 to 200) and
    never gives it back. With :data:`MALLOC_ARENAS` it stays flat. ``MALLOC_ARENA_MAX`` set in the
    environment wins (glibc read it at start); other C libraries (musl, macOS) are left alone.
    """
    if sys.platform != "linux" or os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def import_failure() -> str | None:
    """Why pyvips (or the libvips library) cannot be imported here, or None when it can.

    Only imports: libvips is neither configured nor started (no worker thread, no fork hook), so a process
    that checks this at start (THUMBS_ENGINE=vips) may still fork workers that use the engine.
    """
    try:
        importlib.import_module("pyvips")
    except (ImportError, OSError):  # not installed, or libvips failed to load
        return "pyvips (or the libvips library) is not installed"
    return None


def unavailable_reason() -> str | None:
    """Why this engine cannot run in this process, or None when it can (imports pyvips on first call)."""
    if _pyvips() is None:
        return "pyvips (or the libvips library) is not installed"
    if _forked_after_start:
        return "this process was forked after libvips started its threads"
    return None


def available() -> bool:
    """Whether this engine can run here: pyvips and libvips installed, and no fork after their start."""
    return unavailable_reason() is None


def supports(image: ImageFile.ImageFile, data: bytes) -> bool:
    """Whether this engine renders ``image`` (opened header-only from ``data``) as Pillow would."""
    fmt = decode.pillow_format(image)
    if image.mode not in _MODES.get(fmt, ()):
        return False
    if len(image.info.get("icc_profile") or b"") > MAX_ICC_BYTES:
        return False  # libvips would keep its own copy of a hostile profile on top of Pillow's
    if fmt == "JPEG":
        return True  # an MPO's first image is what both read
    if decode.frame_count(image) != 1:
        return False  # animations: Pillow composes the first frame
    return fmt != "PNG" or sniff.png_header_tells_all(data)


def runtime() -> ModuleType:
    """pyvips, configured (call :func:`available` first)."""
    vips = _pyvips()
    assert vips is not None, "call available() first"
    return vips


def working_mode(image: Image.Image) -> str:
    """The working mode the Pillow engine brings this source to (see ``colour.working_mode``)."""
    alpha = decode.has_alpha(image)
    if image.mode in ("1", "L", "I;16", "I;16B", "LA"):
        return "LA" if alpha or image.mode == "LA" else "L"
    if image.mode == "CMYK":
        return "CMYK"
    return "RGBA" if alpha or image.mode == "RGBA" else "RGB"


def load(vips: ModuleType, data: bytes, fmt: str, *, stored: tuple[int, int], request: tuple[int, int]) -> Any:
    """A lazy, sequential libvips image of ``data``, reduced while decoding where the format allows."""
    # A memory source reads ``data`` in place; the *_buffer loaders copy it first (+13 MB for a 50 MP JPEG).
    source = vips.Source.new_from_memory(data)
    options: dict[str, Any] = {"access": "sequential", "fail_on": "truncated"}
    if fmt == "JPEG":
        return vips.Image.jpegload_source(source, shrink=geometry.jpeg_scale(stored, request), **options)
    if fmt == "WEBP":
        # libwebp scales while decoding; never below the request (the same margin as a JPEG draft).
        scale = min(1.0, max(request[0] / stored[0], request[1] / stored[1]))
        decoded = _webp_by_pillows_libwebp(vips, data, stored=stored, scale=scale)
        return decoded if decoded is not None else vips.Image.webpload_source(source, scale=scale, **options)
    return vips.Image.pngload_source(source, **options)


def _webp_by_pillows_libwebp(vips: ModuleType, data: bytes, *, stored: tuple[int, int], scale: float) -> Any | None:
    """The still WebP decoded at ``scale`` by Pillow's libwebp into one buffer (:mod:`core.imaging.libwebp`):
    ``webpload``'s pixels, faster and in a third of its memory; None where that libwebp is not usable here,
    or reads another header than Pillow did (libvips' loader then decodes, as before).

    Raises:
        TruncatedImage: libwebp could not decode the pixels.
        ImageTooLarge: Memory ran out.
    """
    if not libwebp.available():
        return None
    header = libwebp.features(data)
    if header is None or header[:2] != stored or header[3]:
        return None
    size = libwebp.scaled_size(stored, scale)
    alpha = header[2]
    pixels = libwebp.decode(data, stored=stored, size=size, alpha=alpha)
    wrapped = vips.Image.new_from_memory(pixels, size[0], size[1], 4 if alpha else 3, "uchar")  # no copy
    # Never handed out bare: pyvips keeps ``pixels`` alive through the images operations derive from it, but
    # copy_memory() of an image already in memory returns a new wrapper of the same libvips image without that
    # reference, and libvips then reads freed memory. A copy (an operation, no pixels moved) carries it.
    return wrapped.copy(interpretation="srgb")


def to_eight_bits(image: Any) -> Any:
    """8-bit samples, named as the savers expect (16-bit ones keep their top byte, as the Pillow engine's,
    and viewers', reduction does)."""
    if image.format != "uchar":
        image = (image >> 8).cast("uchar")
    if image.interpretation == "cmyk":
        return image
    interpretation = "b-w" if image.bands < 3 else "srgb"
    # Renamed only when needed: a copy of an image held in memory would be copied again by copy_memory().
    return image if image.interpretation == interpretation else image.copy(interpretation=interpretation)


def resize(image: Any, step: plan.Step, *, from_decoded: bool) -> Any:
    """Crops and resizes ``image`` for ``step``, alpha premultiplied; the result is in memory."""
    left, top, right, bottom = step.crop
    # libvips crops whole pixels: the fraction dropped from a cover crop is below one source pixel.
    x, y = round(left), round(top)
    width, height = max(1, round(right) - x), max(1, round(bottom) - y)
    if (x, y, width, height) != (0, 0, image.width, image.height):
        image = image.crop(x, y, width, height)
    alpha = image.hasalpha()
    if alpha:
        # 8-bit premultiplied, as Pillow resizes RGBa/La: libvips' float premultiply would
        # make the whole resize run on 4-byte floats (slower, and 4x the memory).
        image = image.premultiply().cast("uchar")
    resized = image.resize(
        step.size[0] / width,
        vscale=step.size[1] / height,
        kernel="lanczos3",
        # Only the decoded image can be many times too large (see REDUCING_GAP); 0 = LANCZOS3 alone.
        gap=REDUCING_GAP if from_decoded else 0.0,
    )
    if alpha:
        resized = resized.unpremultiply().cast("uchar")
    if (resized.width, resized.height) != step.size:
        # Rounding of scale x size can land one pixel off: pad by copying edges, then cut.
        resized = resized.embed(0, 0, max(resized.width, step.size[0]), max(resized.height, step.size[1]),
                                extend="copy").crop(0, 0, *step.size)  # fmt: skip
    return resized.copy_memory()


def first_line(exc: Exception) -> str:
    """The first line of a libvips error (its log follows)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
