"""Requested paths read back to their sources (core/serve_paths.py): for every template the configuration and the
serve function accept, and any source key, each output key finds its source (parse(render(x)) holds x), every
candidate found renders that key, and templates that cannot be read back are refused at start by name."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.config import Config, load_config
from core.errors import ConfigError, InvalidKey
from core.keys import fill_template
from core.serve_paths import MAX_SOURCES, Lookup, ReverseIndex

#: Name parts of key templates after ``{dir}/``: exact ones, ones without the source's extension (a listing),
#: and ones that can split a key several ways.
NAME_PARTS = (
    "{stem}-{size}", "{stem}-{width}x{height}", "{stem}_{width}w{height}h", "{name}-{size}", "{name}/{width}x{height}",
    "{stem}.{srcext}-{size}", "{size}/{stem}", "{stem}/{size}", "{stem}-{srcext}-{size}", "{stem}{size}",
    "{width}/{name}-{height}", "{stem}.{srcext}/{dir}-{size}",
)  # fmt: skip
BOXES = ("64x64", "128x96", "4x64", "14x4", "1x1", "11x1", "16x9")
SEGMENT = st.text(alphabet="ab-._x19 éZ", min_size=1, max_size=8)
EXTENSIONS = ("jpg", "JPG", "jpeg", "png", "gif", "webp", "txt", "", "x1")


@st.composite
def configs(draw: st.DrawFn) -> Config:
    prefix = draw(st.sampled_from(["", "thumbs/", "t/x/", "/"]))
    middle = draw(st.sampled_from(["", "s/", "_t/"]))
    ending = draw(st.sampled_from([".{ext}", "-{ext}", ".{ext}.bin"]))
    template = f"{prefix}{{dir}}/{middle}{draw(st.sampled_from(NAME_PARTS))}{ending}"
    sizes = draw(st.lists(st.sampled_from(BOXES), min_size=1, max_size=3, unique=True))
    environ = {"THUMBS_KEY_TEMPLATE": template, "THUMBS_SIZES": ",".join(sizes),
               "THUMBS_FORMAT": draw(st.sampled_from(["auto", "webp", "png"]))}  # fmt: skip
    if draw(st.booleans()):
        environ["THUMBS_INCLUDE"] = "*"  # any extension, none too: the extension sets are unbounded
    if draw(st.booleans()):
        environ["THUMBS_MANIFEST"] = "true"
    try:
        return load_config(environ)
    except ConfigError:
        assume(False)
        raise


@st.composite
def source_keys(draw: st.DrawFn) -> str:
    folders = draw(st.lists(SEGMENT, max_size=3))
    stem = draw(SEGMENT)
    extension = draw(st.sampled_from(EXTENSIONS))
    return "/".join([*folders, f"{stem}.{extension}" if extension else stem])


def finds(lookup: Lookup, source: str) -> bool:
    """Whether the serve function finds ``source`` for ``lookup``: an exact candidate, or under a listed prefix."""
    return source in lookup.sources or any(source.startswith(prefix) for prefix in lookup.listings)


def index_of(config: Config) -> ReverseIndex:
    return ReverseIndex(config.profiles, manifest_key=config.manifest_key if config.manifest else None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(config=configs(), source=source_keys())
def test_every_output_key_reads_back_to_its_source(config: Config, source: str) -> None:
    try:
        outputs = config.profiles.outputs_for(source)
    except InvalidKey:  # a '.' or '..' segment in an output key: refused on upload too
        assume(False)
        raise
    assume(outputs)
    index = index_of(config)
    keys = [output.key for output in outputs]
    if config.manifest:
        keys.append(fill_template(config.manifest_key, source))
    for key in keys:
        lookup = index.lookup(key)
        assert finds(lookup, source), (config.key_template, source, key, lookup)
        assert all(index.renders(key, candidate) for candidate in lookup.sources)
        assert index.renders(key, source)
        if "{name}" in config.key_template and key in {output.key for output in outputs}:
            assert lookup.sources[:1] == (source,) and not lookup.listings


@settings(max_examples=300, deadline=None)
@given(key=st.text(alphabet="ab-._x19/ 6é", min_size=1, max_size=60))
def test_no_candidate_is_ever_wrong(key: str) -> None:
    """Whatever the path, every exact candidate renders exactly that key (a path never maps to a wrong source)."""
    templates = ("{dir}/{stem}-{srcext}-{size}.{ext}", "{dir}/{name}/{width}x{height}.{ext}", "{dir}/{stem}{size}.png")
    for template in templates:
        config = load_config({"THUMBS_KEY_TEMPLATE": template, "THUMBS_SIZES": "1x1,11x1,64x64", "THUMBS_INCLUDE": "*"})
        index = index_of(config)
        lookup = index.lookup(key)
        assert len(lookup.sources) <= MAX_SOURCES
        for candidate in lookup.sources:
            assert key in {output.key for output in config.profiles.outputs_for(candidate)}


def test_the_default_template_lists_the_sources_of_one_stem() -> None:
    index = index_of(load_config({"THUMBS_SIZES": "64x64,128x96", "THUMBS_MANIFEST": "true"}))
    assert index.lookup("a/b/cat-64x64.jpg") == Lookup("a/b/cat-64x64.jpg", (), ("a/b/cat.",))
    assert index.lookup("cat-128x96.png") == Lookup("cat-128x96.png", (), ("cat.",))
    assert index.lookup("a/cat.jpg.thumbs.json") == Lookup("a/cat.jpg.thumbs.json", ("a/cat.jpg",), ())
    for key in ("a/cat-65x64.jpg", "a/cat-64x64.gif", "a//cat-64x64.jpg", "/a/cat-64x64.jpg", "a/cat.jpg", ""):
        assert not index.lookup(key), key  # no such size or format, an empty segment, an original


def test_a_split_several_ways_gives_every_source_in_a_fixed_order() -> None:
    config = load_config({"THUMBS_KEY_TEMPLATE": "{dir}/{stem}-{srcext}-{size}.{ext}", "THUMBS_SIZES": "64x64",
                          "THUMBS_INCLUDE": "*", "THUMBS_FORMAT": "png"})  # fmt: skip
    lookup = index_of(config).lookup("d/a-b-c-64x64.png")
    assert lookup.sources == ("d/a.b-c", "d/a-b.c")  # each placeholder shortest first: the stem first


def test_a_profile_that_would_not_take_the_source_is_no_candidate() -> None:
    rest = {"match": ["*"], "sizes": ["512x512"], "key_template": "{dir}/{name}-{size}.{ext}"}
    profiles = {"profiles": {"avatars": {"match": ["avatars/*"], "sizes": ["64x64"]}, "rest": rest}}
    index = index_of(load_config({"THUMBS_PROFILES": json.dumps(profiles)}))
    assert index.lookup("avatars/ada-64x64.jpg").listings == ("avatars/ada.",)
    assert not index.lookup("photos/ada-64x64.jpg").sources  # avatars' size, but photos/ is not an avatar
    assert index.lookup("photos/ada.jpg-512x512.jpg").sources == ("photos/ada.jpg",)
    assert not index.lookup("avatars/ada.jpg-512x512.jpg")  # the avatars profile takes it, not "rest"


def test_a_long_pathological_key_is_read_in_bounded_time() -> None:
    config = load_config({"THUMBS_KEY_TEMPLATE": "{dir}/{stem}{size}.{ext}", "THUMBS_SIZES": "1x1,11x1,111x1",
                          "THUMBS_INCLUDE": "*"})  # fmt: skip
    index = index_of(config)
    started = time.perf_counter()
    for key in ("1" * 1000 + "1x1.png", "/".join(["a"] * 500) + "11x1.png", "x" * 1024):
        index.lookup(key)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("environ", "named", "why"),
    [
        ({"THUMBS_KEY_TEMPLATE": "thumbs/{stem}-{size}.{ext}"}, "THUMBS_KEY_TEMPLATE", "has no {dir}"),
        ({"THUMBS_KEY_TEMPLATE": "{dir}-{stem}-{size}.{ext}"}, "THUMBS_KEY_TEMPLATE", "no {dir} followed by '/'"),
        ({"THUMBS_KEY_TEMPLATE": "{dir}/{size}/{srcext}.{ext}"}, "THUMBS_KEY_TEMPLATE", "neither {stem} nor {name}"),
        ({"THUMBS_PROFILES": json.dumps({"profiles": {"flat": {"match": ["*"], "key_template": "{name}-{size}"}}})},
         "profile 'flat''s key_template", "has no {dir}"),
        ({"THUMBS_MANIFEST": "true", "THUMBS_MANIFEST_KEY": "m/{name}.json"}, "THUMBS_MANIFEST_KEY", "has no {dir}"),
    ],
)  # fmt: skip
def test_a_template_no_path_can_be_read_back_through_is_refused_at_start(
    environ: dict[str, str], named: str, why: str
) -> None:
    config = load_config(environ)  # fine for the upload function
    with pytest.raises(ConfigError) as caught:
        index_of(config)
    assert named in str(caught.value) and why in str(caught.value)
