"""Profiles: which outputs each source key gets (sizes, formats, fit, quality, animation, key template).

``THUMBS_PROFILES`` names a TOML or JSON file, or holds inline JSON, with one
``profiles`` table whose entries are tried in order; the first whose ``match``
globs take the key (and whose ``exclude`` globs do not) renders it. Without
``THUMBS_PROFILES`` the single-recipe ``THUMBS_*`` settings are one profile,
``default``, so existing deployments render, name and digest exactly as before.

:class:`Profiles` is the one answer to "which outputs does this key get?":
:func:`core.config.load_config` builds it once (``THUMBS_INCLUDE``/``THUMBS_EXCLUDE``,
the profiles, ``THUMBS_STRIP_METADATA``) and holds it as ``Config.profiles``; the
pipeline, deletes, the backfill, completion and ``polythumb verify`` all ask it.
Profiles are parsed from a base profile (the single recipe, whose values a profile's
missing fields take) and the pixel limit; nothing here reads a configuration.

Everything here is a pure function of the source key and the settings: a
delete event (no image to look at) enumerates the same outputs a create event
wrote, and the backfill plan the same outputs the pipeline renders. Neither the
source's real animation nor the engine changes a key or a digest.

Example (TOML)::

    [profiles.avatars]
    match = ["avatars/*"]
    sizes = ["64x64", "256x256"]
    formats = ["avif", "webp", "jpeg"]
    fit = "smart"
    quality = { avif = 55, jpeg = 80 }

    [profiles.banners]
    match = ["banners/*"]
    sizes = ["1200x400"]
    fit = "cover"
    animated = "keep"
    formats = ["webp"]
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.imaging.encoding import EFFORTS, effort_error, non_default_effort
from core.imaging.types import FORMATS, MAX_ENCODED_EDGE, Box, Fit
from core.keys import RenderSpec, render_key
from core.syntax import MAX_SIZES, check_template, parse_boxes

PROFILES_SETTING = "THUMBS_PROFILES"
DEFAULT_PROFILE = "default"
ANIMATED = ("first", "keep")
FIELDS = ("match", "exclude", "sizes", "formats", "fit", "quality", "effort", "animated", "key_template")
#: Which output format ``auto`` picks, by the source key's extension. Web formats keep their family;
#: GIF (first frame only), TIFF, BMP, ICO and unknown kinds may carry alpha and are not web formats, so
#: they become PNG; HEIC photos become WebP (lossy, with alpha).
AUTO_FORMATS = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg",
    "png": "png", "webp": "webp", "avif": "avif",
    "heic": "webp", "heif": "webp",
}  # fmt: skip
AUTO_FALLBACK_FORMAT = "png"
#: Source extensions that may hold an animation ``animated = "keep"`` preserves.
ANIMATED_EXTENSIONS = frozenset({"gif", "webp"})
#: The format ``auto`` gives an animated-capable source in a ``keep`` profile: WebP holds
#: animation and alpha in a fraction of a GIF's bytes.
ANIMATED_AUTO_FORMAT = "webp"
#: Most outputs one source may get (sizes times formats): each is rendered, encoded, head-ed and put on
#: every event, so 64 sizes in two formats is already far more than any page shows.
MAX_OUTPUTS = 128

_EXTENSION_GLOB = re.compile(r".*\*\.([A-Za-z0-9]+)")


def matches(key: str, globs: Sequence[str]) -> bool:
    """Whether any of ``globs`` takes ``key`` (case-insensitive; ``*`` crosses ``/``)."""
    lowered = key.lower()
    return any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in globs)


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
class Profile:
    """One recipe.

    Attributes:
        name: The profile's name (``default`` for the single-recipe settings).
        match: Globs on the source key (case-insensitive; ``*`` crosses ``/``).
        exclude: Globs that take a matched key back out (it falls through to the next profile).
        sizes: Boxes, in the order given.
        formats: Output formats in order; ``auto`` picks one from the source extension.
        fit: ``contain``, ``cover`` or ``smart``.
        quality: ``(format, quality)`` pairs; a format not listed uses the encoder's default.
        animated: ``first`` (a still of the first frame) or ``keep`` (animated WebP).
        key_template: Output key template (see ``THUMBS_KEY_TEMPLATE``).
        effort: ``(format, effort)`` pairs set to other than the encoder's default
            (:mod:`core.imaging.encoding`); a format not listed uses the default.
    """

    name: str
    match: tuple[str, ...]
    exclude: tuple[str, ...]
    sizes: tuple[Box, ...]
    formats: tuple[str, ...]
    fit: Fit
    quality: tuple[tuple[str, int | None], ...]
    animated: str
    key_template: str
    effort: tuple[tuple[str, int], ...] = ()

    @classmethod
    def recipe(
        cls, *, sizes: tuple[Box, ...], format: str, quality: int | None, fit: Fit, key_template: str
    ) -> Profile:
        """The single-recipe ``THUMBS_*`` settings (THUMBS_SIZES, THUMBS_FORMAT, ...) as the profile ``default``."""
        return cls(
            name=DEFAULT_PROFILE,
            match=("*",),
            exclude=(),
            sizes=sizes,
            formats=(format,),
            fit=fit,
            quality=tuple((fmt, quality) for fmt in FORMATS),
            animated="first",
            key_template=key_template,
        )

    def quality_for(self, fmt: str) -> int | None:
        """The quality asked for ``fmt`` (None: the encoder's default)."""
        return dict(self.quality).get(fmt)

    def effort_for(self, fmt: str) -> int | None:
        """The encoder effort asked for ``fmt`` (None: the encoder's default)."""
        return dict(self.effort).get(fmt)

    def takes(self, key: str) -> bool:
        """Whether this profile renders ``key`` (its globs; the global filter is :class:`Profiles`')."""
        return matches(key, self.match) and not matches(key, self.exclude)

    def formats_for(self, source_key: str) -> tuple[str, ...]:
        """The concrete formats written for ``source_key``, ``auto`` resolved, repeats dropped."""
        extension = posixpath.splitext(source_key)[1].lstrip(".").lower()
        if self.animated == "keep" and extension in ANIMATED_EXTENSIONS:
            auto = ANIMATED_AUTO_FORMAT
        else:
            auto = AUTO_FORMATS.get(extension, AUTO_FALLBACK_FORMAT)
        return tuple(dict.fromkeys(auto if fmt == "auto" else fmt for fmt in self.formats))

    def possible_formats(self, include: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """Every concrete format this profile can write for a key ``include`` admits, with the source
        extensions that get it (``*`` for any); ``auto`` resolved as :meth:`formats_for` does."""
        extensions = included_extensions(include)
        # A key with no extension (or one no glob names) falls back: "*" stands for it.
        candidates = [*sorted(extensions or set(AUTO_FORMATS) | ANIMATED_EXTENSIONS), "*"]
        formats: dict[str, list[str]] = {}
        for extension in candidates:
            for fmt in self.formats_for(f"sample.{extension}"):
                formats.setdefault(fmt, []).append(extension)
        return {fmt: tuple(sources) for fmt, sources in formats.items()}

    def outputs(self, key: str, *, strip_metadata: bool) -> list[Output]:
        """The outputs this profile makes of ``key`` (whether or not it would be chosen for it): each size,
        largest first, in each format.

        Raises:
            InvalidKey: an output key would have a ``.`` or ``..`` segment.
        """
        boxes = sorted(self.sizes, key=lambda box: box.width * box.height, reverse=True)
        return [
            Output(
                key=render_key(self.key_template, key, box, fmt),
                box=box,
                spec=RenderSpec(
                    fmt, self.quality_for(fmt), self.fit, strip_metadata, self.animated, self.effort_for(fmt)
                ),
                profile=self.name,
            )
            for box in boxes
            for fmt in self.formats_for(key)
        ]

    def describe(self) -> dict[str, Any]:
        """A JSON-ready view (``polythumb config``)."""
        return {
            "name": self.name,
            "match": list(self.match),
            "exclude": list(self.exclude),
            "sizes": [str(box) for box in self.sizes],
            "formats": list(self.formats),
            "fit": str(self.fit),
            "quality": {fmt: quality for fmt, quality in self.quality if quality is not None},
            "effort": dict(self.effort),
            "animated": self.animated,
            "key_template": self.key_template,
        }


@dataclass(frozen=True)
class Output:
    """One output of one source: where it goes and everything that decides its bytes.

    ``params`` is the digest written as ``polythumb_params``; it covers the
    format, quality, fit, metadata stripping, box, (when not ``first``) the
    animation mode and (when not the encoder's default) the effort. The
    profile's name is not in it: renaming a profile does not re-render anything.
    """

    key: str
    box: Box
    spec: RenderSpec
    profile: str

    @property
    def format(self) -> str:
        """The concrete output format (``jpeg``, ``png``, ``webp``, ``avif``)."""
        return self.spec.format

    @property
    def quality(self) -> int | None:
        return self.spec.quality

    @property
    def fit(self) -> Fit:
        return self.spec.fit

    @property
    def animated(self) -> str:
        return self.spec.animated

    @property
    def effort(self) -> int | None:
        return self.spec.effort

    @property
    def params(self) -> str:
        """The render-settings digest of this output (:meth:`core.keys.RenderSpec.digest`)."""
        return self.spec.digest(self.box)


@dataclass(frozen=True)
class Profiles:
    """Which outputs each source key gets: the filter, then the first profile that takes the key.

    Built once by :func:`core.config.load_config` and held as ``Config.profiles``.

    Attributes:
        profiles: Tried in order; the single recipe's ``default`` alone when THUMBS_PROFILES is unset.
        include: THUMBS_INCLUDE: globs a key must match (any of them) to get outputs at all.
        exclude: THUMBS_EXCLUDE: globs that take a key out before any profile is tried.
        strip_metadata: THUMBS_STRIP_METADATA, of every output.
        named: True when THUMBS_PROFILES named the profiles; False for the single recipe.
    """

    profiles: tuple[Profile, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    strip_metadata: bool = True
    named: bool = False

    def passes_filter(self, key: str) -> bool:
        """Whether ``key`` passes ``THUMBS_INCLUDE`` and ``THUMBS_EXCLUDE`` (case-insensitive globs)."""
        return (not self.include or matches(key, self.include)) and not matches(key, self.exclude)

    def profile_for(self, key: str) -> Profile | None:
        """The profile that renders ``key``: the first that takes it, after the filter; None if none."""
        if not self.passes_filter(key):
            return None
        return next((profile for profile in self.profiles if profile.takes(key)), None)

    def is_selected(self, key: str) -> bool:
        """Whether ``key`` gets thumbnails: it passes the filter and a profile takes it."""
        return self.profile_for(key) is not None

    def outputs_for(self, key: str) -> list[Output]:
        """Every output of ``key``: each size (largest first) in each format; empty when no profile takes it.

        Raises:
            InvalidKey: an output key would have a ``.`` or ``..`` segment.
        """
        profile = self.profile_for(key)
        return [] if profile is None else self.outputs_of(profile, key)

    def outputs_of(self, profile: Profile, key: str) -> list[Output]:
        """The outputs ``profile`` makes of ``key`` (whether or not it would be chosen for it)."""
        return profile.outputs(key, strip_metadata=self.strip_metadata)

    def key_templates(self) -> tuple[str, ...]:
        """Every key template in use (the backfill lists and matches the destination with them)."""
        return tuple(dict.fromkeys(profile.key_template for profile in self.profiles))

    def template_setting(self, profile: Profile) -> str:
        """What names ``profile``'s key template in a message: the variable, or the profile's field."""
        return f"profile {profile.name!r}'s key_template" if self.named else "THUMBS_KEY_TEMPLATE"

    def explain(self, key: str) -> dict[str, Any]:
        """Which profile ``key`` gets and which outputs it makes (``polythumb profiles explain``)."""
        profile = self.profile_for(key)
        if profile is None:
            why = "no profile's match takes it"
            if not self.passes_filter(key):
                why = "THUMBS_INCLUDE/THUMBS_EXCLUDE leave it out"
            return {"key": key, "profile": None, "reason": why, "outputs": []}
        return {
            "key": key,
            "profile": profile.name,
            "outputs": [
                {
                    "key": output.key,
                    "box": str(output.box),
                    "format": output.format,
                    "quality": output.quality,
                    "effort": output.effort,
                    "fit": str(output.fit),
                    "animated": output.animated,
                    "params": output.params,
                }
                for output in self.outputs_of(profile, key)
            ],
        }


# -- parsing and validation -----------------------------------------------------------------------


def load_profiles(value: str, *, base: Profile, include: tuple[str, ...], max_pixels: int) -> tuple[Profile, ...]:
    """Parses ``THUMBS_PROFILES``: inline JSON, or the path of a ``.toml`` or ``.json`` file.

    Fields a profile leaves out take the values of ``base``, the single recipe (THUMBS_SIZES,
    THUMBS_FORMAT, THUMBS_FIT, THUMBS_QUALITY, THUMBS_KEY_TEMPLATE); ``match`` is required. ``include``
    (THUMBS_INCLUDE) says which extensions ``auto`` may meet, for the per-format edge limits, and
    ``max_pixels`` (THUMBS_MAX_PIXELS) bounds a cropped box.

    Raises:
        ConfigError: naming THUMBS_PROFILES, the profile and the field.
    """
    text = value.strip()
    if text.startswith("{"):
        where = f"{PROFILES_SETTING} (inline JSON)"
        document = _parse_json(text, where)
    else:
        path = Path(text).expanduser()
        where = f"{PROFILES_SETTING}={text!r}"
        suffix = path.suffix.lower()
        if suffix not in (".toml", ".json"):
            raise ConfigError(f"{where}: accepted values: inline JSON ({{...}}), or a path ending in .toml or .json")
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
        document = _parse_json(raw, where) if suffix == ".json" else _parse_toml(raw, where)
    return parse_document(document, where=where, base=base, include=include, max_pixels=max_pixels)


def parse_document(
    document: Any, *, where: str, base: Profile, include: tuple[str, ...], max_pixels: int
) -> tuple[Profile, ...]:
    """Validates a parsed profiles document (``{"profiles": {name: {...}, ...}}``)."""
    if not isinstance(document, Mapping) or set(document) != {"profiles"}:
        raise ConfigError(f"{where}: the document must hold exactly one table, 'profiles' (name -> profile)")
    table = document["profiles"]
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(f"{where}: 'profiles' must be a non-empty table of named profiles")
    return tuple(
        _parse_profile(str(name), fields, where=where, base=base, include=include, max_pixels=max_pixels)
        for name, fields in table.items()
    )


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, where))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None


def _unique_keys(pairs: list[tuple[str, Any]], where: str) -> dict[str, Any]:
    """A JSON object, refusing a name given twice (``json`` keeps the last silently; TOML refuses it)."""
    document: dict[str, Any] = {}
    for name, value in pairs:
        if name in document:
            raise ConfigError(f"{where}: {name!r} is given twice in one JSON object; each name may appear once")
        document[name] = value
    return document


def _parse_toml(text: str, where: str) -> Any:
    import tomllib  # only TOML profiles pay for the parser (about 3 ms of a cold start)

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None


def _parse_profile(
    name: str, fields: Any, *, where: str, base: Profile, include: tuple[str, ...], max_pixels: int
) -> Profile:
    here = f"{where}: profile {name!r}"
    if not name.strip() or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"{here}: a profile name uses letters, digits, '-', '_' or '.'")
    if not isinstance(fields, Mapping):
        raise ConfigError(f"{here}: must be a table of fields ({', '.join(FIELDS)})")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{here}, field {unknown[0]!r}: not a profile field; accepted fields: {', '.join(FIELDS)}")
    if "match" not in fields:
        raise ConfigError(f"{here}, field 'match': required (globs on the source key, e.g. [\"avatars/*\"])")
    formats = _formats(fields.get("formats", list(base.formats)), f"{here}, field 'formats'")
    profile = Profile(
        name=name,
        match=_globs(fields["match"], f"{here}, field 'match'", required=True),
        exclude=_globs(fields.get("exclude", []), f"{here}, field 'exclude'", required=False),
        sizes=_sizes(fields["sizes"], f"{here}, field 'sizes'") if "sizes" in fields else base.sizes,
        formats=formats,
        fit=_choice(fields.get("fit", str(base.fit)), tuple(Fit), f"{here}, field 'fit'", Fit),
        quality=_quality(fields["quality"], f"{here}, field 'quality'") if "quality" in fields else base.quality,
        animated=_choice(fields.get("animated", "first"), ANIMATED, f"{here}, field 'animated'", str),
        key_template=_template(fields.get("key_template", base.key_template), f"{here}, field 'key_template'"),
        effort=_effort(fields.get("effort"), f"{here}, field 'effort'"),
    )
    check_outputs(profile, include=include, sizes=f"{here}, field 'sizes'", formats=f"{here}, field 'formats'")
    _check_keys_distinct(profile, here)
    if profile.fit is not Fit.CONTAIN:
        too_big = [str(box) for box in profile.sizes if box.width * box.height > max_pixels]
        if too_big:
            raise ConfigError(
                f"{here}, field 'sizes': box {', '.join(too_big)} has more pixels than THUMBS_MAX_PIXELS="
                f"{max_pixels} allows with fit={profile.fit}; lower the box or raise the limit"
            )
    return profile


