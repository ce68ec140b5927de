"""What one output encoding is, the same for both engines: format, quality and encoder effort (no Pillow).

The configuration validates profiles against these ranges at start, and both
engines resolve an :class:`Encoding` to the same encoder setting (Pillow's
``quality``/``method``/``speed``/``compress_level``, libvips' ``Q``/``effort``/
``compression``), so a thumbnail's bytes depend on its encoding, not on the engine.

Effort is on each encoder's own scale: WebP's ``method`` (libwebp, 0 fastest
.. 6 smallest), AVIF's effort (0 .. 9, libavif/aom speed 9 .. 0: Pillow's
``speed`` is ``9 - effort``, libvips' ``effort`` is the same number), PNG's
zlib level (0 .. 9). JPEG has no effort setting (Huffman tables are always
optimised). The defaults are what every thumbnail rendered before effort was
configurable used, so an effort left unset or set to its default leaves
``polythumb_params`` unchanged (:func:`non_default_effort`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Quality used when none is asked for. PNG is lossless and has none.
DEFAULT_QUALITY: dict[str, int] = {"jpeg": 85, "webp": 80, "avif": 60}
#: Encoder effort per format: (least, most, default). See the module docstring for each scale.
#: AVIF's default, 0 (aom speed 9), spends an eighth of the CPU of libavif's own default (speed 6,
#: effort 3) on a 1024 px thumbnail for files 4% smaller; effort 4 (speed 5) costs 10x effort 3.
EFFORTS: dict[str, tuple[int, int, int]] = {"webp": (0, 6, 4), "avif": (0, 9, 0), "png": (0, 9, 6)}


@dataclass(frozen=True)
class Encoding:
    """One output encoding.

    Attributes:
        format: One of :data:`core.imaging.types.FORMATS`.
        quality: 1-100, or None for :data:`DEFAULT_QUALITY` (PNG ignores it).
        effort: On the format's scale (:data:`EFFORTS`), or None for its default; JPEG has none.
    """

    format: str
    quality: int | None = None
    effort: int | None = None

    @property
    def chosen_quality(self) -> int:
        """The quality the encoder is given (the format's default when None; PNG: 0, unused)."""
        return DEFAULT_QUALITY.get(self.format, 0) if self.quality is None else self.quality

    @property
    def chosen_effort(self) -> int:
        """The effort the encoder is given (the format's default when None; JPEG: 0, unused)."""
        if self.effort is not None:
            return self.effort
        return EFFORTS[self.format][2] if self.format in EFFORTS else 0


def effort_error(fmt: str, effort: object) -> str | None:
    """Why ``effort`` is not an effort for ``fmt`` (None when it is, or when it is None)."""
    if effort is None:
        return None
    if fmt not in EFFORTS:
        return f"{fmt} has no encoder effort; formats with one: {', '.join(EFFORTS)}"
    low, high, _ = EFFORTS[fmt]
    if isinstance(effort, bool) or not isinstance(effort, int) or not low <= effort <= high:
        return f"{fmt} effort must be a whole number from {low} to {high}; got {effort!r}"
    return None


def non_default_effort(fmt: str, effort: int | None) -> int | None:
    """``effort`` when it changes what ``fmt``'s encoder writes, else None (unset, or the default)."""
    if effort is None or fmt not in EFFORTS or effort == EFFORTS[fmt][2]:
        return None
    return effort
