"""Settings that could only fail image by image (or silently) are refused at start, naming the setting.

Key templates (format specs, conversions, attribute access, dot and empty segments), the number of sizes
and outputs, edges a format cannot encode, duplicate names in a JSON profiles document, a manifest key
that can be a thumbnail's, and the imaging engine (THUMBS_ENGINE, and its deprecated alias).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from core import config as config_module
from core.config import load_config
from core.errors import ConfigError
from core.events import ObjectEvent
from core.imaging import engine as engines
from core.imaging.types import Box
from core.keys import render_key
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.storage import MemoryStorage
from tests.images import jpeg_bytes

TEMPLATE_SETTINGS = ("THUMBS_KEY_TEMPLATE", "THUMBS_MANIFEST_KEY")


def refused(settings: dict[str, str], *named: str) -> str:
    """The ConfigError message of ``settings``, checked to name every one of ``named``."""
    with pytest.raises(ConfigError) as caught:
        load_config(settings)
    message = str(caught.value)
    for name in named:
        assert name in message, message
    return message


def profiles(**profile: Any) -> str:
    return json.dumps({"profiles": {"p": {"match": "*", **profile}}})


# -- key templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["{stem:>2000000000}", "{ext:.0}", "{stem!r}", "{name!s:>4}", "{stem:{width}}", "{stem.__class__}", "{srcext[0]}"],
)
@pytest.mark.parametrize("setting", TEMPLATE_SETTINGS)
def test_a_template_field_that_is_not_a_plain_placeholder_is_refused(setting: str, field: str) -> None:
    # {stem:>2000000000} made load_config raise MemoryError rendering its samples; the others were accepted.
    template = f"{{dir}}/{field}-{{size}}.{{ext}}" if setting == "THUMBS_KEY_TEMPLATE" else f"{{dir}}/{field}.json"
    started = time.perf_counter()
    refused({setting: template, "THUMBS_MANIFEST": "true"}, setting)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("template", "says"),
    [("{dir}/../x/{stem}-{size}.{ext}", "'..' segment"), ("./{stem}-{size}.{ext}", "'.' segment"),
     ("{dir}/./{stem}-{size}.{ext}", "'.' segment"), ("thumbs//../{stem}-{size}.{ext}", "'..' segment"),
     ("..", "'..' segment"), ("{dir}/{stem}-{size}.{ext}/", "trailing '/'")],
)  # fmt: skip
def test_a_key_template_with_a_dot_segment_or_a_trailing_slash_is_refused(template: str, says: str) -> None:
    refused({"THUMBS_KEY_TEMPLATE": template}, "THUMBS_KEY_TEMPLATE", says)


@pytest.mark.parametrize("template", ["{dir}/../{stem}.json", "./{stem}.json", "{dir}/{stem}/"])
def test_a_manifest_key_with_a_dot_segment_or_a_trailing_slash_is_refused(template: str) -> None:
    refused({"THUMBS_MANIFEST_KEY": template}, "THUMBS_MANIFEST_KEY")


@pytest.mark.parametrize("template", ["{dir}/../{stem}-{size}.{ext}", "{stem!r}-{size}.{ext}", "a/./{stem}-{size}"])
def test_a_profile_key_template_is_checked_the_same_way(template: str) -> None:
    refused({"THUMBS_PROFILES": profiles(key_template=template)}, "THUMBS_PROFILES", "field 'key_template'")


def test_empty_segments_are_normalised_as_they_always_were_and_names_with_dots_are_names() -> None:
    """A run of '/' renders as one and a leading '/' goes: no key has an empty segment (nothing to refuse)."""
    config = load_config({"THUMBS_KEY_TEMPLATE": "/thumbs//{dir}/..{stem}.-{size}.{ext}"})
    assert render_key(config.key_template, "a/b.jpg", Box(8, 8), "jpeg") == "thumbs/a/..b.-8x8.jpg"
    # An empty {dir} leaves no '//'.
    assert render_key(config.key_template, "b.jpg", Box(8, 8), "jpeg") == "thumbs/..b.-8x8.jpg"


def test_a_template_longer_than_any_portable_key_is_refused() -> None:
    refused({"THUMBS_KEY_TEMPLATE": "t" * 1100 + "{stem}-{size}.{ext}"}, "THUMBS_KEY_TEMPLATE", "1024")


# -- sizes and outputs --------------------------------------------------------------------------------


def test_twenty_thousand_sizes_are_refused_at_once() -> None:
    sizes = ",".join(f"{1 + i % 4000}x{1 + i // 4000}" for i in range(20_000))
    started = time.perf_counter()
    message = refused({"THUMBS_SIZES": sizes}, "THUMBS_SIZES", "20,000 sizes", "64")
    assert time.perf_counter() - started < 0.5  # it took 30 s to validate
    assert len(message) < 1000  # the value is not echoed whole


def test_sixty_four_sizes_are_accepted_and_a_huge_number_is_not_a_crash() -> None:
    assert len(load_config({"THUMBS_SIZES": ",".join(str(n) for n in range(1, 65))}).boxes) == 64
    refused({"THUMBS_SIZES": "1" * 5000}, "THUMBS_SIZES", "is not a box")  # int() of 5000 digits raised ValueError


def test_a_profile_with_too_many_sizes_or_outputs_is_refused() -> None:
    many = [f"{n}x{n}" for n in range(1, 66)]
    refused({"THUMBS_PROFILES": profiles(sizes=many)}, "profile 'p', field 'sizes'", "65 sizes")
    sixty = [f"{n}x{n}" for n in range(1, 61)]
    message = refused({"THUMBS_PROFILES": profiles(sizes=sixty, formats=["webp", "jpeg", "avif"])}, "THUMBS_PROFILES")
    assert "180 outputs" in message and "128" in message
    assert len(load_config({"THUMBS_PROFILES": profiles(sizes=sixty, formats=["webp", "jpeg"])}).profiles.profiles) == 1


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"THUMBS_SIZES": "16384", "THUMBS_FORMAT": "webp"}, ("THUMBS_SIZES", "THUMBS_FORMAT", "webp", "16383")),
        ({"THUMBS_SIZES": "100x16384", "THUMBS_FORMAT": "auto"}, ("THUMBS_SIZES", "auto writes webp", ".heic")),
        ({"THUMBS_PROFILES": profiles(sizes=["16384x16"], formats=["webp"])}, ("field 'sizes'", "webp")),
        ({"THUMBS_PROFILES": profiles(sizes=["16384"], formats=["auto"], animated="keep", match="*.gif")},
         ("field 'sizes'", "auto writes webp", ".gif")),
    ],
)  # fmt: skip
def test_an_edge_a_written_format_cannot_encode_is_refused_at_start(
    settings: dict[str, str], named: tuple[str, ...]
) -> None:
    refused(settings, *named)


def test_the_largest_edge_passes_where_the_formats_take_it() -> None:
    assert load_config({"THUMBS_SIZES": "16384", "THUMBS_FORMAT": "jpeg"}).boxes == (Box(16384, 16384),)
    assert load_config({"THUMBS_SIZES": "16383", "THUMBS_FORMAT": "webp"}).boxes == (Box(16383, 16383),)
    # auto writes webp only for .webp, .heic and .heif sources (and .gif/.webp when animated): none included.
    assert load_config({"THUMBS_SIZES": "16384", "THUMBS_INCLUDE": "*.jpg,*.png,*.tif"}).boxes
    assert load_config({"THUMBS_PROFILES": profiles(sizes=["16384"], formats=["avif", "png"])}).profiles.named


def test_the_webp_limit_is_the_encoders() -> None:
    """The limit the check applies is the one Pillow's WebP encoder has (its error blamed the image)."""
    import io

    from PIL import Image

    from core.imaging.types import MAX_ENCODED_EDGE

    limit = MAX_ENCODED_EDGE["webp"]
    Image.new("RGB", (limit, 1)).save(io.BytesIO(), "WEBP")
    with pytest.raises(ValueError, match="WebP"):
        Image.new("RGB", (limit + 1, 1)).save(io.BytesIO(), "WEBP")


