"""Hypothesis strategies for hostile event envelopes: real vendor payloads, mutated.

:func:`mutated` starts from a real payload (``tests/providers/<cloud>/events``) and applies a few random edits:
replace a value with arbitrary JSON, delete or add a field, change a value's type, wrap it in a list
or an object, or mangle a string (percent-escapes, ``+``, NUL, lone surrogates, bidi marks,
combining characters, very long text). A string that itself holds JSON (an SQS body, an SNS
``Message``) is sometimes decoded, mutated and encoded again, so the edits reach the inner document.

Also what the parser properties of every provider share (``tests/providers/<cloud>/test_hostile_envelopes.py``):
the hypothesis settings, an in-memory function runtime, :func:`assert_parsed_soundly`, and the test of the
pinned hostile fields (:func:`malformed_cases_test`).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from core.errors import MalformedEvent
from core.events import ObjectEvent
from core.runtime import FunctionRuntime
from core.storage.memory import MemoryStorage
from core.storage.validation import check_key

PROVIDER_TESTS = Path(__file__).resolve().parents[1] / "providers"

#: Strings that have broken parsers before (encodings, separators, control and bidi characters, digits
#: that are not ASCII, numbers too long for int()).
NASTY_STRINGS = [
    "", " ", "%", "%Z", "%ZZ", "%C3%28", "%00", "a%00b", "%2e%2e%2f", "%2F", "../", "..", ".", "/", "//",
    "+", "%2B", "a+b", "%FF%FE", "\x00", "a\x00b", "\ud800", "\udfff", "a\udcffb", "\u202e", "é", "e\u0301",
    "\t", "\r\n", "\x1b[31m", "x" * 1100, "é" * 600, "²", "٣", "１２", "1e400", "-1", "NaN", "null", "true",
    "9" * 5000, "/blobServices/default/containers/", "/blobServices/default/containers/c/blobs/",
    "/blobServices/default/containers//blobs/x", "//storage.googleapis.com/projects/_/buckets/", "objects/",
    "projects/_/buckets//objects/x", "[" * 5000, '{"a":' * 3000,
]  # fmt: skip

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(NASTY_STRINGS)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=10,
)


def load(cloud: str, name: str) -> Any:
    """A vendor payload from ``tests/providers/<cloud>/events`` (UTF-8, with or without a BOM)."""
    return json.loads((PROVIDER_TESTS / cloud / "events" / name).read_text(encoding="utf-8-sig"))


def samples(cloud: str) -> list[str]:
    """Names of every JSON payload of ``cloud``."""
    return sorted(path.name for path in (PROVIDER_TESTS / cloud / "events").glob("*.json"))


@st.composite
def mangled_string(draw: st.DrawFn, original: str) -> str:
    """``original`` edited the way a hostile or buggy sender would."""
    nasty = draw(st.sampled_from(NASTY_STRINGS) | st.text(max_size=20))
    how = draw(st.sampled_from(["append", "prefix", "replace", "quote", "quote_plus", "double", "insert", "cut"]))
    if how == "append":
        return original + nasty
    if how == "prefix":
        return nasty + original
    if how == "replace":
        return nasty
    # surrogatepass: a lone surrogate is percent-encoded as its (invalid) UTF-8 bytes, as a buggy sender would.
    if how == "quote":
        return quote(original, safe=draw(st.sampled_from(["", "/", "/+"])), errors="surrogatepass")
    if how == "quote_plus":
        return quote_plus(original, errors="surrogatepass")
    if how == "double":
        return quote(quote(original, safe="", errors="surrogatepass"), safe="")
    if how == "insert":
        at = draw(st.integers(0, len(original)))
        return original[:at] + nasty + original[at:]
    return original[: draw(st.integers(0, len(original)))]


def _slots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON document (the root is ``()``)."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _slots(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _slots(child, (*path, index))


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


def _embedded_json(value: Any) -> Any | None:
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return None


@st.composite
def mutated(draw: st.DrawFn, base: Any, *, max_edits: int = 5) -> Any:
    """``base`` with 1..``max_edits`` random edits (see the module docstring)."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_edits))):
        path = draw(st.sampled_from(list(_slots(document))))
        current = _get(document, path)
        inner = _embedded_json(current)
        if inner is not None and draw(st.booleans()):
            document = _set(document, path, json.dumps(draw(mutated(inner, max_edits=3))))
            continue
        how = draw(st.sampled_from(["replace", "delete", "retype", "wrap", "add", "string"]))
        if how == "replace":
            document = _set(document, path, draw(json_values))
        elif how == "delete" and path and isinstance(_get(document, path[:-1]), dict):
            del _get(document, path[:-1])[path[-1]]
        elif how == "retype":
            document = _set(document, path, _retyped(current, draw))
        elif how == "wrap":
            document = _set(document, path, draw(st.sampled_from([[current], {"x": current}, [current, current]])))
        elif how == "add" and isinstance(current, dict):
            current[draw(st.text(max_size=12))] = draw(json_values)
        elif isinstance(current, str):
            document = _set(document, path, draw(mangled_string(current)))
    return document


