"""The syntax of the values THUMBS_* settings and profile fields share: boxes and key templates.

One grammar, three readers: :mod:`core.config` (THUMBS_SIZES, THUMBS_KEY_TEMPLATE, THUMBS_MANIFEST_KEY),
:mod:`core.profiles` (a profile's ``sizes`` and ``key_template``) and :mod:`core.overlap` (which reads a
template as an automaton). It imports nothing of polythumb's but the error vocabulary and :class:`Box`.

A key template is plain text with ``{placeholder}`` fields and nothing else: no format spec
(``{stem:>9}``), conversion (``{stem!r}``), attribute or index (``{stem.upper}``, ``{x[0]}``); and no
``.`` or ``..`` path segment written in its text (``{dir}/../x``, ``./{stem}``): a cloud's HTTP stack
resolves dot segments in a blob's URL (Azure writes ``dst/../victim/k`` into the container ``victim``).
Empty segments are normalised, as they always were: a run of ``/`` renders as one and a leading ``/`` is
dropped (``thumbs//{dir}/x`` and ``/{dir}/x`` are fine, and ``{dir}/x`` of a top-level key needs it), so
no key has one; a trailing ``/`` cannot be normalised (the key would name a folder) and is refused. What
the placeholders themselves put in a key (a source key with ``..`` in its directory) is checked when a key
is rendered (:func:`core.keys.check_rendered_key`).
"""

from __future__ import annotations

import re
import string

from core.errors import ConfigError
from core.imaging.types import Box

KEY_PLACEHOLDERS = ("dir", "stem", "ext", "size", "width", "height", "name", "srcext")
#: The placeholders of THUMBS_MANIFEST_KEY (a manifest has no box or format).
MANIFEST_PLACEHOLDERS = ("dir", "stem", "name", "srcext")

MAX_EDGE = 16384  # the largest box edge; beyond this it is not a thumbnail
#: Most boxes in one setting or profile (THUMBS_SIZES, a profile's ``sizes``): every box is an output to
#: render, store and head on each event, and a larger list is a mistake (20,000 took 30 s to validate).
MAX_SIZES = 64
#: Longest key template: no key longer than 1024 bytes is portable (S3 and GCS refuse it), and a longer
#: template renders a longer key.
MAX_TEMPLATE_LENGTH = 1024
#: Most placeholders in one key template (a real one has two to six); it bounds the start-time check that a
#: manifest never lands on a thumbnail (:mod:`core.overlap`) to well under a second.
MAX_PLACEHOLDERS = 16


def parse_boxes(value: str | None, name: str, default: tuple[Box, ...] = ()) -> tuple[Box, ...]:
    """Parses comma-separated boxes (``128x128,512``); errors name ``name`` (a variable or a profile field).

    Raises:
        ConfigError: a part is not a box, is out of range, or no box is named.
    """
    if value is None:
        return default
    accepted = (
        f"accepted values: comma-separated boxes WIDTHxHEIGHT (or one number for a square), "
        f"each edge 1..{MAX_EDGE}, e.g. 128x128,512x512"
    )
    if name == "THUMBNAIL_SIZE":  # the seed's "128,128" is one box, not two squares
        value = value.replace(",", "x", 1) if value.count(",") == 1 else value
    parts = value.split(",")
    if len(parts) > MAX_SIZES:  # before any parsing: the cost of a huge list is its parsing
        raise ConfigError(f"{name} names {len(parts):,} sizes, over the limit of {MAX_SIZES}; {accepted}")
    boxes: dict[Box, None] = {}
    for part in parts:
        # At most 9 digits an edge: int() of a longer digit run costs time (and over 4300 digits, fails).
        match = re.fullmatch(r"\s*(\d{1,9})\s*(?:[xX×]\s*(\d{1,9}))?\s*", part)
        if not match:
            raise ConfigError(f"{name}={_shown(value)}: {_shown(part.strip())} is not a box; {accepted}")
        width = int(match.group(1))
        height = int(match.group(2) or width)
        if not (1 <= width <= MAX_EDGE and 1 <= height <= MAX_EDGE):
            raise ConfigError(f"{name}={_shown(value)}: {part.strip()!r} is out of range; {accepted}")
        boxes[Box(width, height)] = None
    if not boxes:
        raise ConfigError(f"{name}={_shown(value)} names no size; {accepted}")
    return tuple(boxes)


