"""A thumbnail's identity: its key, what it is rendered as (:class:`RenderSpec`) and where it comes from
(:class:`Provenance`, the metadata that ties it to its source).

Keys and specs are pure functions of the source key and the configuration, so a delete event (which has no
image to look at) finds the same keys a create event wrote. :meth:`Provenance.from_metadata` is the one
reader of a thumbnail's metadata (the pipeline's loop guard and idempotency, the backfill plan, the orphan
check); which source owns an output, and who may replace or delete it, is :mod:`core.ownership`'s rule.
"""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from core import __version__
from core.errors import InvalidKey
from core.imaging.encoding import non_default_effort
from core.imaging.types import EXTENSIONS, Box, Fit

if TYPE_CHECKING:  # config validates key templates with output_key: a runtime import would be a cycle
    from core.config import Config

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


def output_key(config: Config, source_key: str, box: Box) -> str:
    """The destination key of the thumbnail of ``source_key`` in ``box`` (single-recipe settings).

    The default template gives ``<dir>/<stem>-<W>x<H>.<ext>``; a top-level key
    has no leading slash. Keys use the box, not the measured size, so they are
    stable and a delete can find them.
    """
    return render_key(config.key_template, source_key, box, output_format(config, source_key))


def render_key(template: str, source_key: str, box: Box, fmt: str) -> str:
    """``template`` filled for ``source_key``, ``box`` and the concrete format ``fmt``.

    Raises:
        InvalidKey: The key would have a ``.`` or ``..`` segment (see :func:`check_rendered_key`).
    """
    return fill_template(
        template, source_key, ext=EXTENSIONS[fmt], size=str(box), width=box.width, height=box.height
    )


def fill_template(template: str, source_key: str, **values: object) -> str:
    """``template`` filled with the source's placeholders and ``values``; the one renderer of every key
    polythumb writes (thumbnails here, manifests in :mod:`core.completion.naming`).

    Runs of ``/`` collapse and a leading ``/`` goes (an empty ``{dir}`` of a top-level key).

    Raises:
        InvalidKey: The key would have a ``.`` or ``..`` segment, or be empty or end in ``/``.
    """
    directory, name = posixpath.split(source_key)
    stem, dot_ext = posixpath.splitext(name)
    rendered = template.format(dir=directory, stem=stem, name=name, srcext=dot_ext.lstrip("."), **values)
    return check_rendered_key(_SLASHES.sub("/", rendered).lstrip("/"), source_key)


def check_rendered_key(key: str, source_key: str) -> str:
    """Returns ``key``, a key rendered for ``source_key``, unless a store could take it for another path.

    Azure's (and any HTTP) client resolves ``.`` and ``..`` segments in a URL before sending it: the blob
    ``a/../b-64x64.jpg`` is written as ``b-64x64.jpg``, and ``../victim/k`` in another container. Such a
    key comes from the source key itself (``{dir}``, ``{stem}`` or ``{name}`` of ``a/../b.jpg``), so the
    source is refused as a permanent ``invalid_key`` on every backend, before anything is read or written.

    Raises:
        InvalidKey: ``key`` has a ``.`` or ``..`` segment, is empty or ends in ``/``.
    """
    segments = key.split("/")
    if not key or segments[-1] == "" or any(segment in (".", "..") for segment in segments):
        raise InvalidKey(
            f"source key {source_key!r} gives the output key {key!r}, which is empty, ends in '/' or has a '.' "
            "or '..' segment (a store would resolve it to another path); refused, nothing written"
        )
    return key


def output_keys(config: Config, source_key: str) -> dict[Box, str]:
    """Destination keys of every configured box, largest box first."""
    boxes = sorted(config.boxes, key=lambda b: b.width * b.height, reverse=True)
    return {box: output_key(config, source_key, box) for box in boxes}


def passes_filter(config: Config, key: str) -> bool:
    """Whether ``key`` passes ``THUMBS_INCLUDE`` and ``THUMBS_EXCLUDE`` (case-insensitive globs)."""
    lowered = key.lower()
    if config.include and not any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in config.include):
        return False
    return not any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in config.exclude)


_EXTENSION_GLOB = re.compile(r".*\*\.([A-Za-z0-9]+)")


def included_extensions(include: tuple[str, ...]) -> frozenset[str] | None:
    """The source extensions (lower case) ``THUMBS_INCLUDE`` lets through; None when a glob allows any.

    A glob ending in ``*.EXT`` admits only keys ending in ``.EXT`` (in any case); any other glob
    (``photos/*``) admits every extension, and so does an empty list.
    """
    extensions = set()
    for glob in include:
        match = _EXTENSION_GLOB.fullmatch(glob)
        if match is None:
            return None
        extensions.add(match.group(1).lower())
    return frozenset(extensions) if extensions else None


