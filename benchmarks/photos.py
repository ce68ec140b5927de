"""The benchmark's inputs: deterministic, photo-like generated images, and real photographs.

Flat colours or smooth gradients compress to nothing and make every encoder
and decoder look fast. These images mix what real photos contain, so each
stage does real work: smooth multi-scale structure (sky, light), hard edges
(objects; the part a resize filter must get right), fine texture and sensor
grain (what makes JPEG and PNG files large). Everything comes from a seeded
:class:`random.Random`, so one seed always gives the same pixels.

Real photographs come from a registry package, never from the network at run
time: the camera photos scikit-image ships in its wheel (``skimage/data``,
read as files; scikit-image itself is never imported, so ``nox -s bench``
installs it with ``--no-deps``). :data:`REAL_PHOTOS` records each one's
licence. They are small (0.2-2 MP), so they show real content, not the 12 MP
targets. The HEIC input is generated too (HEVC through pillow-heif's x265),
12 MP like an iPhone's main camera but one coded image, where an iPhone
writes a grid of 512x512 tiles: no permissively licensed iPhone HEIC ships
in a registry package or in this repository's corpus (its one HEIC is a
128x128 test file).
"""

from __future__ import annotations

import importlib.util
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

#: EXIF tags a camera writes, so decoders parse a realistic APP1 segment.
_MAKE, _MODEL, _ORIENTATION, _SOFTWARE = 0x010F, 0x0110, 0x0112, 0x0131


@dataclass(frozen=True)
class Photo:
    """One benchmark input: how to make it, and the bytes once made.

    Attributes:
        name: Short id used in tables ("jpeg-12mp").
        kind: Encoding: "jpeg", "jpeg-progressive", "jpeg-cmyk", "png", "png-rgba" or "webp".
        width: Pixels across.
        height: Pixels down.
        seed: Seed of the pixel generator.
    """

    name: str
    kind: str
    width: int
    height: int
    seed: int = 7
    #: A real photograph: the file under scikit-image's ``skimage/data`` it is read (and re-encoded) from.
    real: str | None = None

    @property
    def megapixels(self) -> float:
        """Size in millions of pixels."""
        return self.width * self.height / 1e6

    @property
    def suffix(self) -> str:
        """File-name extension for this kind."""
        return {"png": "png", "png-rgba": "png", "webp": "webp", "heic": "heic"}.get(self.kind, "jpg")


def _smooth_noise(rng: random.Random, size: tuple[int, int], cells: tuple[int, int], mode: str) -> Image.Image:
    """Random values on a coarse grid, upscaled smoothly: structure at one scale."""
    bands = len(mode)
    coarse = Image.frombytes(mode, cells, rng.randbytes(cells[0] * cells[1] * bands))
    return coarse.resize(size, Image.Resampling.BICUBIC)