def check_outputs(profile: Profile, *, include: tuple[str, ...], sizes: str, formats: str) -> None:
    """Refuses a profile that gives a source too many outputs, or a box a format it writes cannot encode.

    ``sizes`` and ``formats`` name the settings (or profile fields) in the errors.

    Raises:
        ConfigError: over :data:`MAX_OUTPUTS`, or an edge over :data:`core.imaging.types.MAX_ENCODED_EDGE`.
    """
    outputs = len(profile.sizes) * len(profile.formats)
    if outputs > MAX_OUTPUTS:
        raise ConfigError(
            f"{sizes} and {formats}: {len(profile.sizes)} sizes in {len(profile.formats)} formats give each source "
            f"{outputs} outputs, over the limit of {MAX_OUTPUTS}; accepted values: at most {MAX_SIZES} sizes, and "
            f"sizes x formats at most {MAX_OUTPUTS}"
        )
    for fmt, extensions in profile.possible_formats(include).items():
        limit = MAX_ENCODED_EDGE[fmt]
        too_big = [str(box) for box in profile.sizes if max(box.width, box.height) > limit]
        if too_big:
            via = "" if fmt in profile.formats else f" (auto writes {fmt} for {', '.join(f'.{e}' for e in extensions)})"
            via = via.replace(".*", "other keys")
            raise ConfigError(
                f"{sizes}: box {', '.join(too_big)} is larger than {fmt} can encode ({limit} px a side), "
                f"and {formats} writes {fmt}{via}; accepted values: edges up to {limit} for {fmt}, "
                "or another format"
            )


