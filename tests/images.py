"""Deterministic test images made on the fly (no binary fixtures needed for the basics)."""

from __future__ import annotations

import io

from PIL import Image


def gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A smooth gradient with some structure, so resampling and encoding do real work."""
    image = Image.linear_gradient("L").resize((width, height))
    if mode == "L":
        return image
    other = image.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    rgb = Image.merge("RGB", (image, other, Image.new("L", (width, height), 96)))
    if mode == "RGBA":
        alpha = Image.new("L", (width, height), 255)
        alpha.paste(0, (0, 0, width // 2, height // 2))  # a transparent quarter
        rgb.putalpha(alpha)
    return rgb


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_bytes(width: int = 640, height: int = 480, **params: object) -> bytes:
    return encode(gradient(width, height), "JPEG", quality=90, **params)


def png_rgba_bytes(width: int = 300, height: int = 200) -> bytes:
    return encode(gradient(width, height, "RGBA"), "PNG")


def open_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
