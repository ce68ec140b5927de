"""Which source a requested path is an output of: the key templates read backwards.

A request names an output key; the serve function must find the source whose render writes that key
(:meth:`core.profiles.Profiles.outputs_for`, or the manifest template) without touching storage when there is
none. :class:`ReverseIndex` reads every key template in use backwards, as rendering wrote it
(:func:`core.keys.fill_template`: placeholders filled, runs of ``/`` collapsed, no leading ``/``):

1. **match**: every way the key splits into the template's text and placeholder values, each placeholder
   taking only what it can hold (``{dir}`` any clean folder path, ``{stem}`` and ``{name}`` no ``/``,
   ``{srcext}`` no ``/`` or ``.``, ``{ext}`` the profile's extensions, ``{size}``, ``{width}`` and
   ``{height}`` the profile's boxes), a placeholder used twice taking one value;
2. **candidates**: each split names a source key: ``{dir}`` and ``{name}``, or ``{stem}`` and ``{srcext}``
   (an empty ``{srcext}`` is ``stem`` or ``stem.``). A template with ``{stem}`` but no extension of the
   source (the default ``{dir}/{stem}-{width}x{height}.{ext}``) names a listing instead: the source is one of
   the keys starting with ``dir/stem.``, found with one listing (any extension, any case) when the
   output is missing, never by guessing extensions;
3. **verify**: a candidate counts only if rendering it forward gives exactly the requested key (it passes
   the filter, its profile writes that key, box and format): so a candidate is never wrong, whatever the
   template; matching only has to find the true source among them.

Every template the configuration accepts is read exactly, with two exceptions refused when the serve
function starts (:func:`check_reversible`, naming the setting): a template without ``{dir}`` followed by
``/`` (the source's folder cannot be read back: every folder would be a candidate) and one naming no
``{stem}`` or ``{name}``. A template whose parts can split one key several ways (``{stem}-{srcext}-{size}``
with a ``-`` in the stem) gives several candidates, in a defined order (profiles in order; each placeholder
tried shortest first), at most :data:`MAX_SOURCES` exact keys and :data:`MAX_LISTINGS` listings: the
first that exists is rendered, and when an output already exists its recorded source owns it
(:mod:`core.ownership`). Source keys with an empty segment (``a//b.jpg``, a leading ``/``) render the same
output keys as the key without it, so a request can never name them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from core.errors import ConfigError, InvalidKey
from core.imaging.types import EXTENSIONS
from core.keys import fill_template
from core.profiles import Output, Profile, Profiles
from core.syntax import KEY_PLACEHOLDERS, MANIFEST_PLACEHOLDERS, template_fields

#: Most exact source keys, and listings, one request may look up (each a storage request).
MAX_SOURCES = 8
MAX_LISTINGS = 2
#: Most matcher steps one request may take (a real template takes a few dozen).
MAX_STEPS = 20_000
#: Placeholders whose values are texts of some length (the others come from finite lists).
_TEXT_FIELDS = ("dir", "stem", "name", "srcext")
_EXAMPLE = "{dir}/{stem}-{width}x{height}.{ext}"

Tokens = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Lookup:
    """Where to look for the source of a requested key.

    Attributes:
        key: The requested output key.
        sources: Exact source keys, each verified to render ``key``, in the order to try them.
        listings: Source key prefixes to list, in order: each listed key that renders ``key`` is a candidate.
    """

    key: str
    sources: tuple[str, ...] = ()
    listings: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        """Whether ``key`` can be an output at all."""
        return bool(self.sources or self.listings)


@dataclass(frozen=True)
class _Template:
    """One key template as read backwards: its parts, and what its finite placeholders can be."""

    tokens: Tokens
    choices: Mapping[str, tuple[str, ...]]


class _TooManySteps(Exception):
    pass


def check_reversible(template: str, setting: str, *, placeholders: tuple[str, ...] = KEY_PLACEHOLDERS) -> Tokens:
    """``template``'s parts, if a requested key can be read back to its source; else refuse it.

    Raises:
        ConfigError: naming ``setting``: no ``{dir}`` followed by ``/``, or no ``{stem}`` or ``{name}``.
    """
    tokens = tuple(template_fields(template, setting, placeholders=placeholders))
    fields = [field for _, field in tokens if field is not None]
    why = ""
    if "dir" not in fields:
        why = "has no {dir}, so a requested path cannot say which folder its source is in"
    elif not any(
        field == "dir" and (tokens[index + 1][0] if index + 1 < len(tokens) else "").startswith("/")
        for index, (_, field) in enumerate(tokens)
    ):
        why = "has no {dir} followed by '/', so a requested path cannot say where its source's folder ends"
    elif not {"stem", "name"} & set(fields):
        why = "names neither {stem} nor {name}, so a requested path cannot say which source it is of"
    if why:
        raise ConfigError(
            f"{setting}={template!r} {why}; the serve function reads every requested path back to its source: "
            f"accepted values: a template with {{dir}}/ and {{stem}} or {{name}}, e.g. {_EXAMPLE}"
        )
    return tokens


class ReverseIndex:
    """Reads requested keys back to their sources, for one configuration's profiles and manifest template.

    Args:
        profiles: ``Config.profiles``.
        manifest_key: THUMBS_MANIFEST_KEY when manifests are written, else None.

    Raises:
        ConfigError: a template that cannot be read back (:func:`check_reversible`), naming its setting.
    """

    def __init__(self, profiles: Profiles, *, manifest_key: str | None) -> None:
        self._profiles = profiles
        self._manifest_key = manifest_key
        self._templates: list[_Template] = []
        for profile in profiles.profiles:
            tokens = check_reversible(profile.key_template, profiles.template_setting(profile))
            self._templates.append(_Template(tokens, _choices(profile, profiles)))
        if manifest_key is not None:
            tokens = check_reversible(manifest_key, "THUMBS_MANIFEST_KEY", placeholders=MANIFEST_PLACEHOLDERS)
            self._templates.append(_Template(tokens, {}))

    def lookup(self, key: str) -> Lookup:
        """Where the source of ``key`` may be; an empty :class:`Lookup` when ``key`` is no output of any source."""
        sources: dict[str, None] = {}
        listings: dict[str, None] = {}
        steps = [0]
        try:
            for template in self._templates:
                for binding in _bindings(template, key, steps):
                    exact, listing = _source_keys(binding)
                    for source in exact:
                        if source not in sources and len(sources) < MAX_SOURCES and self.renders(key, source):
                            sources[source] = None
                    if listing is not None and len(listings) < MAX_LISTINGS:
                        listings[listing] = None
        except _TooManySteps:
            pass  # what was found so far, in order: the bound is per request, not per template
        return Lookup(key, tuple(sources), tuple(listings))

    def renders(self, key: str, source_key: str) -> bool:
        """Whether rendering ``source_key`` writes ``key`` (one of its thumbnails, or its manifest)."""
        return self.output_for(key, source_key) is not None or self.is_manifest_of(key, source_key)

    def output_for(self, key: str, source_key: str) -> Output | None:
        """The output of ``source_key`` stored at ``key``; None when it writes no thumbnail there."""
        try:
            return next((output for output in self._profiles.outputs_for(source_key) if output.key == key), None)
        except InvalidKey:
            return None

    def is_manifest_of(self, key: str, source_key: str) -> bool:
        """Whether ``key`` is the manifest of ``source_key`` (written only for a source with outputs)."""
        if self._manifest_key is None or not self._profiles.is_selected(source_key):
            return False
        try:
            return fill_template(self._manifest_key, source_key) == key
        except InvalidKey:
            return False


def _choices(profile: Profile, profiles: Profiles) -> dict[str, tuple[str, ...]]:
    """What the finite placeholders of ``profile``'s template can be: its extensions and its boxes."""
    extensions = sorted({EXTENSIONS[fmt] for fmt in profile.possible_formats(profiles.include)})
    return {
        "ext": tuple(extensions),
        "size": tuple(dict.fromkeys(str(box) for box in profile.sizes)),
        "width": tuple(dict.fromkeys(str(box.width) for box in profile.sizes)),
        "height": tuple(dict.fromkeys(str(box.height) for box in profile.sizes)),
    }


