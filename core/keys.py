"""Output naming: keys, formats and the metadata that ties a thumbnail to its source.

Everything here is a pure function of the source key and the configuration, so
a delete event (which has no image to look at) finds the same keys a create
event wrote.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

from core import __version__
from core.config import Config
from core.imaging.types import CONTENT_TYPES, EXTENSIONS, Box

# Metadata names valid on S3, GCS and Azure alike: lower case (S3 folds case), and
# C# identifiers (Azure): letters, digits and underscores, no hyphens.
META_SOURCE = "polythumb_source"  # percent-encoded source key; its presence is the loop-guard marker
META_SOURCE_BUCKET = "polythumb_source_bucket"
META_SOURCE_REVISION = "polythumb_source_revision"  # etag or version the thumbnail was rendered from
META_BOX = "polythumb_box"
META_PARAMS = "polythumb_params"  # digest of the render settings, so a settings change regenerates
META_VERSION = "polythumb_version"

#: Which output format ``THUMBS_FORMAT=auto`` picks, by the source key's extension. Web formats
#: keep their family; GIF (first frame only), TIFF, BMP, ICO and unknown kinds may carry alpha
#: and are not web formats, so they become PNG; HEIC photos become WebP (lossy, with alpha).
AUTO_FORMATS = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg",
    "png": "png", "webp": "webp", "avif": "avif",
    "heic": "webp", "heif": "webp",
}  # fmt: skip
AUTO_FALLBACK_FORMAT = "png"

_SLASHES = re.compile(r"/{2,}")


def output_format(config: Config, source_key: str) -> str:
    """Return the concrete format (jpeg, png, webp, avif) written for ``source_key``."""
    if config.format != "auto":
        return config.format
    extension = posixpath.splitext(source_key)[1].lstrip(".").lower()
    return AUTO_FORMATS.get(extension, AUTO_FALLBACK_FORMAT)


def content_type_for(fmt: str) -> str:
    """MIME type of an output format."""
    return CONTENT_TYPES[fmt]


def output_key(config: Config, source_key: str, box: Box) -> str:
    """The destination key of the thumbnail of ``source_key`` in ``box`` (single-recipe settings).

    The default template gives ``<dir>/<stem>-<W>x<H>.<ext>``; a top-level key
    has no leading slash. Keys use the box, not the measured size, so they are
    stable and a delete can find them.
    """
    return render_key(config.key_template, source_key, box, output_format(config, source_key))


def render_key(template: str, source_key: str, box: Box, fmt: str) -> str:
    """``template`` filled for ``source_key``, ``box`` and the concrete format ``fmt``."""
    directory, name = posixpath.split(source_key)
    stem, dot_ext = posixpath.splitext(name)
    rendered = template.format(
        dir=directory,
        stem=stem,
        name=name,
        srcext=dot_ext.lstrip("."),
        ext=EXTENSIONS[fmt],
        size=str(box),
        width=box.width,
        height=box.height,
    )
    return _SLASHES.sub("/", rendered).lstrip("/")


def output_keys(config: Config, source_key: str) -> dict[Box, str]:
    """Destination keys of every configured box, largest box first."""
    boxes = sorted(config.boxes, key=lambda b: b.width * b.height, reverse=True)
    return {box: output_key(config, source_key, box) for box in boxes}


def is_selected(config: Config, key: str) -> bool:
    """Whether ``key`` gets thumbnails: it passes the filter and (with THUMBS_PROFILES) a profile takes it."""
    if not passes_filter(config, key):
        return False
    if not config.profiles:
        return True
    from core.profiles import profile_for  # local import: profiles imports this module

    return profile_for(config, key) is not None


def passes_filter(config: Config, key: str) -> bool:
    """Whether ``key`` passes ``THUMBS_INCLUDE`` and ``THUMBS_EXCLUDE`` (case-insensitive globs)."""
    lowered = key.lower()
    if config.include and not any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in config.include):
        return False
    return not any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in config.exclude)


def render_params_digest(config: Config, fmt: str, box: Box) -> str:
    """A short digest of everything that changes a thumbnail's bytes besides the source (single recipe)."""
    from core.profiles import params_digest

    return params_digest(
        fmt=fmt, quality=config.quality, fit=config.fit, strip_metadata=config.strip_metadata, box=box, animated="first"
    )


def encode_meta_value(value: str) -> str:
    """Percent-encode a value so it is ASCII (S3 and Azure refuse other metadata bytes).

    Spaces are encoded too: S3 and Azure trim whitespace around metadata values, so a key
    with a leading or trailing space would not round-trip.
    """
    return quote(value, safe="/!$&'()*+,;=:@-._~")


def decode_meta_value(value: str) -> str:
    """Inverse of :func:`encode_meta_value`."""
    return unquote(value)


def thumbnail_metadata(
    config: Config, *, bucket: str, source_key: str, revision: str, fmt: str, box: Box, params: str | None = None
) -> dict[str, str]:
    """The user metadata written on every thumbnail (``params``: the output's digest; default: single recipe)."""
    return {
        META_SOURCE: encode_meta_value(source_key),
        META_SOURCE_BUCKET: encode_meta_value(bucket),
        META_SOURCE_REVISION: encode_meta_value(revision),
        META_BOX: str(box),
        META_PARAMS: params or render_params_digest(config, fmt, box),
        META_VERSION: __version__,
    }


def is_polythumb_output(metadata: Mapping[str, str]) -> bool:
    """The loop-guard test: did polythumb write this object?"""
    return META_SOURCE in {name.lower() for name in metadata}
