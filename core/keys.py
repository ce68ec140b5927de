"""A thumbnail's identity: its key, what it is rendered as (:class:`RenderSpec`) and where it comes from
(:class:`Provenance`, the metadata that ties it to its source).

Which outputs a source key gets is :class:`core.profiles.Profiles`' answer (``Config.profiles``); this module
only renders a key from a template and says what one output is. Keys are pure functions of the source key and
the template, so a delete event (which has no image to look at) finds the same keys a create event wrote.
:meth:`Provenance.from_metadata` is the one reader of a thumbnail's metadata (the pipeline's loop guard and
idempotency, the backfill plan, the orphan check); which source owns an output, and who may replace or delete
it, is :mod:`core.ownership`'s rule.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from core import __version__
from core.errors import InvalidKey
from core.imaging.encoding import non_default_effort
from core.imaging.types import EXTENSIONS, Box, Fit
from core.storage.validation import collapse_slashes

# Metadata names valid on S3, GCS and Azure alike: lower case (S3 folds case), and
# C# identifiers (Azure): letters, digits and underscores, no hyphens.
META_SOURCE = "polythumb_source"  # percent-encoded source key; its presence is the loop-guard marker
META_SOURCE_BUCKET = "polythumb_source_bucket"
META_SOURCE_REVISION = "polythumb_source_revision"  # etag or version the thumbnail was rendered from
META_BOX = "polythumb_box"
META_PARAMS = "polythumb_params"  # digest of the render settings, so a settings change regenerates
META_VERSION = "polythumb_version"
#: The thumbnail's measured pixel size (``WxH``), so a later look (a head) knows it without reading the image.
META_DIMENSIONS = "polythumb_dimensions"

_SLASHES = re.compile(r"/{2,}")


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
    return check_rendered_key(collapse_slashes(rendered), source_key)


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
        dimensions: Its measured ``(width, height)``; None on a manifest, and on thumbnails written before
            it was recorded.
    """

    source_key: str
    source_bucket: str | None
    source_revision: str
    box: str
    params: str
    version: str = __version__
    dimensions: tuple[int, int] | None = None

    @classmethod
    def of(
        cls, spec: RenderSpec, *, bucket: str, source_key: str, revision: str, box: Box, dimensions: tuple[int, int]
    ) -> Provenance:
        """The provenance of a thumbnail of ``dimensions`` rendered now from ``bucket/source_key`` at ``revision``."""
        return cls(source_key, bucket, revision, str(box), spec.digest(box), dimensions=dimensions)

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
        if self.dimensions is not None:
            metadata[META_DIMENSIONS] = f"{self.dimensions[0]}x{self.dimensions[1]}"
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
            dimensions=_dimensions(meta.get(META_DIMENSIONS)),
        )

    def is_current(self, revision: str, params: str) -> bool:
        """Whether it renders source ``revision`` with the settings digested as ``params``: nothing to redo."""
        return self.source_revision == revision and self.params == params


def _dimensions(value: str | None) -> tuple[int, int] | None:
    """``WxH`` as a pair; None when absent or not two positive numbers (then a reader measures the image)."""
    match = re.fullmatch(r"([1-9][0-9]{0,8})x([1-9][0-9]{0,8})", value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_polythumb_output(metadata: Mapping[str, str]) -> bool:
    """The loop-guard test: did polythumb write this object?"""
    return Provenance.from_metadata(metadata) is not None
