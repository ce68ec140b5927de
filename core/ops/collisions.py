"""Whether the configured key templates can give two sources one output key (``polythumb config``).

An output belongs to exactly one source (:mod:`core.ownership`): when a template leaves part of the source
key out, the first source rendered owns the key and the others fail with ``output_conflict``. This reads
the templates alone, so it says what *can* collide; ``polythumb backfill --dry-run`` lists the sources
that actually do (:mod:`core.ops.backfill.collisions`).
"""

from __future__ import annotations

import posixpath
import re
import string
from collections import defaultdict

from core.config import DEFAULT_INCLUDE, Config
from core.imaging.types import EXTENSIONS
from core.profiles import AUTO_FORMATS, Profile

#: The extensions polythumb knows, for the groups a message names.
_KNOWN = tuple(dict.fromkeys([*(g.removeprefix("*.") for g in DEFAULT_INCLUDE), *AUTO_FORMATS]))
_SRCEXT_HINT = "add {srcext} next to {stem} (or use {name}): e.g. "


def template_collisions(config: Config) -> list[str]:
    """One sentence per way the templates in use can map two selected sources to one key (empty: none found).

    Checked: a template without ``{dir}`` (same file name in two folders), ``{dir}`` not followed by ``/``,
    and ``{stem}`` without ``{srcext}`` or ``{name}`` (same name, another extension: ``a.jpg``, ``a.jpeg``,
    ``a.JPG``), for each profile's key template and the manifest key.
    """
    found: list[str] = []
    profiles = config.profiles
    for profile in profiles.profiles:
        where = f"profile {profile.name!r} key_template" if profiles.named else "THUMBS_KEY_TEMPLATE"
        found += _problems(profile.key_template, where, _extension_groups(config, profile))
    if config.manifest:  # no {ext}: every selected extension gets the same manifest key
        every = sorted({ext for profile in profiles.profiles for ext in _selected(config, profile)})
        found += _problems(config.manifest_key, "THUMBS_MANIFEST_KEY", {"": every})
    return found


def _problems(template: str, where: str, groups: dict[str, list[str]]) -> list[str]:
    parts = list(string.Formatter().parse(template))
    fields = {field for _, field, _, _ in parts if field is not None}
    said = f"{where}={template!r}"
    problems = []
    if "dir" not in fields:
        problems.append(f"{said} has no {{dir}}: sources with the same file name in different folders share a key")
    elif any(field == "dir" and not _followed_by_slash(parts, i) for i, (_, field, _, _) in enumerate(parts)):
        problems.append(f"{said}: {{dir}} is not followed by '/', so a/b-c.jpg and a-b/c.jpg can share a key")
    if "name" in fields or {"stem", "srcext"} <= fields:
        return problems
    if "stem" not in fields:
        problems.append(f"{said} names neither {{stem}} nor {{name}}: every source of a folder shares its keys")
        return problems
    shared = [f"{', '.join(exts)} -> {out}" if out else ", ".join(exts) for out, exts in groups.items() if exts[1:]]
    example = template.replace("{stem}", "{stem}.{srcext}", 1)
    renames = (
        "" if where == "THUMBS_MANIFEST_KEY" else " (this renames every thumbnail: a backfill renders the new keys)"
    )
    problems.append(
        f"{said} uses {{stem}} without {{srcext}} or {{name}}: sources that differ only in their extension share a "
        f"key ({'; '.join([*shared, 'or one extension in two cases, a.jpg and a.JPG'])}). The first one rendered "
        f"owns it; the others fail with output_conflict. To keep them apart, {_SRCEXT_HINT}{example!r}{renames}"
    )
    return problems


def _followed_by_slash(parts: list[tuple[str, str | None, str | None, str | None]], index: int) -> bool:
    following = parts[index + 1][0] if index + 1 < len(parts) else ""
    return following.startswith("/") or (index + 1 == len(parts))


def _extension_groups(config: Config, profile: Profile) -> dict[str, list[str]]:
    """The selected extensions of ``profile``, grouped by the output extensions they get (``.jpg``, ``.png``...)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for ext in _selected(config, profile):
        outputs = "/".join(f".{EXTENSIONS[fmt]}" for fmt in profile.formats_for(f"x.{ext}"))
        groups[outputs].append(ext)
    return dict(groups)


def _selected(config: Config, profile: Profile) -> list[str]:
    """The known extensions that ``profile`` renders, tried on keys shaped like its globs (all when none fits)."""
    chosen = [ext for ext in _KNOWN
              if any(config.profiles.profile_for(key) == profile for key in _samples(profile, ext))]  # fmt: skip
    return chosen or list(_KNOWN)


def _samples(profile: Profile, ext: str) -> list[str]:
    keys = [f"x.{ext}", f"photos/x.{ext}"]
    for glob in profile.match:
        filled = re.sub(r"\[[^\]]*\]", "x", glob)
        if "*" in filled:  # the last star takes the file name
            head, _, tail = filled.rpartition("*")
            keys.append(f"{head.replace('*', 'x')}x.{ext}{tail}".replace("?", "x"))
        keys.append(f"{posixpath.splitext(filled.replace('*', 'x').replace('?', 'x'))[0]}.{ext}")
    return [key for key in keys if posixpath.splitext(key)[1] == f".{ext}"]
