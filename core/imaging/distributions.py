"""What each imaging engine needs installed in a deployed function (``polythumb package <cloud> --engine``).

A cloud package carries the same engines as ``pip install 'polythumb[fast,heif]'`` by default, so the
function picks its engine per source exactly as a local run does (:mod:`core.imaging.engine`): libvips
for large PNG, WebP and JPEG-to-large-thumbnail sources, pillow-heif for HEIC/HEIF (iPhone photos),
Pillow for the rest. ``--engine pillow`` builds the minimal package (Pillow only) for teams that want
the smallest artefact and no HEIC.
"""

from __future__ import annotations

import argparse

#: ``--engine`` choices of every packager; ``fast`` is the default.
ENGINES = ("fast", "pillow")
DEFAULT_ENGINE = "fast"
_DISTRIBUTIONS = {
    "fast": ("Pillow", "pillow-heif", "pyvips", "pyvips-binary"),
    "pillow": ("Pillow",),
}
#: The distributions only the ``fast`` engine adds (what ``--engine pillow`` leaves out).
FAST_ONLY = tuple(name for name in _DISTRIBUTIONS["fast"] if name not in _DISTRIBUTIONS["pillow"])
#: Published on the package index as source only: pure Python (pyvips 3 talks to the libvips that
#: pyvips-binary ships through cffi), so one universal wheel built here serves every platform.
SOURCE_ONLY = ("pyvips",)


def distributions(engine: str) -> tuple[str, ...]:
    """The distributions (PyPI names) a function rendering with ``engine`` imports.

    Raises:
        ValueError: Not one of :data:`ENGINES`.
    """
    try:
        return _DISTRIBUTIONS[engine]
    except KeyError:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}") from None


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """Adds ``--engine {fast,pillow}`` to a packager's command line."""
    parser.add_argument(
        "--engine", choices=ENGINES, default=DEFAULT_ENGINE,
        help="fast (default): Pillow + libvips (pyvips, pyvips-binary) + pillow-heif, the engines a local "
        "install picks from; pillow: Pillow only, the smallest package (no HEIC)",
    )  # fmt: skip
