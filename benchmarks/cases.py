"""What is measured: each case turns a source's bytes into encoded thumbnails (or just decodes it).

* ``seed_<size>``: the seed's naive code, ``Image.open``, ``thumbnail``, ``save``
  as JPEG (converted to RGB where JPEG needs it). Three sizes means running it
  three times (``seed_x3`` is the sum of ``seed_128``, ``seed_512`` and ``seed_1024``).
* ``pillow_<size|x3>`` and ``vips_<size|x3>``: polythumb's ``render_thumbnails``
  with the engine forced (the render's ``engine``); "polythumb" in the report is
  whichever one ``auto`` picks for that input.
* ``ref_<size|x3>``: libvips called directly, ``thumbnail_buffer`` (three sizes:
  the largest from the bytes, each smaller from the previous), the reference
  for what the fastest library does on its own.
* ``floor_<size>``: Pillow decoding at the reduced (DCT) scale polythumb's
  draft picks for that size; ``full_decode``: decoding every pixel. Nothing
  is resized or encoded: no render can be faster than its decode.

Every case writes JPEG at quality 85 (polythumb's default), so bytes and
quality compare like with like.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ONE = 256  #: polythumb's default box (THUMBS_SIZES=256x256)
LARGE = 1024  #: the largest of the three sizes
THREE = (128, 512, 1024)  #: the three-size set
QUALITY = 85
MAX_PIXELS = 200_000_000


@dataclass(frozen=True)
class Case:
    """One measured operation.

    Attributes:
        name: Key in the results ("seed_256", "vips_x3", ...).
        sizes: Boxes (square, in pixels) it renders; empty for decode-only cases.
        engine: "pillow" or "vips" for polythumb cases, else None.
        needs_vips: Only runs where pyvips is installed.
    """

    name: str
    sizes: tuple[int, ...]
    engine: str | None = None
    needs_vips: bool = False

    @property
    def family(self) -> str:
        """ "seed", "pillow", "vips", "ref", "floor" or "full"."""
        return self.name.split("_")[0]

    def runner(self, data: bytes) -> Callable[[], list[bytes]]:
        """A no-argument callable doing the work on ``data``, returning the encoded outputs."""
        family = self.family
        if family == "seed":
            (size,) = self.sizes
            return lambda: [seed(data, size)]
        if family in ("pillow", "vips"):
            return lambda: polythumb(data, self.sizes, engine=family)
        if family == "ref":
            return lambda: vips_reference(data, self.sizes)
        if family == "floor":
            (size,) = self.sizes
            return lambda: decode_floor(data, size)
        return lambda: full_decode(data)


def _sizes_name(sizes: tuple[int, ...]) -> str:
    return "x3" if sizes == THREE else str(sizes[0])


def all_cases() -> list[Case]:
    """Every case, in the order the report lists them."""
    cases = [Case(f"floor_{ONE}", (ONE,)), Case(f"floor_{LARGE}", (LARGE,)), Case("full_decode", ())]
    cases += [Case(f"seed_{size}", (size,)) for size in sorted({ONE, *THREE})]
    for engine in ("pillow", "vips"):
        for sizes in ((ONE,), (LARGE,), THREE):
            cases.append(Case(f"{engine}_{_sizes_name(sizes)}", sizes, engine=engine, needs_vips=engine == "vips"))
    cases += [Case(f"ref_{ONE}", (ONE,), needs_vips=True), Case("ref_x3", THREE, needs_vips=True)]
    return cases


CASES = {case.name: case for case in all_cases()}


# -- the operations -------------------------------------------------------------------------------


def seed(data: bytes, size: int) -> bytes:
    """The seed's code: open, thumbnail, save as JPEG."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.thumbnail((size, size))
    small: Image.Image = image
    if small.mode not in ("RGB", "L", "CMYK"):  # JPEG cannot hold alpha or a palette
        small = small.convert("RGB")
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def polythumb(data: bytes, sizes: tuple[int, ...], *, engine: str) -> list[bytes]:
    """polythumb's render, the engine forced (``THUMBS_ENGINE``)."""
    from core.imaging import Box, Fit, render_thumbnails

    thumbnails = render_thumbnails(
        data,
        boxes=[Box(size, size) for size in sizes],
        fit=Fit.CONTAIN,
        format="jpeg",
        quality=QUALITY,
        strip_metadata=True,
        max_pixels=MAX_PIXELS,
        engine=engine,
    )
    return [thumbnail.body for thumbnail in thumbnails]


def auto_engine(data: bytes, sizes: tuple[int, ...]) -> str:
    """The engine polythumb's ``auto`` picks for ``data`` at ``sizes``."""
    from core.imaging import Box, Fit
    from core.imaging.engine import engine_for

    return engine_for(data, boxes=[Box(size, size) for size in sizes], fit=Fit.CONTAIN, max_pixels=MAX_PIXELS)


def vips_reference(data: bytes, sizes: tuple[int, ...]) -> list[bytes]:
    """libvips on its own: thumbnail the largest size from the bytes, each smaller from the previous."""
    pyvips = load_pyvips()
    outputs: dict[int, bytes] = {}
    previous: Any = None
    for size in sorted(sizes, reverse=True):
        if previous is None:
            image = pyvips.Image.thumbnail_buffer(data, size, height=size, size="down")
        else:
            image = previous.thumbnail_image(size, height=size, size="down")
        previous = image = image.copy_memory()
        if image.interpretation == "cmyk":
            image = image.colourspace("srgb")
        if image.hasalpha():
            image = image.flatten(background=255)
        outputs[size] = image.jpegsave_buffer(Q=QUALITY, optimize_coding=True, keep="none")
    return [outputs[size] for size in sizes]


def decode_floor(data: bytes, size: int) -> list[bytes]:
    """Pillow's decode at the scale polythumb's reduced decode uses for a ``size`` box (full for non-JPEG)."""
    from PIL import Image

    from core.imaging import Box, Fit, decode, geometry
    from core.imaging.geometry import DRAFT_REDUCING_GAP

    with Image.open(io.BytesIO(data)) as image:
        orientation = decode.orientation_of(decode.read_exif(image))
        request = geometry.draft_request(
            geometry.displayed_size(image.size, orientation),
            [Box(size, size)],
            Fit.CONTAIN,
            orientation=orientation,
            reducing_gap=DRAFT_REDUCING_GAP,
        )
        image.draft(None, request)
        image.load()
    return []


def full_decode(data: bytes) -> list[bytes]:
    """Pillow decoding every pixel."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
    return []


def load_pyvips() -> Any:
    """pyvips with its operation cache off (a cached result would time nothing), or ImportError."""
    from core.imaging import vips_engine

    if not vips_engine.available():
        raise ImportError("pyvips is not installed: pip install 'polythumb[fast]'")
    import pyvips

    return pyvips


def vips_installed() -> bool:
    """Whether the libvips cases can run here."""
    try:
        load_pyvips()
    except ImportError:
        return False
    return True


def prepare(case: Case) -> None:
    """Imports (and initialises) what ``case`` uses, so a memory baseline includes it."""
    from PIL import Image

    Image.init()  # every plugin, as a first Image.open of a WebP would load them
    if case.family in ("pillow", "vips", "floor"):
        import core.imaging.render  # noqa: F401 -- plugins, ImageCms
    if case.family in ("vips", "ref"):
        load_pyvips()