def _source_keys(binding: Mapping[str, str]) -> tuple[list[str], str | None]:
    """The exact source keys a split names, and the listing prefix when the source's extension is not in it."""
    directory = binding["dir"]

    def under(name: str) -> str:
        return f"{directory}/{name}" if directory else name

    if "name" in binding:
        return [under(binding["name"])], None
    stem = binding["stem"]
    if "srcext" in binding:
        extension = binding["srcext"]
        return ([under(f"{stem}.{extension}")] if extension else [under(stem), under(f"{stem}.")]), None
    return [under(stem)], under(f"{stem}.")  # no extension at all, or any: listed


def _bindings(template: _Template, key: str, steps: list[int]) -> Iterator[dict[str, str]]:
    """Every split of ``key`` into ``template``'s text and placeholder values, in the defined order.

    The template's text is matched as rendering collapsed it: a ``/`` written where the key so far is empty or
    ends in ``/`` left no character.

    Raises:
        _TooManySteps: over :data:`MAX_STEPS` steps in this request (``steps`` counts them across templates).
    """
    tokens, length = template.tokens, len(key)
    # The character that must follow each placeholder's value (the next text's first), where one does.
    follows = [tokens[index + 1][0][:1] if index + 1 < len(tokens) else "" for index in range(len(tokens))]

    def text_end(text: str, at: int) -> int | None:
        for char in text:
            if char == "/" and (at == 0 or key[at - 1] == "/"):
                continue
            if at >= length or key[at] != char:
                return None
            at += 1
        return at

    def walk(index: int, at: int, bound: dict[str, str]) -> Iterator[dict[str, str]]:
        steps[0] += 1
        if steps[0] > MAX_STEPS:
            raise _TooManySteps
        if index == len(tokens):
            if at == length:
                yield bound
            return
        text, field = tokens[index]
        after = text_end(text, at)
        if after is None:
            return
        if field is None:
            yield from walk(index + 1, after, bound)
            return
        for value in _values(field, key, after, bound=bound, choices=template.choices, follow=follows[index]):
            yield from walk(index + 1, after + len(value), bound if field in bound else {**bound, field: value})

    yield from walk(0, 0, {})


