"""The references in one Terraform expression, as python-hcl2 renders it (tests/terraform.py's reader).

python-hcl2 gives a bare expression as ``${...}`` (``"${google_pubsub_topic.x.id}"``), a quoted string with
its quotes (``'"gs://${google_storage_bucket.x.name}"'``), a heredoc as ``'"<<-EOT\\n...\\nEOT"'`` and a lone
identifier bare (``iterator = it``). Only expression text names things: a template's literal text
(``"resource.type=\\"cloud_run_revision\\""``) does not, and neither does a heredoc's shell text. So this
module lexes templates and expressions the way HCL does -- ``${ }`` and ``%{ }`` open an expression in a
template, a ``"`` opens a template in an expression -- and yields every traversal that starts at a root
identifier: ``google_cloudfunctions2_function.thumbnails["finalized"].service_config[0].uri`` becomes root
``google_cloudfunctions2_function`` and steps ``.thumbnails ["finalized"] .service_config [0] .uri``.

A ``for`` expression's symbols (``[for f in google_cloudfunctions2_function.thumbnails : f.url]``) are
reported with the traversal of the collection they iterate, so that ``f.url`` can be checked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
KEYWORDS = {"for", "in", "if", "else", "endif", "endfor", "true", "false", "null"}


@dataclass(frozen=True)
class Step:
    """One step of a traversal: ``.name`` (``attribute``), ``[literal]`` (``index``), ``[*]``/``.*`` (``splat``),
    or ``[expression]`` (``index`` with ``literal=None``)."""

    kind: str
    name: str = ""
    literal: str | None = None

    def __str__(self) -> str:
        if self.kind == "attribute":
            return f".{self.name}"
        if self.kind == "splat":
            return "[*]"
        return f"[{self.literal}]" if self.literal is not None else "[...]"


@dataclass(frozen=True)
class Traversal:
    """``root`` followed by ``steps``: a reference unless ``root`` is a function, keyword or local symbol."""

    root: str
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return self.root + "".join(str(step) for step in self.steps)


@dataclass
class Expression:
    """What one expression references: its traversals, and each ``for`` symbol -> the collection it iterates."""

    traversals: list[Traversal] = field(default_factory=list)
    for_symbols: dict[str, Traversal | None] = field(default_factory=dict)


@dataclass
class _Token:
    kind: str  # ident, number, string, punct
    text: str
    literal: str | None = None  # a string token's text when it has no interpolation


def references(value: object) -> Expression:
    """Every traversal in ``value`` (a python-hcl2 value: a string, or lists and dicts of them)."""
    found = Expression()
    for text in _strings(value):
        tokens = list(_value_tokens(text))
        found.traversals.extend(_traversals(tokens))
        found.for_symbols.update(_for_symbols(tokens))
    return found


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not str(key).startswith("__"):
                yield str(key)
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _value_tokens(text: str) -> Iterator[_Token]:
    """Tokens of one python-hcl2 value: a quoted template, a heredoc, ``${expression}`` or a bare identifier."""
    if text.startswith('"<<') and text.endswith('"'):
        body = text[1:-1].split("\n", 1)[1] if "\n" in text else ""
        body = body.rsplit("\n", 1)[0]
        yield from _template(body, 0, heredoc=True)[0]
    elif len(text) >= 2 and text[0] == text[-1] == '"':
        yield from _template(text, 1, heredoc=False)[0]
    elif text.startswith("${") and text.endswith("}"):
        yield from _expression(text, 2)[0]
    else:
        yield from _expression(text + "}", 0)[0]


def _template(text: str, start: int, *, heredoc: bool) -> tuple[list[_Token], int]:
    """Tokens of the interpolations of a template from ``start`` up to its closing quote (or the end)."""
    tokens: list[_Token] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and not heredoc:
            i += 2
        elif char == '"' and not heredoc:
            return tokens, i + 1
        elif text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith(("${", "%{"), i):
            inner, i = _expression(text, i + 2)
            tokens.append(_Token("punct", "("))  # an interpolation never continues the text around it
            tokens.extend(inner)
            tokens.append(_Token("punct", ")"))
        else:
            i += 1
    return tokens, i


def _expression(text: str, start: int) -> tuple[list[_Token], int]:
    """Tokens of an expression from ``start`` up to the ``}`` that closes it (or the end of ``text``)."""
    tokens: list[_Token] = []
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == '"':
            inner, end = _template(text, i + 1, heredoc=False)
            literal = None if inner else text[i:end]
            tokens.append(_Token("string", text[i:end], literal))
            tokens.extend(inner)
            i = end
        elif char == "{":
            depth += 1
            tokens.append(_Token("punct", char))
            i += 1
        elif char == "}":
            if depth == 0:
                return tokens, i + 1
            depth -= 1
            tokens.append(_Token("punct", char))
            i += 1
        elif match := IDENT.match(text, i):
            tokens.append(_Token("ident", match.group()))
            i = match.end()
        elif match := NUMBER.match(text, i):
            tokens.append(_Token("number", match.group(), match.group()))
            i = match.end()
        elif text.startswith("::", i):
            tokens.append(_Token("punct", "::"))
            i += 2
        else:
            tokens.append(_Token("punct", char))
            i += 1
    return tokens, i


def _traversals(tokens: list[_Token]) -> Iterator[Traversal]:
    """Every traversal whose root is an identifier that is not a step, a function name or a keyword."""
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text in KEYWORDS:
            continue
        before = tokens[index - 1] if index else None
        if before is not None and before.kind == "punct" and before.text in {".", "::"}:
            continue  # a step of a longer traversal, or provider::name::function
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if after is not None and after.kind == "punct" and after.text in {"(", "::"}:
            continue  # a function call
        yield Traversal(token.text, tuple(_steps(tokens, index + 1)[0]))


def _steps(tokens: list[_Token], i: int) -> tuple[list[Step], int]:
    """The steps that follow a root at ``tokens[i]``, and the index of the first token after them."""
    steps: list[Step] = []
    while i + 1 < len(tokens):
        token, following = tokens[i], tokens[i + 1]
        if token.kind == "punct" and token.text == ".":
            if following.kind == "ident":
                steps.append(Step("attribute", following.text))
            elif following.text == "*":
                steps.append(Step("splat"))
            elif following.kind == "number":
                steps.append(Step("index", literal=following.text))  # legacy index syntax: list.0
            else:
                break
            i += 2
        elif token.kind == "punct" and token.text == "[":
            end = _closing_bracket(tokens, i)
            inside = tokens[i + 1 : end]
            if len(inside) == 1 and inside[0].text == "*":
                steps.append(Step("splat"))
            elif len(inside) == 1 and inside[0].literal is not None:
                steps.append(Step("index", literal=inside[0].literal))
            else:
                steps.append(Step("index"))
            i = end + 1
        else:
            break
    return steps, i


def _closing_bracket(tokens: list[_Token], start: int) -> int:
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].kind == "punct" and tokens[i].text in "[(":
            depth += 1
        elif tokens[i].kind == "punct" and tokens[i].text in "])":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens)


def _for_symbols(tokens: list[_Token]) -> Iterator[tuple[str, Traversal | None]]:
    """``symbol -> the traversal it iterates`` for each ``for a, b in <traversal> :`` (None when not one)."""
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "for":
            continue
        names: list[str] = []
        i = index + 1
        while i < len(tokens) and tokens[i].text != "in":
            if tokens[i].kind == "ident":
                names.append(tokens[i].text)
            i += 1
        end = i + 1
        while end < len(tokens) and tokens[end].text != ":":
            end += 1
        collection = tokens[i + 1 : end]
        iterated = None
        if collection and collection[0].kind == "ident":
            steps, after = _steps(collection, 1)
            if after >= len(collection):  # the whole collection is one traversal, not `x ? y : z` or a call
                iterated = Traversal(collection[0].text, tuple(steps))
        for position, name in enumerate(names):
            # The last symbol is the element; a first one of two is the key or index.
            yield name, iterated if position == len(names) - 1 else None
