"""Whether two key templates can render one key: a manifest must never land on a thumbnail.

A thumbnail and a manifest written to one key overwrite each other on every event (and a delete of one
removes the other). :func:`check_manifest_apart` refuses, at start, a ``THUMBS_MANIFEST_KEY`` that could
give the key of any thumbnail: of the same source, or of another one.

Each template is read as a small automaton over the characters of a key: its own text matches itself, and
each placeholder matches every text it can take (``{dir}`` anything, ``{stem}`` and ``{name}`` no ``/``,
``{srcext}`` no ``/`` or ``.``, ``{size}``/``{width}``/``{height}`` digits, ``{ext}`` the format's
extension; with ``THUMBS_INCLUDE`` made of ``*.EXT`` globs, ``{name}`` ends in one of those extensions and
``{srcext}`` is one). Two templates can meet exactly when the product of their automata reaches both ends.

Every approximation errs towards finding a meeting, never towards missing one: the placeholders of one
key are taken as independent of each other (``{stem}`` and ``{name}`` of one source vary separately),
case is ignored, and any ``/`` may vanish (an empty ``{dir}``, and runs of ``/`` collapse). So the check
may refuse a pair that could not really collide, but it accepts no pair that can; every realistic
template pair (a manifest ending in ``.json``, thumbnails in ``.{ext}``) is told apart by its end.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from core.errors import ConfigError
from core.imaging.types import EXTENSIONS
from core.profiles import Profiles, included_extensions
from core.storage.validation import collapse_slashes
from core.syntax import KEY_PLACEHOLDERS, MANIFEST_PLACEHOLDERS, template_fields

# Character classes a placeholder ranges over (a label is one character, or one of these names).
_ANY, _NO_SLASH, _NO_DOT, _DIGIT = "<any>", "<no-slash>", "<no-dot>", "<digit>"
_DROP_COST = 3  # dropping a template's "/" (see _Automaton.text) costs more than reading a character
_CLASSES: dict[str, Callable[[str], bool]] = {
    _ANY: lambda char: True,
    _NO_SLASH: lambda char: char != "/",
    _NO_DOT: lambda char: char not in "/.",
    _DIGIT: lambda char: char in "0123456789",
}


class _Automaton:
    """A nondeterministic automaton: edges labelled with a character, a class name, or None (no character)."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[str | None, int]]] = [[]]
        self.end = 0

    def _node(self) -> int:
        self.edges.append([])
        return len(self.edges) - 1

    def text(self, at: int, text: str) -> int:
        for char in text.lower():
            after = self._node()
            self.edges[at].append((char, after))
            if char == "/":
                self.edges[at].append((None, after))  # collapsed, or the leading slash of an empty {dir}
            at = after
        return at

    def repeat(self, at: int, label: str, *, at_least_once: bool = False) -> int:
        after = self._node()
        self.edges[at].append((label, after) if at_least_once else (None, after))
        self.edges[after].append((label, after))
        return after

    def one_of(self, at: int, texts: list[str]) -> int:
        """Any one of ``texts``, as a trie: texts sharing a start share its nodes (".jpg", ".jpeg", ".jpe")."""
        after = self._node()
        children: dict[tuple[int, str], int] = {}
        for text in texts:
            node = at
            for char in text.lower():
                if (node, char) not in children:
                    children[(node, char)] = self._node()
                    self.edges[node].append((char, children[(node, char)]))
                node = children[(node, char)]
            self.edges[node].append((None, after))
        return after


def template_automaton(
    template: str, *, ext: tuple[str, ...], extensions: frozenset[str] | None, placeholders: tuple[str, ...]
) -> _Automaton:
    """The keys ``template`` can render (over-approximated as the module says).

    Args:
        template: A key template that passed :func:`core.syntax.check_template`.
        ext: What ``{ext}`` can be (the extensions of the output formats written).
        extensions: The source extensions THUMBS_INCLUDE admits (lower case); None: any.
        placeholders: The placeholders the template may use.
    """
    automaton = _Automaton()
    at = 0
    for literal, field in template_fields(template, "template", placeholders=placeholders):
        at = automaton.text(at, literal)
        if field == "dir":
            at = automaton.repeat(at, _ANY)
        elif field == "stem":
            at = automaton.repeat(at, _NO_SLASH)
        elif field == "name":
            at = automaton.repeat(at, _NO_SLASH)
            if extensions is not None:
                at = automaton.one_of(at, sorted(f".{extension}" for extension in extensions))
        elif field == "srcext":
            # A key that is only ".jpg" has no extension to splitext: "" is one of the values.
            at = automaton.one_of(at, ["", *sorted(extensions)]) if extensions is not None else automaton.repeat(
                at, _NO_DOT
            )
        elif field == "ext":
            at = automaton.one_of(at, list(ext))
        elif field == "size":
            at = automaton.repeat(at, _DIGIT, at_least_once=True)
            at = automaton.text(at, "x")
            at = automaton.repeat(at, _DIGIT, at_least_once=True)
        elif field in ("width", "height"):
            at = automaton.repeat(at, _DIGIT, at_least_once=True)
    automaton.end = at
    return automaton


