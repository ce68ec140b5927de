"""Which engine renders a source: Pillow (always there) or libvips (the ``fast`` extra).

Both engines follow one plan (:mod:`core.imaging.plan`), one colour verdict
(:func:`core.imaging.colour.profile_verdict`) and one :class:`core.imaging.encoding.Encoding`;
the libvips engine stays in libvips from the bytes to the encoded thumbnails
(:mod:`core.imaging.vips_render`). So the choice changes speed and memory,
never what a thumbnail is, and the engine is not part of its digest
(:meth:`core.keys.RenderSpec.digest`).

The choice, per source, comes from the benchmark (``python -m benchmarks``):
libvips wins on large PNG and WebP sources (it shrinks WebP while decoding and
resizes several times faster) and on JPEGs whose reduced decode is large; the
``VIPS_*`` constants below say where. The ``engine`` of a render (the
validated setting ``THUMBS_ENGINE``, :attr:`core.config.Config.engine`)
overrides it: ``pillow`` never uses libvips, ``vips`` uses it for every source
it can decode, ``auto`` (the default) follows the table. Nothing here reads
the environment or imports pyvips; the libvips engine loads it on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import ImageFile

from core.errors import ConfigError
from core.imaging.types import ENGINES, FAST_EXTRA_HINT, Box, Fit

#: ``auto`` leaves sources smaller than this to Pillow: libvips' fixed cost per
#: render (building its pipeline, waking its threads) outweighs what it saves on
#: a tiny image (360x240: Pillow 10 ms, libvips 17 ms). At 0.24 Mpx they tie on
#: JPEG and WebP and libvips already wins on PNG (12 vs 19 ms); at 1 Mpx it
#: wins on all three (PNG 33 vs 49 ms, WebP 37 vs 45, JPEG at 1024 px 36 vs 56).
VIPS_MIN_SOURCE_PIXELS = 250_000
#: ``auto`` renders a JPEG with libvips when its reduced decode (the DCT scaling
#: both engines pick, :func:`core.imaging.geometry.jpeg_scale`) has at least this
#: many pixels: there libvips' vectorised resize wins; below it the render is
#: bound by the decode, which both engines share, and libvips' fixed cost per
#: render (building its pipeline) makes it lose. Measured with the native
#: libvips path (CPU medians, one thread, JPEG q85): decoded 0.19 Mpx (12 MP at
#: 256 px) 50 vs 50 ms, 0.27 Mpx (640x427, 3 sizes) Pillow 17.8 vs 21.4 ms,
#: 0.48 Mpx (1600x1200 at 256) 11.7 vs 13.3, 0.75 Mpx (1000x750, 128 and 512)
#: libvips 21.8 vs 29.1, 1.9 Mpx (1600x1200, 128 and 512) 31.7 vs 34.7, 3 Mpx
#: (12 MP, 3 sizes to 1024) 108 vs 165 ms.
VIPS_JPEG_MIN_DECODED_PIXELS = 600_000
#: PNG modes ``auto`` sends to libvips: the truecolour and grey photos the
#: benchmark measures (12 MP: RGB 351 vs 698 ms, RGBA 523 vs 841 ms, and half
#: the memory). Palette and bilevel PNGs (graphics, not measured) stay with
#: Pillow; so does the test suite's 100 Mpx bilevel memory-probe control.
VIPS_PNG_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16B"})


def checked(engine: str) -> str:
    """``engine`` if it names an engine (the setting was validated at start; this guards direct callers).

    Raises:
        ConfigError: An unknown engine name.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)} (THUMBS_ENGINE); got {engine!r}")
    return engine


def uses_vips(
    image: ImageFile.ImageFile, data: bytes, *, boxes: Sequence[Box], fit: Fit, engine: str = "auto"
) -> bool:
    """Whether the libvips engine renders this source (opened header-only from ``data``) for ``boxes``.

    Raises:
        ConfigError: ``engine`` is unknown, or ``vips`` but the libvips engine cannot run in this process.
    """
    name = checked(engine)
    if name == "pillow":
        return False
    from core.imaging import vips_engine  # cheap: pyvips itself loads on first use

    if name == "vips":
        reason = vips_engine.unavailable_reason()
        if reason is not None:
            raise ConfigError(f"THUMBS_ENGINE=vips but the libvips engine cannot run: {reason}; {FAST_EXTRA_HINT}")
        return vips_engine.supports(image, data)
    # auto: only where the benchmark shows libvips winning, and only if installed.
    return _vips_wins(image, boxes=boxes, fit=fit) and vips_engine.available() and vips_engine.supports(image, data)


def _vips_wins(image: ImageFile.ImageFile, *, boxes: Sequence[Box], fit: Fit) -> bool:
    """The benchmark's verdict for this source and these boxes (see the ``VIPS_*`` constants)."""
    from core.imaging import decode, geometry

    width, height = image.size
    if width * height < VIPS_MIN_SOURCE_PIXELS:
        return False
    fmt = decode.pillow_format(image)
    if fmt == "JPEG":
        orientation = decode.orientation_of(decode.read_exif(image))
        displayed = geometry.displayed_size((width, height), orientation)
        request = geometry.draft_request(displayed, boxes, fit, orientation=orientation,
                                         reducing_gap=geometry.DRAFT_REDUCING_GAP)  # fmt: skip
        scale = geometry.jpeg_scale((width, height), request)
        return -(-width // scale) * -(-height // scale) >= VIPS_JPEG_MIN_DECODED_PIXELS
    if fmt == "PNG":
        return image.mode in VIPS_PNG_MODES
    # Still WebP: libvips scales while decoding (12 MP at 256 px: 344 vs 453 ms, +10 vs +190 MB).
    return fmt == "WEBP"


def engine_for(data: bytes, *, boxes: Sequence[Box], fit: Fit, max_pixels: int, engine: str = "auto") -> str:
    """The engine ("pillow" or "vips") that would render ``data`` for ``boxes`` (reads the header only).

    Raises:
        The errors of :func:`core.imaging.decode.open_image`, and ConfigError as :func:`uses_vips`.
    """
    from core.imaging import decode

    with decode.open_image(data, max_pixels=max_pixels) as image:
        return "vips" if uses_vips(image, data, boxes=boxes, fit=fit, engine=engine) else "pillow"
