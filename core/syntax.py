"""The syntax of the values THUMBS_* settings and profile fields share: boxes and key templates.

Its own module so :mod:`core.config` and :mod:`core.profiles` both parse them without importing each other.
"""

from __future__ import annotations

import re
import string

from core.errors import ConfigError
from core.imaging.types import Box

KEY_PLACEHOLDERS = ("dir", "stem", "ext", "size", "width", "height", "name", "srcext")

MAX_EDGE = 16384  # the largest box edge; beyond this it is not a thumbnail


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
    boxes: list[Box] = []
    for part in value.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", part)
        if not match:
            raise ConfigError(f"{name}={value!r}: {part.strip()!r} is not a box; {accepted}")
        width = int(match.group(1))
        height = int(match.group(2) or width)
        if not (1 <= width <= MAX_EDGE and 1 <= height <= MAX_EDGE):
            raise ConfigError(f"{name}={value!r}: {part.strip()!r} is out of range; {accepted}")
        box = Box(width, height)
        if box not in boxes:
            boxes.append(box)
    if not boxes:
        raise ConfigError(f"{name}={value!r} names no size; {accepted}")
    return tuple(boxes)


def check_template(
    template: str, name: str, *, placeholders: tuple[str, ...] = KEY_PLACEHOLDERS, names_source: bool = False
) -> None:
    """Refuses a key template that does not parse or names an unknown placeholder; errors name ``name``.

    ``names_source``: it must also hold ``{stem}`` or ``{name}`` (one key per source, e.g. a manifest).
    """
    accepted = f"accepted placeholders: {', '.join('{' + p + '}' for p in placeholders)}"
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{name}={template!r} is not a valid template ({exc}); {accepted}") from None
    for field_name in fields:
        if field_name not in placeholders:
            raise ConfigError(f"{name}={template!r}: unknown placeholder {{{field_name}}}; {accepted}")
    if names_source and not ({"stem", "name"} & set(fields)):
        raise ConfigError(f"{name}={template!r} must name the source ({{stem}} or {{name}}); {accepted}")
