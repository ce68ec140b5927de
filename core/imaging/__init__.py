"""polythumb's imaging engine: probe sources and render thumbnails.

Importing this package (or :mod:`core.imaging.types`) does not import
Pillow, which keeps configuration code cheap at cold start; the first use of
:func:`probe_image` or :func:`render_thumbnails` loads
:mod:`core.imaging.render` and Pillow with it, and the first render the
optional libvips engine takes (:mod:`core.imaging.engine`) loads pyvips.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.imaging.types import (
    CONTENT_TYPES,
    EXTENSIONS,
    FORMATS,
    Box,
    Fit,
    SourceProbe,
    Thumbnail,
)

if TYPE_CHECKING:
    from core.imaging.render import probe_image, render_thumbnails

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "FORMATS",
    "Box",
    "Fit",
    "SourceProbe",
    "Thumbnail",
    "probe_image",
    "render_thumbnails",
]

_LAZY_FROM_RENDER = frozenset({"probe_image", "render_thumbnails"})


def __getattr__(name: str) -> Any:
    """Imports the Pillow-backed entry points on first access (PEP 562)."""
    if name in _LAZY_FROM_RENDER:
        from core.imaging import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
