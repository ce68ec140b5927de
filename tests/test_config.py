"""The THUMBS_* vocabulary: defaults, legacy names, and errors that name the variable and the choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DEFAULT_INCLUDE, SETTINGS, Config, load_config
from core.errors import ConfigError, PermanentError
from core.imaging.types import Box, Fit


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


def test_provider_settings_can_be_declared_known() -> None:
    config = load_config({"THUMBS_AZURE_CONNECTION": "X"}, extra_settings=["THUMBS_AZURE_CONNECTION"])
    assert config == Config(sources=config.sources)


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


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    missing = [name for name in SETTINGS if f"`{name}`" not in readme]
    assert missing == []