# -- profiles documents ----------------------------------------------------------------------------------


def test_a_profile_named_twice_in_json_is_refused(tmp_path: Path) -> None:
    document = '{"profiles": {"a": {"match": "x/*"}, "b": {"match": "y/*"}, "a": {"match": "*"}}}'
    refused({"THUMBS_PROFILES": document}, "THUMBS_PROFILES", "'a' is given twice")
    path = tmp_path / "profiles.json"
    path.write_text(document)
    refused({"THUMBS_PROFILES": str(path)}, "THUMBS_PROFILES", str(path), "'a' is given twice")
    # A field given twice in one profile too (json.loads would keep the last one silently).
    refused({"THUMBS_PROFILES": '{"profiles": {"a": {"match": "*", "sizes": [64], "sizes": [128]}}}'}, "'sizes'")


# -- the manifest key and the thumbnails' keys ---------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"THUMBS_MANIFEST_KEY": "{dir}/{stem}-256x256.png"},  # the PNG thumbnail of the same source
        {"THUMBS_MANIFEST_KEY": "{dir}/{stem}-256x256.{srcext}"},
        # Another source's: the manifest of "x.jpg" is the thumbnail of "x.jpg.json" (any key included) ...
        {"THUMBS_MANIFEST_KEY": "m/{name}.json", "THUMBS_KEY_TEMPLATE": "m/{name}", "THUMBS_SIZES": "64",
         "THUMBS_INCLUDE": "*"},
        {"THUMBS_KEY_TEMPLATE": "thumbs/{size}/{name}", "THUMBS_INCLUDE": "photos/*"},  # ... or "x.thumbs.json"
        {"THUMBS_PROFILES": profiles(key_template="{dir}/{stem}.thumbs.{ext}", formats=["jpeg"]),
         "THUMBS_MANIFEST_KEY": "{dir}/{stem}.thumbs.jpg"},
    ],
)  # fmt: skip
def test_a_manifest_key_that_can_be_a_thumbnails_key_is_refused(settings: dict[str, str]) -> None:
    message = refused({"THUMBS_MANIFEST": "true", **settings}, "THUMBS_MANIFEST_KEY", "overwrite each other")
    assert "both can be" in message


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"THUMBS_MANIFEST_KEY": "{dir}/{stem}-thumbs.png"},  # a size is digits: '-thumbs' is never one
        {"THUMBS_KEY_TEMPLATE": "thumbs/{size}/{name}"},  # a source name ends in an included extension
        {"THUMBS_MANIFEST_KEY": "m/{name}.json", "THUMBS_KEY_TEMPLATE": "m/{name}", "THUMBS_SIZES": "64"},
        {"THUMBS_MANIFEST_KEY": "manifests/{dir}/{name}.json", "THUMBS_KEY_TEMPLATE": "{dir}/{stem}.{ext}"},
        {"THUMBS_PROFILES": profiles(key_template="{dir}/{stem}.thumbs.{ext}", formats=["jpeg", "avif"])},
    ],
)
def test_manifest_keys_apart_from_every_thumbnail_are_accepted(settings: dict[str, str]) -> None:
    assert load_config({"THUMBS_MANIFEST": "true", **settings}).manifest


