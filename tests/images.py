"""Deterministic test images made on the fly (no binary fixtures needed for the basics)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageFile


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


def record_decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, tuple[int, int]]]:
    """From now to the test's end, (format, size) of every real decode: ImageFile.load with tiles pending."""
    decoded: list[tuple[str | None, tuple[int, int]]] = []
    load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        if self.tile:
            decoded.append((self.format, self.size))
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return decoded


def record_resizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """From now to the test's end, the size of every image ``Image.resize`` is called on."""
    resized_from: list[tuple[int, int]] = []
    resize = Image.Image.resize

    def recording_resize(self: Image.Image, size: Any, *args: Any, **kwargs: Any) -> Image.Image:
        resized_from.append(self.size)
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording_resize)
    return resized_from