def _globs(value: Any, here: str, *, required: bool) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError(f'{here}: accepted values: a glob or a list of globs on the source key, e.g. ["photos/*"]')
    if required and not items:
        raise ConfigError(f"{here}: names no glob; a profile without one would never be used")
    return tuple(item.strip() for item in items)


def _sizes(value: Any, here: str) -> tuple[Box, ...]:
    if isinstance(value, list) and all(isinstance(item, str | int) and not isinstance(item, bool) for item in value):
        value = ",".join(str(item) for item in value)
    if not isinstance(value, str):
        raise ConfigError(f'{here}: accepted values: a list of boxes such as ["128x128", "512x512"] or [256]')
    return parse_boxes(value, here)


def _formats(value: Any, here: str) -> tuple[str, ...]:
    accepted = ("auto", *FORMATS)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{here}: accepted values: a non-empty list of {' | '.join(accepted)}")
    formats = []
    for item in items:
        if not isinstance(item, str) or item.lower() not in accepted:
            raise ConfigError(f"{here}: {item!r} is not a format; accepted values: {' | '.join(accepted)}")
        formats.append(item.lower())
    return tuple(dict.fromkeys(formats))


def _choice(value: Any, choices: Sequence[str], here: str, kind: Any) -> Any:
    accepted = tuple(str(choice) for choice in choices)
    if not isinstance(value, str) or value.lower() not in accepted:
        raise ConfigError(f"{here}: {value!r} is not valid; accepted values: {' | '.join(accepted)}")
    return kind(value.lower())


