"""Placeholders an application shows while the thumbnail loads: BlurHash, dominant colour, LQIP.

All three come from one small decoded thumbnail (never the full source), so they cost a few
milliseconds. The BlurHash encoder is the published algorithm (https://github.com/woltapp/blurhash,
``Algorithm.md``): a DCT of the linear-light image into ``x`` by ``y`` cosine components, quantised
and written in base 83.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

BLURHASH_COMPONENTS = (4, 3)
LQIP_MAX_BYTES = 1024
_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_SAMPLE_EDGE = 32  # BlurHash keeps only low frequencies: 32 px holds all it needs


@dataclass(frozen=True)
class Placeholders:
    """What a manifest offers before the thumbnail arrives."""

    blurhash: str
    dominant_color: str  # "#rrggbb"
    lqip: str  # a data: URI, at most LQIP_MAX_BYTES long

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"blurhash": self.blurhash, "dominant_color": self.dominant_color, "lqip": self.lqip}


def placeholders_of(thumbnail: bytes, *, components: tuple[int, int] = BLURHASH_COMPONENTS) -> Placeholders:
    """The placeholders of an encoded thumbnail (any format Pillow reads)."""
    from PIL import Image

    with Image.open(io.BytesIO(thumbnail)) as image:
        image.draft("RGB", (_SAMPLE_EDGE * 2, _SAMPLE_EDGE * 2))
        rgb = _flatten(image)
    return Placeholders(
        blurhash=blurhash_encode(_sample(rgb), components=components),
        dominant_color=dominant_color(rgb),
        lqip=lqip_data_uri(rgb),
    )


def _flatten(image: Any) -> Any:
    """RGB, with transparency composited onto white (what a page behind the image usually shows)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _sample(rgb: Any) -> Any:
    sample = rgb.copy()
    sample.thumbnail((_SAMPLE_EDGE, _SAMPLE_EDGE))
    return sample


def _to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _to_srgb(value: float) -> int:
    v = min(1.0, max(0.0, value))
    return round((v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055) * 255)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def blurhash_encode(rgb: Any, *, components: tuple[int, int] = BLURHASH_COMPONENTS) -> str:
    """Encode an RGB Pillow image as a BlurHash of ``components`` (x, y), each 1..9."""
    cx, cy = components
    if not (1 <= cx <= 9 and 1 <= cy <= 9):
        raise ValueError("BlurHash components must be 1..9 in each direction")
    width, height = rgb.size
    table = [_to_linear(v) for v in range(256)]
    raw = rgb.tobytes()
    linear = [(table[raw[i]], table[raw[i + 1]], table[raw[i + 2]]) for i in range(0, len(raw), 3)]
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(cx)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(cy)]
    factors: list[tuple[float, float, float]] = []
    for j in range(cy):
        for i in range(cx):
            norm = (1 if i == 0 and j == 0 else 2) / (width * height)
            r = g = b = 0.0
            for y in range(height):
                row = y * width
                fy = cos_y[j][y]
                for x in range(width):
                    basis = cos_x[i][x] * fy
                    pr, pg, pb = linear[row + x]
                    r += basis * pr
                    g += basis * pg
                    b += basis * pb
            factors.append((r * norm, g * norm, b * norm))
    dc, ac = factors[0], factors[1:]
    result = _base83((cx - 1) + (cy - 1) * 9, 1)
    if ac:
        actual_max = max(abs(v) for f in ac for v in f)
        quantised_max = max(0, min(82, math.floor(actual_max * 166 - 0.5)))
        maximum = (quantised_max + 1) / 166
        result += _base83(quantised_max, 1)
    else:
        maximum = 1.0
        result += _base83(0, 1)
    result += _base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for factor in ac:
        q = [max(0, min(18, math.floor(_sign_pow(v / maximum, 0.5) * 9 + 9.5))) for v in factor]
        result += _base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return result


def dominant_color(rgb: Any) -> str:
    """The most common colour of a 16-colour quantisation, as ``#rrggbb`` (not the mean: a muddy average
    of a red flower on green leaves is neither)."""
    from PIL import Image

    small = rgb.copy()
    small.thumbnail((64, 64))
    quantised = small.quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    counts = sorted(quantised.getcolors() or [], reverse=True)
    index = counts[0][1] if counts else 0
    r, g, b = palette[index * 3 : index * 3 + 3] or (0, 0, 0)
    return f"#{r:02x}{g:02x}{b:02x}"


def lqip_data_uri(rgb: Any, *, limit: int = LQIP_MAX_BYTES) -> str:
    """A tiny blurred-up preview as a ``data:`` URI of at most ``limit`` characters (WebP, else JPEG)."""
    for edge, quality in ((24, 50), (20, 40), (16, 30), (12, 25), (8, 20)):
        small = rgb.copy()
        small.thumbnail((edge, edge))
        for fmt, mime in (("WEBP", "image/webp"), ("JPEG", "image/jpeg")):
            buffer = io.BytesIO()
            try:
                small.save(buffer, fmt, quality=quality)
            except (OSError, KeyError):  # a Pillow built without WebP: JPEG
                continue
            uri = f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode()
            if len(uri) <= limit:
                return uri
    raise ValueError("no LQIP fits the size limit")  # unreachable: an 8 px JPEG is ~400 bytes
