"""How close a thumbnail is to a careful reference: PSNR against a LANCZOS resize of the full decode.

The reference decodes every pixel (no DCT reduction), applies the EXIF
orientation, converts CMYK to RGB and flattens transparency onto white (what
a JPEG thumbnail of it should show), then resizes with LANCZOS in one step to
each thumbnail's own size. PSNR is over RGB, in dB: above ~40 dB the
difference is invisible; JPEG encoding at quality 85 alone sits near 35-40.
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageChops, ImageOps, ImageStat

#: PSNR reported for identical images (the formula gives infinity).
IDENTICAL_DB = 99.0


def reference_image(data: bytes) -> Image.Image:
    """The full-resolution RGB reference for ``data``."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)
    if upright.mode in ("RGBA", "LA", "PA", "P") and upright.has_transparency_data:
        rgba = upright.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return background
    return upright.convert("RGB")


def psnr(output: bytes, reference: Image.Image) -> float:
    """PSNR (dB) of the encoded thumbnail ``output`` against ``reference`` resized to its size."""
    with Image.open(io.BytesIO(output)) as opened:
        thumbnail = opened.convert("RGB")
    expected = reference.resize(thumbnail.size, Image.Resampling.LANCZOS)
    rms = ImageStat.Stat(ImageChops.difference(thumbnail, expected)).rms
    mse = sum(value * value for value in rms) / len(rms)
    return IDENTICAL_DB if mse == 0 else min(IDENTICAL_DB, 10 * math.log10(255**2 / mse))
