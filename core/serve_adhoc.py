"""Signed ad-hoc outputs: a size, fit and format outside the profiles, only through a signed URL.

A request ``GET /<source key>?w=300&h=200&fit=cover&fmt=webp&q=80&exp=...&kid=...&sig=...`` asks for one
output of the source at that path (:mod:`core.serve_signing` checks the signature). It is stored under the
destination in a key space of its own::

    THUMBS_SERVE_ADHOC_PREFIX + <source key> + "/" + <W>x<H>-<fit>[-q<quality>].<ext>

with the same provenance metadata as a profile's thumbnail (so the loop guard and the ownership rule hold for
it), rendered by the same pipeline (:meth:`core.pipeline.Thumbnailer.handle` with these outputs), and
removed with its source (a delete lists ``PREFIX + <source key> + "/"``). The key holds every parameter
that changes the bytes and none of ``exp``, ``kid`` or ``sig``, so every URL signed for one output shares it.

At start, a prefix whose keys a thumbnail template (any profile's) or the manifest template could also give
is refused (:func:`check_adhoc_settings`, read with the automata of :mod:`core.overlap`): an ad-hoc output
and a profile's thumbnail never share a key.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import ConfigError, InvalidKey
from core.imaging.types import EXTENSIONS, FORMATS, MAX_ENCODED_EDGE, Box, Fit
from core.keys import RenderSpec, check_rendered_key
from core.overlap import ANY, DIGIT, Automaton, meeting, template_automaton, thumbnail_meeting
from core.profiles import AUTO_FALLBACK_FORMAT, AUTO_FORMATS, Output, Profiles, included_extensions
from core.serve_signing import KEY_ID, SIGNATURE, SigningKey
from core.storage.validation import check_key
from core.syntax import MANIFEST_PLACEHOLDERS

#: The parameters that say which output (``w`` and ``h`` required) and those that sign it.
OUTPUT_PARAMS = ("w", "h", "fit", "fmt", "q")
SIGNING_PARAMS = ("exp", "kid", "sig")
PARAMS = (*OUTPUT_PARAMS, *SIGNING_PARAMS)
#: The profile name an ad-hoc output carries (informational: it is in no digest).
ADHOC_PROFILE = "adhoc"
_VALUE = {
    "w": re.compile(r"[1-9][0-9]{0,5}"),
    "h": re.compile(r"[1-9][0-9]{0,5}"),
    "fit": re.compile("|".join(str(fit) for fit in Fit)),
    "fmt": re.compile("|".join(("auto", *FORMATS))),
    "q": re.compile(r"[1-9][0-9]?|100"),
    "exp": re.compile(r"[0-9]{1,12}"),
    "kid": KEY_ID,
    "sig": SIGNATURE,
}


class AdhocRefused(Exception):
    """A signed ad-hoc request refused before any storage request; ``reason`` is logged, never the query."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class AdhocSpec:
    """What a signed request asks for (``format`` may be ``auto``: resolved from the source's extension)."""

    box: Box
    fit: Fit
    format: str
    quality: int | None


def is_adhoc(names: Iterable[str]) -> bool:
    """Whether a query naming ``names`` asks for an ad-hoc output (any of its parameters is there)."""
    return any(name in PARAMS for name in names)


