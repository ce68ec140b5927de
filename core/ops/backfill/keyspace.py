"""Where thumbnails can live: the destination prefix to list and the key shape to inspect.

Both are over-approximations derived from ``THUMBS_KEY_TEMPLATE`` alone, so
they hold for every source key and every box: a key the template can produce
always starts with :func:`dest_scan_prefix` and always matches
:func:`output_key_pattern`. The planner uses them to list less of the
destination and to ``head`` only the objects that could be thumbnails (S3 and
Azure listings carry no metadata, so telling a thumbnail from an original
costs one request per object).
"""

from __future__ import annotations

import posixpath
import re
import string

from core.config import Config
from core.imaging.types import EXTENSIONS
from core.storage.validation import collapse_slashes

# A regex per placeholder, as wide as the values it can take. {dir} may be empty or hold slashes;
# {stem}, {name} and {srcext} come from the last path segment, so they never do.
_FIELD_PATTERNS = {
    "dir": r".*",
    "stem": r"[^/]*",
    "name": r"[^/]*",
    "srcext": r"[^/]*",
    "ext": "(?:" + "|".join(re.escape(ext) for ext in sorted(set(EXTENSIONS.values()))) + ")",
    "size": r"\d+x\d+",
    "width": r"\d+",
    "height": r"\d+",
}


def output_key_pattern(config: Config) -> re.Pattern[str]:
    """A regex every output key of every key template in use matches in full, for any source and box.

    Literal slashes are optional in the pattern because rendering collapses
    repeated slashes and strips a leading one (:func:`core.keys.fill_template`).
    A placeholder with a format spec or conversion matches anything. With
    THUMBS_PROFILES, it is the union of the profiles' templates. Manifest
    keys (``THUMBS_MANIFEST_KEY``) match too, even with ``THUMBS_MANIFEST`` off,
    so the manifests of an earlier run are found as orphans (the suffix is
    narrow: ``.thumbs.json`` keys cost the heads, not every JSON file).
    """
    templates = [*config.profiles.key_templates(), config.manifest_key]
    return re.compile("|".join(f"(?:{_template_pattern(t)})" for t in templates), re.DOTALL)


def _template_pattern(template: str) -> str:
    parts: list[str] = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        for piece in re.split(r"(/+)", literal):
            parts.append("/*" if piece.startswith("/") else re.escape(piece))
        if name is not None:
            parts.append(".*" if spec or conversion else _FIELD_PATTERNS.get(name, ".*"))
    return "".join(parts)


def dest_scan_prefix(config: Config, prefix: str) -> str:
    """The longest destination prefix that holds every output of every source under ``prefix``.

    It is the template's literal head, followed, when the first placeholder is
    ``{dir}``, by the directory part of ``prefix`` (every source under
    ``photos/2024/`` has a directory starting with ``photos/2024``). With
    THUMBS_PROFILES, the common prefix of every template's.
    """
    templates = [*config.profiles.key_templates(), *([config.manifest_key] if config.manifest else [])]
    heads = [_template_prefix(template, prefix) for template in templates]
    return posixpath.commonprefix(heads)


def _template_prefix(template: str, prefix: str) -> str:
    head = ""
    for literal, name, spec, conversion in string.Formatter().parse(template):
        head += literal
        if name == "dir" and not spec and not conversion and "/" in prefix:
            head += prefix.rsplit("/", 1)[0]
        break  # only the text before (and of) the first placeholder is fixed
    return collapse_slashes(head)