def _quality(value: Any, here: str) -> tuple[tuple[str, int | None], ...]:
    accepted = "a whole number from 1 to 100, or a table of them per format, e.g. { avif = 55, jpeg = 80 }"
    if value is None:
        return tuple((fmt, None) for fmt in FORMATS)
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple((fmt, _one_quality(value, here, accepted)) for fmt in FORMATS)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{here}: {value!r} is not valid; accepted values: {accepted}")
    for fmt in value:
        if fmt not in FORMATS:
            raise ConfigError(f"{here}: {fmt!r} is not a format; accepted keys: {' | '.join(FORMATS)}")
    # A quality for a format the profile does not write is harmless (and kept for later).
    return tuple((fmt, _one_quality(value[fmt], f"{here}.{fmt}", accepted) if fmt in value else None)
                 for fmt in FORMATS)  # fmt: skip


def _effort(value: Any, here: str) -> tuple[tuple[str, int], ...]:
    """The ``effort`` table, validated; only values other than the encoder's default are kept (a default
    written out must not change ``polythumb_params``)."""
    ranges = ", ".join(f"{fmt} {low}-{high} (default {default})" for fmt, (low, high, default) in EFFORTS.items())
    accepted = f"a table of whole numbers per format, e.g. {{ webp = 2, avif = 4 }}: {ranges}"
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{here}: {value!r} is not valid; accepted values: {accepted}")
    chosen = []
    for fmt, effort in value.items():
        problem = effort_error(fmt, effort) if fmt in FORMATS else f"{fmt!r} is not a format"
        if problem is not None:
            raise ConfigError(f"{here}.{fmt}: {problem}; accepted values: {accepted}")
        if non_default_effort(fmt, effort) is not None:
            chosen.append((fmt, effort))
    return tuple(sorted(chosen))


def _one_quality(value: Any, here: str, accepted: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ConfigError(f"{here}: {value!r} is not valid; accepted values: {accepted}")
    return value


def _template(value: Any, here: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{here}: accepted values: a key template string such as "{{dir}}/{{stem}}-{{size}}.{{ext}}"')
    check_template(value, here)
    return value


def _check_keys_distinct(profile: Profile, here: str) -> None:
    """Two outputs of one source must never share a key: deletes and the backfill find outputs by key."""
    for sample in ("photos/sample.jpg", "photos/sample.gif"):
        keys = [render_key(profile.key_template, sample, box, fmt)
                for box in profile.sizes for fmt in profile.formats_for(sample)]  # fmt: skip
        if len(set(keys)) != len(keys):
            raise ConfigError(
                f"{here}, field 'key_template': {profile.key_template!r} gives one key to two outputs; "
                "include {size} (or {width} and {height}) and, with several formats, {ext}"
            )