def read_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The query's parameters, each known, given once and well-formed.

    Raises:
        AdhocRefused: ``bad_parameter``, or ``unsigned`` when ``sig``, ``kid`` or ``exp`` is missing.
    """
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _VALUE:
            raise AdhocRefused("bad_parameter", f"unknown parameter {name[:40]!r}; accepted: {', '.join(PARAMS)}")
        if name in params:
            raise AdhocRefused("bad_parameter", f"parameter {name!r} is given twice")
        if not _VALUE[name].fullmatch(value):
            raise AdhocRefused("bad_parameter", f"parameter {name!r} is not valid")
        params[name] = value
    missing = [name for name in SIGNING_PARAMS if name not in params]
    if missing:
        raise AdhocRefused("unsigned", f"an ad-hoc output needs a signed URL (missing {', '.join(missing)})")
    if "w" not in params or "h" not in params:
        raise AdhocRefused("bad_parameter", "an ad-hoc output needs both w and h")
    return params


def spec_of(params: dict[str, str], *, max_edge: int, max_pixels: int) -> AdhocSpec:
    """The output ``params`` ask for, within the limits.

    Raises:
        AdhocRefused: ``over_limit`` (an edge over THUMBS_SERVE_ADHOC_MAX_EDGE, or more pixels than
            THUMBS_MAX_PIXELS).
    """
    box = Box(int(params["w"]), int(params["h"]))
    if max(box.width, box.height) > max_edge:
        raise AdhocRefused("over_limit", f"{box} has an edge over THUMBS_SERVE_ADHOC_MAX_EDGE={max_edge}")
    if box.width * box.height > max_pixels:
        raise AdhocRefused("over_limit", f"{box} has more pixels than THUMBS_MAX_PIXELS={max_pixels}")
    quality = int(params["q"]) if "q" in params else None
    return AdhocSpec(box, Fit(params.get("fit", str(Fit.CONTAIN))), params.get("fmt", "auto"), quality)


def resolve_format(fmt: str, source_key: str) -> str:
    """``fmt``, with ``auto`` picked from the source key's extension as a profile's ``auto`` is (for a still)."""
    if fmt != "auto":
        return fmt
    extension = posixpath.splitext(source_key)[1].lstrip(".").lower()
    return AUTO_FORMATS.get(extension, AUTO_FALLBACK_FORMAT)


def adhoc_key(prefix: str, source_key: str, *, box: Box, fit: Fit, fmt: str, quality: int | None) -> str:
    """Where the ad-hoc output of ``source_key`` in ``box`` (``fit``, concrete ``fmt``, ``quality``) is stored."""
    suffix = f"-q{quality}" if quality is not None else ""
    return f"{prefix}{source_key}/{box}-{fit}{suffix}.{EXTENSIONS[fmt]}"


def adhoc_prefix(prefix: str, source_key: str) -> str:
    """The key prefix every ad-hoc output of ``source_key`` starts with (a delete lists it)."""
    return f"{prefix}{source_key}/"


def adhoc_output(prefix: str, source_key: str, spec: AdhocSpec, *, strip_metadata: bool) -> Output:
    """The one output a signed request asks of ``source_key``.

    Raises:
        AdhocRefused: ``over_limit`` (an edge the format cannot encode), ``too_long`` (no store takes the key).
    """
    fmt = resolve_format(spec.format, source_key)
    limit = MAX_ENCODED_EDGE[fmt]
    if max(spec.box.width, spec.box.height) > limit:
        raise AdhocRefused("over_limit", f"{spec.box} is larger than {fmt} can encode ({limit} px a side)")
    key = adhoc_key(prefix, source_key, box=spec.box, fit=spec.fit, fmt=fmt, quality=spec.quality)
    try:
        check_key(check_rendered_key(key, source_key))
    except InvalidKey as exc:
        raise AdhocRefused("too_long", str(exc)) from None
    render = RenderSpec(fmt, spec.quality, spec.fit, strip_metadata, "first")
    return Output(key=key, box=spec.box, spec=render, profile=ADHOC_PROFILE)


def adhoc_automaton(prefix: str) -> Automaton:
    """Every key :func:`adhoc_key` can give under ``prefix`` (over-approximated as :mod:`core.overlap` says)."""
    automaton = Automaton()
    at = automaton.text(0, prefix)
    at = automaton.repeat(at, ANY, at_least_once=True)  # the source key
    at = automaton.text(at, "/")
    at = automaton.repeat(at, DIGIT, at_least_once=True)
    at = automaton.text(at, "x")
    at = automaton.repeat(at, DIGIT, at_least_once=True)
    at = automaton.text(at, "-")
    fitted = automaton.one_of(at, [str(fit) for fit in Fit])
    quality = automaton.repeat(automaton.text(fitted, "-q"), DIGIT, at_least_once=True)
    automaton.bypass(fitted, quality)
    at = automaton.text(quality, ".")
    automaton.end = automaton.one_of(at, sorted(set(EXTENSIONS.values())))
    return automaton


def check_adhoc_settings(
    *, keys: tuple[SigningKey, ...], prefix: str, profiles: Profiles, manifest_key: str | None
) -> None:
    """With THUMBS_SERVE_ADHOC on: keys to verify with, and a key space no thumbnail or manifest can have.

    Raises:
        ConfigError: naming THUMBS_SERVE_KEYS, or THUMBS_SERVE_ADHOC_PREFIX with a key both could be.
    """
    if not keys:
        raise ConfigError(
            "THUMBS_SERVE_ADHOC=true needs THUMBS_SERVE_KEYS (the keys signed ad-hoc URLs are verified with); "
            "set THUMBS_SERVE_KEYS=kid:secret, or THUMBS_SERVE_ADHOC=false"
        )
    adhoc = adhoc_automaton(prefix)
    fix = "accepted values: a prefix (or key templates) whose keys the other cannot give"
    met = thumbnail_meeting(adhoc, profiles)
    if met is not None:
        setting, template, fmt, example = met
        raise ConfigError(
            f"THUMBS_SERVE_ADHOC_PREFIX={prefix!r}: an ad-hoc output could get the key of one of the {fmt} "
            f"thumbnails of {setting}={template!r} (both can be {example!r}, ignoring case), and the two would "
            f"overwrite each other; {fix}"
        )
    if manifest_key is not None:
        manifests = template_automaton(
            manifest_key, ext=(), extensions=included_extensions(profiles.include), placeholders=MANIFEST_PLACEHOLDERS
        )
        found = meeting(adhoc, manifests)
        if found is not None:
            raise ConfigError(
                f"THUMBS_SERVE_ADHOC_PREFIX={prefix!r}: an ad-hoc output could get the key of a manifest "
                f"(THUMBS_MANIFEST_KEY={manifest_key!r}; both can be {found!r}); {fix}"
            )