def _retyped(value: Any, draw: st.DrawFn) -> Any:
    if isinstance(value, str):
        return draw(st.sampled_from([len(value), float(len(value)), [value], {"value": value}, None, True]))
    if isinstance(value, bool | int | float):
        return draw(st.sampled_from([str(value), [value], None, f"{value}x"]))
    if isinstance(value, list | dict):
        return draw(st.sampled_from([json.dumps(value), str(value), None, 0]))
    return draw(json_scalars)


def strings_in(value: Any) -> set[str]:
    """Every string in a document, recursively, including inside JSON held in strings."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
            inner = _embedded_json(item)
            if inner is not None:
                stack.append(inner)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def form_decoded(strings: set[str]) -> set[str]:
    """The strings of :func:`strings_in` as S3 notification keys decode (``+`` and ``%XX``)."""
    decoded = set()
    for text in strings:
        try:
            decoded.add(unquote_plus(text, errors="strict"))
        except UnicodeDecodeError:
            continue
    return decoded


# -- what the parser properties of every provider share ---------------------------------------

HYPOTHESIS = settings(
    # 100 per property in the default run; POLYTHUMB_HYPOTHESIS_EXAMPLES=5000 for a deep run.
    max_examples=int(os.environ.get("POLYTHUMB_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def memory_runtime() -> FunctionRuntime:
    """A function instance over in-memory buckets (every source is missing: no image work)."""
    stores: dict[str, MemoryStorage] = {}
    return FunctionRuntime(
        lambda name: stores.setdefault(name, MemoryStorage(name)), environ={"THUMBS_DEST_BUCKET": "t"}
    )


def assert_sound(event: ObjectEvent, envelope: Any, keys_from: Callable[[set[str]], Iterable[str]]) -> None:
    """The bucket and key of ``event`` come from ``envelope`` and are names storage can be asked for."""
    strings = strings_in(envelope)
    # The bucket is a field of the envelope, or a whole path segment of one (a subject, a source, a resource).
    named = event.bucket in strings or any(f"/{event.bucket}/" in f"/{text}/" for text in strings)
    assert named, f"bucket {event.bucket!r} is not in the envelope"
    assert event.bucket.isprintable() and "/" not in event.bucket, f"bucket {event.bucket!r} is not a bucket name"
    check_key(event.key)  # InvalidKey (a test failure) for NUL, > 1024 bytes, lone surrogates
    assert event.key in set(keys_from(strings)), f"key {event.key!r} does not come from the envelope"


def assert_parsed_soundly(
    parse: Callable[[], Any], envelope: Any, keys_from: Callable[[set[str]], Iterable[str]]
) -> None:
    """``parse()`` raises :class:`MalformedEvent`, or each :class:`ObjectEvent` it returns (alone or in a
    sequence, among ignored notifications) is sound (:func:`assert_sound`)."""
    try:
        parsed = parse()
    except MalformedEvent:
        return
    for item in parsed if isinstance(parsed, Iterable) else [parsed]:
        if isinstance(item, ObjectEvent):
            assert_sound(item, envelope, keys_from)


def as_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def encodings(payload: Any) -> st.SearchStrategy[Any]:
    """The payload as decoded JSON, as text, and as bytes (lone surrogates passed through as bytes)."""
    text = as_text(payload)
    return st.sampled_from([payload, text, text.encode("utf-8", "surrogatepass")])


#: JSON nested far deeper than any parser's recursion limit.
DEEP = "[" * 100_000


def malformed_cases_test(cases: Mapping[str, Callable[[], Any]]) -> Callable[[str], None]:
    """The test that each of a provider's pinned hostile ``cases`` is refused as a :class:`MalformedEvent`.

    A provider's test module binds it to a ``test_...`` name, which is what pytest collects it by.
    """

    @pytest.mark.parametrize("case", sorted(cases))
    def test(case: str) -> None:
        """Each was a crash (RecursionError, ValueError) or a key/bucket no store can hold before the fix."""
        with pytest.raises(MalformedEvent):
            cases[case]()

    return test