def _values(
    field: str, key: str, at: int, *, bound: Mapping[str, str], choices: Mapping[str, tuple[str, ...]], follow: str
) -> Iterator[str]:
    """The values ``field`` can take at ``key[at:]``, shortest first (``follow``: the character after it, if fixed)."""
    if field in bound:
        if key.startswith(bound[field], at):
            yield bound[field]
        return
    if field not in _TEXT_FIELDS:
        yield from (choice for choice in choices.get(field, ()) if key.startswith(choice, at))
        return
    stop: Callable[[str], bool] = {
        "dir": lambda char: False,
        "stem": lambda char: char == "/",
        "name": lambda char: char == "/",
        "srcext": lambda char: char in "/.",
    }[field]
    shortest = 0 if field in ("dir", "srcext") else 1
    end = at
    while True:
        value = key[at:end]
        # The text after the value must start here (a '/' after an empty value may have been collapsed).
        followed = not follow or (follow == "/" and not value) or (end < len(key) and key[end] == follow)
        if len(value) >= shortest and followed and (field != "dir" or _clean_folder(value)):
            yield value
        if end >= len(key) or stop(key[end]):
            return
        end += 1


def _clean_folder(value: str) -> bool:
    """Whether ``value`` is a ``{dir}`` a source key can have and rendering leaves as it is."""
    return value == "" or (not value.startswith("/") and not value.endswith("/") and "//" not in value)