def test_the_manifest_check_is_fast_on_the_longest_templates() -> None:
    """At the caps (16 placeholders, 1024 characters) the start-time check stays well under a second (0.7 s)."""
    thumbnails = "/".join(["{dir}" + "x" * 60] * 14) + "-{size}.{ext}"
    manifest = "/".join(["{name}" + "x" * 60] * 15) + "-{stem}.json"
    assert thumbnails.count("{") == manifest.count("{") == 16 and len(manifest) < 1024
    started = time.perf_counter()
    load_config({"THUMBS_MANIFEST": "true", "THUMBS_KEY_TEMPLATE": thumbnails, "THUMBS_MANIFEST_KEY": manifest})
    assert time.perf_counter() - started < 3  # generous: a shared machine
    refused({"THUMBS_KEY_TEMPLATE": "{stem}" * 17 + "-{size}.{ext}"}, "THUMBS_KEY_TEMPLATE", "19 placeholders", "16")


def test_the_manifest_check_agrees_with_rendered_keys() -> None:
    """Each refusal is real for the templates the issue names: render both and see them collide."""
    from core.completion.naming import manifest_key

    config = load_config({"THUMBS_MANIFEST_KEY": "{dir}/{stem}-256x256.png"})  # accepted while THUMBS_MANIFEST is off
    assert manifest_key(config, "photos/cat.png") in {o.key for o in config.profiles.outputs_for("photos/cat.png")}


# -- the engine --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["THUMBS_ENGINE", "POLYTHUMB_ENGINE"])
def test_an_unknown_engine_is_refused_at_start_naming_the_variable(name: str) -> None:
    refused({name: "vip"}, name, "auto | pillow | vips")


def test_the_deprecated_engine_variable_still_works_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(config_module, "_deprecations_logged", set())
    with caplog.at_level(logging.WARNING, logger="polythumb.config"):
        first = load_config({"POLYTHUMB_ENGINE": "pillow"})
        second = load_config({"POLYTHUMB_ENGINE": "pillow"})
    assert first.engine == second.engine == "pillow"
    assert first.sources["THUMBS_ENGINE"] == "POLYTHUMB_ENGINE"
    warnings = [r for r in caplog.records if "POLYTHUMB_ENGINE is deprecated" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "THUMBS_ENGINE=pillow" in warnings[0].getMessage()
    # The new name wins over the alias.
    assert load_config({"POLYTHUMB_ENGINE": "vip", "THUMBS_ENGINE": "pillow"}).engine == "pillow"


def test_the_pipeline_renders_with_the_configured_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    decide = engines.uses_vips

    def spy(*args: Any, engine: str = "auto", **options: Any) -> bool:
        asked.append(engine)
        return decide(*args, engine=engine, **options)

    monkeypatch.setattr(engines, "uses_vips", spy)
    monkeypatch.setenv("POLYTHUMB_ENGINE", "vips")  # read at start only: never per render
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("dst")}
    stores["src"].put("a.jpg", jpeg_bytes(64, 48), content_type="image/jpeg")
    config = load_config({"THUMBS_DEST_BUCKET": "dst", "THUMBS_ENGINE": "pillow"})
    outcome = Thumbnailer(config, stores.__getitem__).handle(ObjectEvent.created("src", "a.jpg"))
    assert outcome.status is Status.OK and asked == ["pillow"]


def test_the_engine_changes_no_digest_and_no_key() -> None:
    outputs = {e: load_config({"THUMBS_ENGINE": e}).profiles.outputs_for("a/b.jpg") for e in ("auto", "pillow")}
    assert [(o.key, o.params) for o in outputs["auto"]] == [(o.key, o.params) for o in outputs["pillow"]]


def test_polythumb_config_shows_the_engine_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.ops.cli import main

    for name in [name for name in os.environ if name.startswith("THUMBS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("POLYTHUMB_ENGINE", "pillow")
    assert main(["config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["engine"], shown["from"]["THUMBS_ENGINE"]) == ("pillow", "POLYTHUMB_ENGINE")
