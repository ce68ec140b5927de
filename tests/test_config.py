"""The THUMBS_* vocabulary: defaults, legacy names, and errors that name the variable and the choices."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from core import registry
from core.config import DEFAULT_INCLUDE, SETTINGS, Config, load_config
from core.errors import ConfigError, PermanentError
from core.imaging.types import Box, Fit
from core.settings import Choice, Flag, Pattern, Setting, WholeNumber
from core.vocabulary import VOCABULARY


def test_defaults() -> None:
    config = load_config({})
    assert config == Config()
    assert config.boxes == (Box(256, 256),)
    assert config.format == "auto"
    assert config.fit is Fit.CONTAIN
    assert config.strip_metadata is True
    assert config.on_delete == "delete"
    assert config.include == DEFAULT_INCLUDE
    assert config.max_pixels == 200_000_000
    assert config.max_bytes == 64 * 2**20


def test_every_setting_is_read() -> None:
    config = load_config(
        {
            "THUMBS_DEST_BUCKET": "thumbs",
            "THUMBS_SIZES": "128x128, 512x384 ,64",
            "THUMBS_KEY_TEMPLATE": "thumbs/{dir}/{stem}_{size}.{ext}",
            "THUMBS_FORMAT": "WEBP",
            "THUMBS_QUALITY": "70",
            "THUMBS_FIT": "cover",
            "THUMBS_INCLUDE": "uploads/*.jpg,*.png",
            "THUMBS_EXCLUDE": "*/private/*",
            "THUMBS_MAX_PIXELS": "50_000_000",
            "THUMBS_MAX_BYTES": "10MiB",
            "THUMBS_CACHE_CONTROL": "public, max-age=60",
            "THUMBS_STRIP_METADATA": "off",
            "THUMBS_ON_DELETE": "keep",
            "THUMBS_LOG_LEVEL": "debug",
            "UNRELATED": "ignored",
        }
    )
    assert config.dest_bucket == "thumbs"
    assert config.boxes == (Box(128, 128), Box(512, 384), Box(64, 64))
    assert config.format == "webp"
    assert config.quality == 70
    assert config.fit is Fit.COVER
    assert config.include == ("uploads/*.jpg", "*.png")
    assert config.exclude == ("*/private/*",)
    assert config.max_pixels == 50_000_000
    assert config.max_bytes == 10 * 2**20
    assert config.cache_control == "public, max-age=60"
    assert config.strip_metadata is False
    assert config.on_delete == "keep"
    assert config.log_level == "DEBUG"


def test_seed_names_are_accepted() -> None:
    config = load_config({"THUMBNAIL_BUCKET_NAME": "legacy-thumbs", "THUMBNAIL_SIZE": "128,128"})
    assert config.dest_bucket == "legacy-thumbs"
    assert config.boxes == (Box(128, 128),)
    assert config.sources["THUMBS_DEST_BUCKET"] == "THUMBNAIL_BUCKET_NAME"


def test_modern_names_win_over_seed_names() -> None:
    config = load_config({"THUMBNAIL_BUCKET_NAME": "old", "THUMBS_DEST_BUCKET": "new"})
    assert config.dest_bucket == "new"


def test_overrides_win_over_the_environment() -> None:
    config = load_config({"THUMBS_SIZES": "64"}, overrides={"THUMBS_SIZES": "32", "THUMBS_FORMAT": None})
    assert config.boxes == (Box(32, 32),)
    assert config.format == "auto"


@pytest.mark.parametrize(
    ("name", "value", "expected_in_message"),
    [
        ("THUMBS_FORMAT", "gif", "auto | jpeg | png | webp | avif"),
        ("THUMBS_FIT", "stretch", "contain | cover"),
        ("THUMBS_ON_DELETE", "archive", "delete | keep"),
        ("THUMBS_QUALITY", "101", "1 to 100"),
        ("THUMBS_QUALITY", "high", "1 to 100"),
        ("THUMBS_SIZES", "128x", "WIDTHxHEIGHT"),
        ("THUMBS_SIZES", "0x10", "1..16384"),
        ("THUMBS_SIZES", "99999", "1..16384"),
        ("THUMBS_MAX_BYTES", "lots", "MiB"),
        ("THUMBS_MAX_PIXELS", "-5", "whole number"),
        ("THUMBS_STRIP_METADATA", "maybe", "true | false"),
        ("THUMBS_CACHE_CONTROL", "max-age=1\r\nX-Evil: 1", "printable ASCII"),
        ("THUMBS_KEY_TEMPLATE", "{dir}/{stem}.{colour}", "{size}"),
        ("THUMBS_KEY_TEMPLATE", "{dir}/{stem", "placeholders"),
    ],
)
def test_invalid_values_name_the_variable_and_the_accepted_values(
    name: str, value: str, expected_in_message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({name: value})
    message = str(caught.value)
    assert name in message
    assert expected_in_message in message
    assert isinstance(caught.value, PermanentError)


def test_unknown_setting_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"THUMBS_SIZE": "128"})
    assert "THUMBS_SIZE is not a polythumb setting" in str(caught.value)
    assert "Did you mean THUMBS_SIZES?" in str(caught.value)


def test_provider_settings_can_be_declared_known_and_are_validated_at_start() -> None:
    queue = Setting("THUMBS_TEST_QUEUE", Pattern(r"[a-z-]{3,63}", "a queue name"), meaning="A queue.")
    config = load_config({"THUMBS_TEST_QUEUE": "my-queue"}, extra_settings=[queue])
    assert config == Config(sources=config.sources)
    with pytest.raises(ConfigError, match=r"THUMBS_TEST_QUEUE='Bad_Queue' is not valid; accepted values: a queue name"):
        load_config({"THUMBS_TEST_QUEUE": "Bad_Queue"}, extra_settings=[queue])
    with pytest.raises(ConfigError, match="THUMBS_TEST_QUEUE is not a polythumb setting"):
        load_config({"THUMBS_TEST_QUEUE": "my-queue"})


def test_each_provider_setting_is_refused_where_it_is_not_read_naming_who_reads_it() -> None:
    """An operator's setting on a function (or any provider's in a local run) is named as such, not as a typo."""
    from core.runtime import FunctionRuntime
    from core.storage import MemoryStorage

    checked = 0
    for spec in registry.providers().values():
        for setting in spec.settings:
            with pytest.raises(ConfigError, match=f"{setting.name} is not read here: it is read by") as caught:
                load_config({setting.name: "x"})
            assert spec.title in str(caught.value) or spec.name in str(caught.value)
            checked += 1
        for setting in spec.operator_settings:
            environ = {"THUMBS_DEST_BUCKET": "t", setting.name: "x"}
            with pytest.raises(ConfigError, match=f"{setting.name} is not read here") as caught:
                FunctionRuntime(MemoryStorage, environ=environ, provider=spec.name)
            assert f"--target {spec.name}" in str(caught.value)
    assert checked or not registry.providers()


def test_a_typo_of_a_provider_setting_suggests_it() -> None:
    for spec in registry.providers().values():
        for setting in spec.settings:
            typo = setting.name[:-1]  # THUMBS_BACKFILL_QUEUE_UR
            if typo in {s.name for other in registry.providers().values() for s in other.settings}:
                continue
            with pytest.raises(ConfigError, match=f"Did you mean {setting.name}\\?"):
                load_config({typo: "x"})


# -- the declarations ------------------------------------------------------------------------------------


def test_every_setting_is_declared_once_with_a_meaning_and_the_accepted_values() -> None:
    names = [setting.name for setting in VOCABULARY]
    assert names == list(SETTINGS) and len(set(names)) == len(names)
    for spec in registry.providers().values():
        own = [setting.name for setting in spec.settings]
        assert len(set(own)) == len(own) and not set(own) & set(names), spec.name
    for setting in (*VOCABULARY, *(s for spec in registry.providers().values() for s in spec.settings)):
        assert setting.name.startswith("THUMBS_"), setting.name
        assert setting.meaning.strip() and setting.accepted.strip(), setting.name


def test_each_declared_default_is_the_config_default() -> None:
    """A default is written once as a value (``256x256``): it parses to exactly what ``Config()`` holds."""
    defaults = Config()
    fields = {setting.field for setting in VOCABULARY if setting.field}
    assert fields <= {f.name for f in dataclasses.fields(Config)}
    for setting in VOCABULARY:
        if setting.default is not None:
            assert setting.field is not None, setting.name
            assert setting.value(None) == getattr(defaults, setting.field), setting.name
        elif setting.field is not None and setting.default_text is None:
            assert getattr(defaults, setting.field) in (None, ()), setting.name  # shown as "(none)"


def test_every_setting_is_read_into_its_field() -> None:
    """Each declared field is set from its variable (a setting declared but never read would fail here)."""
    samples = {
        "THUMBS_DEST_BUCKET": "d", "THUMBS_SIZES": "32", "THUMBS_KEY_TEMPLATE": "{dir}/{stem}-x-{size}.{ext}",
        "THUMBS_FORMAT": "png", "THUMBS_QUALITY": "50", "THUMBS_FIT": "cover", "THUMBS_STRIP_METADATA": "false",
        "THUMBS_CACHE_CONTROL": "no-store", "THUMBS_INCLUDE": "*.png", "THUMBS_EXCLUDE": "x/*",
        "THUMBS_MAX_PIXELS": "1000000", "THUMBS_MAX_BYTES": "1MB", "THUMBS_MAX_FRAMES": "7", "THUMBS_MAX_DURATION": "2",
        "THUMBS_ON_DELETE": "keep", "THUMBS_LOG_LEVEL": "error", "THUMBS_ENGINE": "pillow",
        "THUMBS_NOTIFY": "file:e.jsonl", "THUMBS_NOTIFY_SECRET": "s", "THUMBS_MANIFEST": "true",
        "THUMBS_MANIFEST_KEY": "m/{dir}/{name}.json", "THUMBS_PUBLIC_BASE_URL": "https://cdn.example.com",
        "THUMBS_URL_MODE": "public", "THUMBS_URL_TTL": "2h",
    }  # fmt: skip
    assert set(samples) == {setting.name for setting in VOCABULARY if setting.field}
    config, defaults = load_config(samples), Config()
    for setting in VOCABULARY:
        if setting.field:
            assert getattr(config, setting.field) != getattr(defaults, setting.field), setting.name
            assert config.sources[setting.name] == setting.name


def test_the_accepted_values_in_an_error_are_the_declared_ones() -> None:
    for setting in VOCABULARY:
        if isinstance(setting.kind, Choice | WholeNumber | Flag):
            with pytest.raises(ConfigError) as caught:
                load_config({setting.name: "not-a-value"})
            assert f"accepted values: {setting.accepted}" in str(caught.value), setting.name


def test_a_template_that_merges_sizes_is_refused() -> None:
    with pytest.raises(ConfigError, match="same key for different THUMBS_SIZES"):
        load_config({"THUMBS_SIZES": "64,128", "THUMBS_KEY_TEMPLATE": "{dir}/{stem}-thumb.{ext}"})
    # One size needs no size in the key.
    assert load_config({"THUMBS_SIZES": "64", "THUMBS_KEY_TEMPLATE": "thumbs/{dir}/{name}"}).boxes == (Box(64, 64),)


def test_a_cover_box_over_the_pixel_limit_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="THUMBS_MAX_PIXELS"):
        load_config({"THUMBS_FIT": "cover", "THUMBS_SIZES": "2000x2000", "THUMBS_MAX_PIXELS": "1000000"})
    assert load_config({"THUMBS_SIZES": "2000x2000", "THUMBS_MAX_PIXELS": "1000000"}).boxes  # contain never upscales


def test_cloud_entrypoints_require_a_destination() -> None:
    with pytest.raises(ConfigError, match="THUMBS_DEST_BUCKET is not set"):
        load_config({}, require_dest=True)


def test_the_readme_names_only_settings_that_exist() -> None:
    """The README's short table is hand-written: every name in it must still be a setting."""
    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    known = {*SETTINGS, *(s.name for spec in registry.providers().values() for s in spec.settings)}
    named = set(re.findall(r"\bTHUMBS_[A-Z_]+\b", readme))
    assert named and named <= known, named - known