def _shown(value: str, limit: int = 200) -> str:
    """``value`` quoted for an error message, shortened: a setting may be megabytes long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value):,} characters)"


def template_fields(template: str, name: str, *, placeholders: tuple[str, ...] = KEY_PLACEHOLDERS) -> list[
    tuple[str, str | None]
]:
    """``template`` as ``(literal text, placeholder or None)`` pairs, refusing anything but plain placeholders.

    Raises:
        ConfigError: naming ``name``: the template does not parse, is too long, or has a field that is not a
            plain placeholder of ``placeholders`` (a format spec, conversion, attribute or index included).
    """
    accepted = f"accepted placeholders: {', '.join('{' + p + '}' for p in placeholders)}"
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise ConfigError(
            f"{name}={_shown(template)} is {len(template):,} characters long, over {MAX_TEMPLATE_LENGTH} "
            "(no longer key is portable)"
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"{name}={template!r} is not a valid template ({exc}); {accepted}") from None
    parts: list[tuple[str, str | None]] = []
    for literal, field_name, spec, conversion in parsed:
        if field_name is not None and (spec or conversion is not None):
            suffix = f"!{conversion}" if conversion is not None else ""
            suffix += f":{spec}" if spec else ""
            raise ConfigError(
                f"{name}={template!r}: {{{field_name}{suffix}}} has a format spec or conversion; a key template "
                f"takes plain placeholders only; {accepted}"
            )
        if field_name is not None and field_name not in placeholders:
            raise ConfigError(f"{name}={template!r}: unknown placeholder {{{field_name}}}; {accepted}")
        parts.append((literal, field_name))
    count = sum(1 for _, field_name in parts if field_name is not None)
    if count > MAX_PLACEHOLDERS:
        raise ConfigError(f"{name}={_shown(template)} has {count} placeholders, over {MAX_PLACEHOLDERS}; {accepted}")
    return parts


def check_template(
    template: str, name: str, *, placeholders: tuple[str, ...] = KEY_PLACEHOLDERS, names_source: bool = False
) -> None:
    """Refuses a key template that is not plain text and placeholders, or writes a dot or empty segment.

    ``names_source``: it must also hold ``{stem}`` or ``{name}`` (one key per source, e.g. a manifest).

    Raises:
        ConfigError: naming ``name`` and what it accepts.
    """
    parts = template_fields(template, name, placeholders=placeholders)
    fields = {field for _, field in parts if field is not None}
    accepted = f"accepted placeholders: {', '.join('{' + p + '}' for p in placeholders)}"
    if names_source and not ({"stem", "name"} & fields):
        raise ConfigError(f"{name}={template!r} must name the source ({{stem}} or {{name}}); {accepted}")
    segment = _literal_segment_problem(parts)
    if segment is not None:
        raise ConfigError(
            f"{name}={template!r} writes {segment} in its path; accepted values: '/'-separated segments, none "
            "of them '.' or '..' (a cloud resolves them in a key's URL to another path, even another "
            "container), not ending in '/', e.g. {dir}/thumbs/{stem}-{size}.{ext}"
        )


def _literal_segment_problem(parts: list[tuple[str, str | None]]) -> str | None:
    """The first ``.`` or ``..`` segment written in the template's own text, or a trailing ``/`` (None if none).

    A segment is judged only when no placeholder is in it: ``..{stem}`` is a name, and what a placeholder
    renders is checked on the rendered key instead.
    """
    shape = "".join(literal + ("\0" if field is not None else "") for literal, field in parts)
    segments = shape.split("/")
    for segment in segments:
        if segment in (".", ".."):
            return f"a {segment!r} segment"
    if len(segments) > 1 and segments[-1] == "":
        return "a trailing '/'"
    return None