def meeting(first: _Automaton, second: _Automaton) -> str | None:
    """A key both automata accept (lower case, as rendered: no leading or doubled ``/``), or None.

    A breadth-first walk of the product decides; only when the two meet does a shortest-path walk find a
    short example that keeps a template's ``/`` where it can (dropping one costs more than reading it).
    """
    if not _meet(first, second):
        return None
    start = (0, 0)
    previous: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    cost = {start: 0}
    queue = [(0, start)]
    while queue:
        spent, state = heapq.heappop(queue)
        if spent > cost[state]:
            continue
        a, b = state
        if a == first.end and b == second.end:
            return collapse_slashes(_spell(previous, state))
        for following, char, step in _moves(first, second, a, b):
            if spent + step < cost.get(following, spent + step + 1):
                cost[following] = spent + step
                previous[following] = (state, char)
                heapq.heappush(queue, (spent + step, following))
    raise AssertionError("the walks disagree")  # pragma: no cover - both explore the same product


def _meet(first: _Automaton, second: _Automaton) -> bool:
    """Whether the product reaches both ends: the plain reachability walk (the hot path of every start)."""
    first_free, first_read = _split(first)
    second_free, second_read = _split(second)
    seen = {(0, 0)}
    stack = [(0, 0)]
    ends = (first.end, second.end)
    while stack:
        state = stack.pop()
        if state == ends:
            return True
        a, b = state
        following = [(target, b) for target in first_free[a]] + [(a, target) for target in second_free[b]]
        for label_a, target_a in first_read[a]:
            for label_b, target_b in second_read[b]:
                if label_a == label_b or _common(label_a, label_b) is not None:
                    following.append((target_a, target_b))
        for item in following:
            if item not in seen:
                seen.add(item)
                stack.append(item)
    return False


def _split(automaton: _Automaton) -> tuple[list[list[int]], list[list[tuple[str, int]]]]:
    """Per node: the targets reached without reading, and the (label, target) edges that read."""
    free = [[target for label, target in edges if label is None] for edges in automaton.edges]
    read = [[(label, target) for label, target in edges if label is not None] for edges in automaton.edges]
    return free, read


def _moves(first: _Automaton, second: _Automaton, a: int, b: int) -> list[tuple[tuple[int, int], str, int]]:
    """The product's moves from ``(a, b)``: (next state, character read, cost)."""
    moves = [((target, b), "", _DROP_COST if _drops_slash(first, a, target) else 0)
             for label, target in first.edges[a] if label is None]  # fmt: skip
    moves += [((a, target), "", _DROP_COST if _drops_slash(second, b, target) else 0)
              for label, target in second.edges[b] if label is None]  # fmt: skip
    for label_a, target_a in first.edges[a]:
        for label_b, target_b in second.edges[b]:
            if label_a is not None and label_b is not None:
                char = _common(label_a, label_b)
                if char is not None:
                    moves.append(((target_a, target_b), char, 1))
    return moves


def _drops_slash(automaton: _Automaton, at: int, target: int) -> bool:
    return ("/", target) in automaton.edges[at]


def _common(first: str, second: str) -> str | None:
    """A character both labels take, or None."""
    if first in _CLASSES and second in _CLASSES:  # every two classes share a character: name one
        return "0" if _DIGIT in (first, second) else "x"
    if first in _CLASSES:
        return second if _CLASSES[first](second) else None
    if second in _CLASSES:
        return first if _CLASSES[second](first) else None
    return first if first == second else None


def _spell(previous: dict[tuple[int, int], tuple[tuple[int, int], str] | None], state: tuple[int, int]) -> str:
    chars = []
    step = previous[state]
    while step is not None:
        state, char = step
        chars.append(char)
        step = previous[state]
    return "".join(reversed(chars))


def check_manifest_apart(manifest_key: str, profiles: Profiles) -> None:
    """Refuses a ``THUMBS_MANIFEST_KEY`` that can give the key of a thumbnail of any source and profile.

    Every key template in use (THUMBS_KEY_TEMPLATE, or each profile's ``key_template``) is compared with
    the manifest's, once per format it can write (``auto`` resolved for the extensions THUMBS_INCLUDE
    admits).

    Raises:
        ConfigError: naming THUMBS_MANIFEST_KEY, the thumbnail template and an example key both can give.
    """
    extensions = included_extensions(profiles.include)
    manifest = template_automaton(manifest_key, ext=(), extensions=extensions, placeholders=MANIFEST_PLACEHOLDERS)
    formats: dict[str, dict[str, None]] = {}  # key template -> every format written with it
    names: dict[str, str] = {}
    for profile in profiles.profiles:
        formats.setdefault(profile.key_template, {}).update(dict.fromkeys(profile.possible_formats(profiles.include)))
        names.setdefault(profile.key_template, profiles.template_setting(profile))
    for template, written in formats.items():
        every = template_automaton(
            template, ext=tuple(EXTENSIONS[fmt] for fmt in written), extensions=extensions,
            placeholders=KEY_PLACEHOLDERS,
        )  # fmt: skip
        if not _meet(manifest, every):
            continue
        for fmt in written:  # which format's thumbnails, for the message
            thumbnails = template_automaton(
                template, ext=(EXTENSIONS[fmt],), extensions=extensions, placeholders=KEY_PLACEHOLDERS
            )
            example = meeting(manifest, thumbnails)
            if example is not None:
                raise ConfigError(
                    f"THUMBS_MANIFEST_KEY={manifest_key!r} can give the key of a thumbnail: of the {fmt} "
                    f"thumbnails of {names[template]}={template!r} (both can be {example!r}, ignoring case): the "
                    "manifest and the thumbnail would overwrite each other; accepted values: a manifest key with an "
                    "ending no thumbnail key has, e.g. {dir}/{stem}.thumbs.json"
                )