@dataclass(frozen=True)
class RenderSpec:
    """What one output is rendered as: everything that changes its bytes besides the source and the box.

    One spec per output format (a profile rendering several formats holds several specs). The limits
    (``THUMBS_MAX_PIXELS``, ``THUMBS_MAX_BYTES``) are not part of it: they decide whether a source is
    rendered, not what the thumbnail is, so changing them must not re-render every thumbnail.

    Attributes:
        format: The concrete output format (``jpeg``, ``png``, ``webp``, ``avif``).
        quality: 1-100 for lossy formats; None for the format's default.
        fit: ``contain``, ``cover`` or ``smart``.
        strip_metadata: Whether EXIF, XMP and ICC are stripped.
        animated: ``first`` (a still of the first frame) or ``keep`` (an animated output).
        effort: The encoder effort (:mod:`core.imaging.encoding`); None for the format's default.

    The imaging engine (``THUMBS_ENGINE``) is not part of it: both engines make the same thumbnail, so
    changing the engine re-renders nothing.
    """

    format: str
    quality: int | None
    fit: Fit
    strip_metadata: bool
    animated: str = "first"
    effort: int | None = None

    @classmethod
    def for_source(cls, config: Config, source_key: str) -> RenderSpec:
        """The spec ``config`` renders ``source_key`` with (``THUMBS_FORMAT=auto`` looks at its extension)."""
        return cls.of(config, output_format(config, source_key))

    @classmethod
    def of(cls, config: Config, fmt: str) -> RenderSpec:
        """The spec ``config`` renders ``fmt`` with."""
        return cls(format=fmt, quality=config.quality, fit=config.fit, strip_metadata=config.strip_metadata)

    def digest(self, box: Box) -> str:
        """The ``polythumb_params`` of a thumbnail in ``box``: a changed spec or box gives another digest.

        The text digested for ``animated="first"`` and the default effort is the one polythumb has always
        written, so thumbnails rendered before profiles (and effort) existed stay current.
        """
        params = f"{self.format}|{self.quality}|{self.fit}|{int(self.strip_metadata)}|{box}"
        if self.animated != "first":
            params += f"|animated={self.animated}"
        effort = non_default_effort(self.format, self.effort)
        if effort is not None:
            params += f"|effort={effort}"
        return hashlib.sha256(params.encode()).hexdigest()[:16]


def render_params_digest(config: Config, fmt: str, box: Box) -> str:
    """A short digest of everything that changes a thumbnail's bytes besides the source (single recipe)."""
    return RenderSpec.of(config, fmt).digest(box)


def encode_meta_value(value: str) -> str:
    """Percent-encode a value so it is ASCII (S3 and Azure refuse other metadata bytes).

    Spaces are encoded too: S3 and Azure trim whitespace around metadata values, so a key
    with a leading or trailing space would not round-trip.
    """
    return quote(value, safe="/!$&'()*+,;=:@-._~")


def decode_meta_value(value: str) -> str:
    """Inverse of :func:`encode_meta_value`."""
    return unquote(value)


@dataclass(frozen=True)
class Provenance:
    """Where a thumbnail comes from and how it was made: its user metadata, as a record.

    Attributes:
        source_key: The source object's key.
        source_bucket: The source's bucket (None on thumbnails written before it was recorded).
        source_revision: The source's etag or version id the thumbnail was rendered from.
        box: The box it was rendered for (``WxH``).
        params: The :meth:`RenderSpec.digest` it was rendered with.
        version: The polythumb version that wrote it.
    """

    source_key: str
    source_bucket: str | None
    source_revision: str
    box: str
    params: str
    version: str = __version__

    @classmethod
    def of(cls, spec: RenderSpec, *, bucket: str, source_key: str, revision: str, box: Box) -> Provenance:
        """The provenance of a thumbnail rendered now from ``bucket/source_key`` at ``revision``."""
        return cls(source_key, bucket, revision, str(box), spec.digest(box))

    def to_metadata(self) -> dict[str, str]:
        """The user metadata written on the thumbnail (valid on every cloud: see the README)."""
        metadata = {
            META_SOURCE: encode_meta_value(self.source_key),
            META_SOURCE_BUCKET: encode_meta_value(self.source_bucket or ""),
            META_SOURCE_REVISION: encode_meta_value(self.source_revision),
            META_BOX: self.box,
            META_PARAMS: self.params,
            META_VERSION: self.version,
        }
        if self.source_bucket is None:
            del metadata[META_SOURCE_BUCKET]
        return metadata

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Provenance | None:
        """Read a thumbnail's metadata (names in any case); None when polythumb did not write the object."""
        meta = {name.lower(): value for name, value in metadata.items()}
        if META_SOURCE not in meta:
            return None
        bucket = meta.get(META_SOURCE_BUCKET)
        return cls(
            source_key=decode_meta_value(meta[META_SOURCE]),
            source_bucket=decode_meta_value(bucket) if bucket is not None else None,
            source_revision=decode_meta_value(meta.get(META_SOURCE_REVISION, "")),
            box=meta.get(META_BOX, ""),
            params=meta.get(META_PARAMS, ""),
            version=meta.get(META_VERSION, ""),
        )

    def is_current(self, revision: str, params: str) -> bool:
        """Whether it renders source ``revision`` with the settings digested as ``params``: nothing to redo."""
        return self.source_revision == revision and self.params == params


def thumbnail_metadata(
    config: Config, *, bucket: str, source_key: str, revision: str, fmt: str, box: Box, params: str | None = None
) -> dict[str, str]:
    """The user metadata written on every thumbnail (``params``: the output's digest; default: single recipe)."""
    digest = params or render_params_digest(config, fmt, box)
    return Provenance(source_key, bucket, revision, str(box), digest).to_metadata()


def is_polythumb_output(metadata: Mapping[str, str]) -> bool:
    """The loop-guard test: did polythumb write this object?"""
    return Provenance.from_metadata(metadata) is not None