def _shapes(rng: random.Random, size: tuple[int, int], count: int) -> Image.Image:
    """Translucent shapes with hard edges on a transparent layer."""
    width, height = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256), rng.randrange(90, 240))
        x, y = rng.randrange(width), rng.randrange(height)
        extent = rng.randrange(width // 40, width // 6)
        box = (x - extent, y - extent // 2, x + extent, y + extent)
        choice = rng.randrange(4)
        if choice == 0:
            draw.ellipse(box, fill=colour)
        elif choice == 1:
            draw.rectangle(box, fill=colour)
        elif choice == 2:
            points = [(x + rng.randrange(-extent, extent), y + rng.randrange(-extent, extent)) for _ in range(5)]
            draw.polygon(points, fill=colour)
        else:
            end = (x + rng.randrange(-extent * 2, extent * 2), y + rng.randrange(-extent * 2, extent * 2))
            draw.line([(x, y), end], fill=colour, width=max(1, width // 800))
    return layer


def render_pixels(width: int, height: int, *, seed: int, alpha: bool = False) -> Image.Image:
    """A photo-like RGB (or RGBA) image of ``width`` x ``height``."""
    rng = random.Random(seed)
    size = (width, height)
    # Light and colour at three scales, the coarsest strongest, like a landscape.
    base = _smooth_noise(rng, size, (6, 4), "RGB")
    base = Image.blend(base, _smooth_noise(rng, size, (48, 32), "RGB"), 0.35)
    base = Image.blend(base, _smooth_noise(rng, size, (width // 24, height // 24), "RGB"), 0.2)
    # Objects with edges, softened a little as a lens would.
    shapes = _shapes(rng, size, count=90)
    base.paste(shapes, mask=shapes.getchannel("A").filter(ImageFilter.GaussianBlur(max(1, width // 2000))))
    # Light falling off from the top, as in most outdoor photos.
    light = Image.linear_gradient("L").point(lambda value: 255 - value // 3).resize(size)
    base = ImageChops.multiply(base, light.convert("RGB"))
    # Fine texture (foliage, fabric) and sensor grain: what makes files large.
    texture = _smooth_noise(rng, size, (width // 3, height // 3), "RGB")
    base = Image.blend(base, texture, 0.15)
    grain = Image.frombytes("RGB", size, rng.randbytes(3 * width * height)).point(lambda value: value // 20)
    base = ImageChops.add(base, grain, offset=-6)  # base + grain - 6, clipped: about +-6 levels
    if alpha:
        # Soft-edged transparency: a vignette-like mask with a few hard holes.
        mask = _smooth_noise(rng, size, (5, 4), "L").point(lambda value: min(255, max(0, (value - 60) * 3)))
        holes = _shapes(rng, size, count=12).getchannel("A").point(lambda value: 255 if value else 0)
        base.putalpha(ImageChops.subtract(mask, holes))
    return base


def _camera_exif() -> bytes:
    exif = Image.Exif()
    exif[_MAKE] = "Polythumb"
    exif[_MODEL] = "Bench Camera"
    exif[_SOFTWARE] = "benchmarks.photos"
    exif[_ORIENTATION] = 1
    return exif.tobytes()


def encode_photo(photo: Photo) -> bytes:
    """The encoded bytes of ``photo`` (deterministic for a given Pillow build)."""
    if photo.real is not None:
        pixels = Image.open(real_photo_path(photo.real)).convert("RGB")
    else:
        pixels = render_pixels(photo.width, photo.height, seed=photo.seed, alpha=photo.kind == "png-rgba")
    buffer = io.BytesIO()
    if photo.kind == "heic":
        from core.imaging.decode import heif_opener_available  # registers pillow-heif (x265 is in its wheels)

        if not heif_opener_available():
            raise RuntimeError("the HEIC input needs pillow-heif: pip install 'polythumb[heif]'")
        pixels.save(buffer, "HEIF", quality=80, exif=_camera_exif())
        return buffer.getvalue()
    if photo.kind == "jpeg":
        pixels.save(buffer, "JPEG", quality=90, exif=_camera_exif())
    elif photo.kind == "jpeg-progressive":
        pixels.save(buffer, "JPEG", quality=90, progressive=True, exif=_camera_exif())
    elif photo.kind == "jpeg-cmyk":
        pixels.convert("CMYK").save(buffer, "JPEG", quality=90)
    elif photo.kind in ("png", "png-rgba"):
        pixels.save(buffer, "PNG", compress_level=6)
    elif photo.kind == "webp":
        pixels.save(buffer, "WEBP", quality=90, method=4, exif=_camera_exif())
    else:
        raise ValueError(f"unknown photo kind {photo.kind!r}")
    return buffer.getvalue()


#: Bump when the generator changes, so cached files are remade.
GENERATOR_VERSION = 1

#: Real photographs in scikit-image's wheel: file -> (what, licence as its docstring in skimage.data states).
REAL_PHOTOS = {
    "astronaut.png": ("astronaut Eileen Collins, NASA Great Images", "public domain (NASA, no known restrictions)"),
    "rocket.jpg": ("launch of DSCOVR on Falcon 9, SpaceX", "public domain (released by SpaceX)"),
    "coffee.png": ("a cup of coffee, Rachel Michetti", "CC0"),
    "chelsea.png": ("Chelsea the cat, Stefan van der Walt", "CC0"),
    "retina.jpg": ("human retina, Häggström et al.", "CC0 1.0"),
}


REAL_HINT = "pip install --no-deps scikit-image"


def real_photo_path(name: str) -> Path:
    """The file ``name`` of scikit-image's bundled data (not imported: located only).

    Raises:
        FileNotFoundError: scikit-image is not installed (``pip install --no-deps scikit-image``).
    """
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"real photos need scikit-image's data files: {REAL_HINT}")
    return Path(spec.origin).parent / "data" / name


def heic_available() -> bool:
    """Whether HEIC inputs can be made and read here (pillow-heif installed)."""
    return importlib.util.find_spec("pillow_heif") is not None


def real_photos_available() -> bool:
    """Whether scikit-image's photos are installed here."""
    try:
        return real_photo_path("astronaut.png").is_file()
    except FileNotFoundError:
        return False


_FULL = (
    Photo("jpeg-12mp", "jpeg", 4000, 3000),
    Photo("jpeg-24mp", "jpeg", 6000, 4000),
    Photo("jpeg-50mp", "jpeg", 8640, 5760),
    Photo("jpeg-progressive-12mp", "jpeg-progressive", 4000, 3000),
    Photo("jpeg-cmyk-12mp", "jpeg-cmyk", 4000, 3000),
    Photo("png-12mp", "png", 4000, 3000),
    Photo("png-rgba-12mp", "png-rgba", 4000, 3000),
    Photo("webp-12mp", "webp", 4000, 3000),
    Photo("heic-12mp", "heic", 4032, 3024),
)
#: Real photographs (scikit-image's), each as it ships or re-encoded to cover JPEG, PNG and WebP.
REAL = (
    Photo("real-rocket-jpeg", "jpeg", 640, 427, real="rocket.jpg"),
    Photo("real-retina-jpeg", "jpeg", 1411, 1411, real="retina.jpg"),
    Photo("real-astronaut-png", "png", 512, 512, real="astronaut.png"),
    Photo("real-coffee-webp", "webp", 600, 400, real="coffee.png"),
    Photo("real-chelsea-heic", "heic", 451, 300, real="chelsea.png"),
)
#: The inputs of each suite: ``quick`` drops the 24 MP JPEG; ``tiny`` is for the smoke test.
SUITES: dict[str, tuple[Photo, ...]] = {
    "full": _FULL + REAL,
    "quick": tuple(photo for photo in _FULL if photo.name != "jpeg-24mp") + REAL,
    "tiny": tuple(
        Photo(photo.name.replace("12mp", "tiny"), photo.kind, 360, 240)
        for photo in _FULL
        if photo.name.endswith("12mp")
    )
    + REAL[:1],
}


def cached(photo: Photo, cache_dir: Path) -> Path:
    """The file of ``photo`` under ``cache_dir``, generated on first use."""
    origin = f"real-{Path(photo.real).stem}" if photo.real else f"s{photo.seed}"
    name = f"{photo.name}-{photo.width}x{photo.height}-{origin}-v{GENERATOR_VERSION}.{photo.suffix}"
    path = cache_dir / name
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(encode_photo(photo))
        partial.replace(path)  # never leave a half-written file under the final name
    return path
