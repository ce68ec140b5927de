"""One configuration vocabulary, ``THUMBS_*``, for every provider and the CLI.

:func:`load_config` reads the environment (CLI flags override it by passing the
same names in ``overrides``), validates everything once at start and raises a
:class:`core.errors.ConfigError` that names the variable and what it accepts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from core.errors import ConfigError
from core.imaging.types import Box, Fit
from core.keys import output_key
from core.profiles import Profile, load_profiles
from core.syntax import check_template, parse_boxes

OUTPUT_FORMATS = ("auto", "jpeg", "png", "webp", "avif")
DELETE_POLICIES = ("delete", "keep")

#: Extensions polythumb renders by default (matched case-insensitively on the key).
DEFAULT_INCLUDE = (
    "*.jpg", "*.jpeg", "*.jpe", "*.jfif", "*.png", "*.gif", "*.webp", "*.avif",
    "*.heic", "*.heif", "*.tif", "*.tiff", "*.bmp", "*.ico",
)  # fmt: skip

#: Settings read from the environment, with the seed's legacy names mapped onto them.
SETTINGS = (
    "THUMBS_DEST_BUCKET",
    "THUMBS_SIZES",
    "THUMBS_KEY_TEMPLATE",
    "THUMBS_FORMAT",
    "THUMBS_QUALITY",
    "THUMBS_FIT",
    "THUMBS_INCLUDE",
    "THUMBS_EXCLUDE",
    "THUMBS_MAX_PIXELS",
    "THUMBS_MAX_BYTES",
    "THUMBS_CACHE_CONTROL",
    "THUMBS_STRIP_METADATA",
    "THUMBS_ON_DELETE",
    "THUMBS_LOG_LEVEL",
    "THUMBS_PROFILES",
    "THUMBS_MAX_FRAMES",
    "THUMBS_MAX_DURATION",
)
LEGACY_SETTINGS = {"THUMBNAIL_BUCKET_NAME": "THUMBS_DEST_BUCKET", "THUMBNAIL_SIZE": "THUMBS_SIZES"}

_BYTE_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 10**6, "MB": 10**6,
               "MIB": 2**20, "G": 10**9, "GB": 10**9, "GIB": 2**30}  # fmt: skip
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Config:
    """Validated settings. Build it with :func:`load_config`; it pickles for worker pools."""

    dest_bucket: str | None = None
    boxes: tuple[Box, ...] = (Box(256, 256),)
    key_template: str = "{dir}/{stem}-{width}x{height}.{ext}"
    format: str = "auto"
    quality: int | None = None
    fit: Fit = Fit.CONTAIN
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    max_pixels: int = 200_000_000  # a 200 MP phone photo (16320x12240) passes; a 1.6 Gpx bomb does not
    max_bytes: int = 64 * 2**20  # a 50 MP JPEG or a 48 MP ProRAW-derived HEIC is well below this
    cache_control: str = "public, max-age=86400"
    strip_metadata: bool = True
    on_delete: str = "delete"
    log_level: str = "INFO"
    #: Named recipes from THUMBS_PROFILES (see :mod:`core.profiles`); empty: the settings above are the one recipe.
    profiles: tuple[Profile, ...] = ()
    #: Animated outputs (``animated = "keep"``): most frames, and longest total duration in seconds.
    max_frames: int = 300
    max_duration: float = 60.0
    #: Which variable each value came from, for error messages and ``polythumb config``.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)


def load_config(
    environ: Mapping[str, str],
    *,
    overrides: Mapping[str, str | None] | None = None,
    require_dest: bool = False,
    extra_settings: Iterable[str] = (),
) -> Config:
    """Build a :class:`Config` from ``environ`` and ``overrides`` (same names, e.g. CLI flags).

    Args:
        environ: Usually ``os.environ``.
        overrides: Values that win over ``environ``; ``None`` values are ignored.
        require_dest: Fail unless a destination bucket is configured (cloud entrypoints).
        extra_settings: Further ``THUMBS_*`` names a provider reads itself, so they
            are not reported as unknown.

    Raises:
        ConfigError: naming the variable and the accepted values.
    """
    known = set(SETTINGS) | set(extra_settings)
    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    for legacy, modern in LEGACY_SETTINGS.items():
        if environ.get(legacy) and not environ.get(modern):
            raw[modern], sources[modern] = environ[legacy], legacy
    for name, value in environ.items():
        if name.startswith("THUMBS_"):
            if name not in known:
                raise ConfigError(_unknown_setting_message(name, known))
            raw[name], sources[name] = value, name
    for name, override in (overrides or {}).items():
        if override is not None:
            raw[name], sources[name] = override, name

    def text(name: str) -> str | None:
        value = raw.get(name, "").strip()
        return value or None

    defaults = Config()
    config = Config(
        dest_bucket=text("THUMBS_DEST_BUCKET"),
        boxes=parse_boxes(text("THUMBS_SIZES"), sources.get("THUMBS_SIZES", "THUMBS_SIZES"), defaults.boxes),
        key_template=text("THUMBS_KEY_TEMPLATE") or defaults.key_template,
        format=_parse_choice("THUMBS_FORMAT", text("THUMBS_FORMAT"), OUTPUT_FORMATS, defaults.format),
        quality=_parse_int("THUMBS_QUALITY", text("THUMBS_QUALITY"), 1, 100, None),
        fit=Fit(_parse_choice("THUMBS_FIT", text("THUMBS_FIT"), tuple(Fit), defaults.fit)),
        include=_parse_globs(text("THUMBS_INCLUDE"), defaults.include),
        exclude=_parse_globs(text("THUMBS_EXCLUDE"), defaults.exclude),
        max_pixels=_parse_int("THUMBS_MAX_PIXELS", text("THUMBS_MAX_PIXELS"), 1, 10**10, None) or defaults.max_pixels,
        max_bytes=_parse_bytes("THUMBS_MAX_BYTES", text("THUMBS_MAX_BYTES"), defaults.max_bytes),
        cache_control=_parse_cache_control(text("THUMBS_CACHE_CONTROL"), defaults.cache_control),
        strip_metadata=_parse_bool("THUMBS_STRIP_METADATA", text("THUMBS_STRIP_METADATA"), defaults.strip_metadata),
        on_delete=_parse_choice("THUMBS_ON_DELETE", text("THUMBS_ON_DELETE"), DELETE_POLICIES, defaults.on_delete),
        log_level=_parse_choice(
            "THUMBS_LOG_LEVEL", text("THUMBS_LOG_LEVEL"), ("debug", "info", "warning", "error"), "info"
        ).upper(),
        max_frames=_parse_int("THUMBS_MAX_FRAMES", text("THUMBS_MAX_FRAMES"), 1, 100_000, None) or defaults.max_frames,
        max_duration=_parse_seconds("THUMBS_MAX_DURATION", text("THUMBS_MAX_DURATION"), defaults.max_duration),
        sources=sources,
    )
    _check_key_template(config)
    if text("THUMBS_PROFILES"):
        config = replace(config, profiles=load_profiles(raw["THUMBS_PROFILES"], base=config))
    too_big = [str(b) for b in config.boxes if config.fit is not Fit.CONTAIN and b.width * b.height > config.max_pixels]
    if too_big:
        raise ConfigError(
            f"THUMBS_SIZES box {', '.join(too_big)} has more pixels than THUMBS_MAX_PIXELS={config.max_pixels} "
            f"allows with THUMBS_FIT={config.fit}; lower the box or raise the limit"
        )
    if require_dest and not config.dest_bucket:
        raise ConfigError(
            "THUMBS_DEST_BUCKET is not set: name the bucket/container that receives the thumbnails "
            "(it may equal the source bucket; the loop guard then skips polythumb's own outputs)"
        )
    return config


def _unknown_setting_message(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"{name} is not a polythumb setting.{hint} Known settings: {', '.join(sorted(known))}."


def _parse_choice(name: str, value: str | None, choices: Iterable[str], default: str) -> str:
    if value is None:
        return default
    accepted = tuple(str(c) for c in choices)
    if value.lower() not in accepted:
        raise ConfigError(f"{name}={value!r} is not valid; accepted values: {' | '.join(accepted)}")
    return value.lower()


def _parse_int(name: str, value: str | None, low: int, high: int, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        accepted = f"accepted values: a whole number from {low} to {high}"
        raise ConfigError(f"{name}={value!r} is not valid; {accepted}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}={value!r} is out of range; accepted values: a whole number from {low} to {high}")
    return number


def _parse_bytes(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", value)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _BYTE_UNITS or int(match.group(1)) == 0:
        raise ConfigError(
            f"{name}={value!r} is not valid; accepted values: a positive size in bytes, optionally with a unit "
            "(KB, MB, GB, KiB, MiB, GiB), e.g. 64MiB"
        )
    return int(match.group(1)) * _BYTE_UNITS[unit]


def _parse_seconds(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", value)
    if not match or not 0 < float(match.group(1)) <= 86400:
        raise ConfigError(
            f"{name}={value!r} is not valid; accepted values: seconds above 0, up to 86400, e.g. 60 or 7.5s"
        )
    return float(match.group(1))


def _parse_bool(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not valid; accepted values: true | false (also 1/0, yes/no, on/off)")


def _parse_globs(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _parse_cache_control(value: str | None, default: str) -> str:
    if value is None:
        return default
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ConfigError(
            f"THUMBS_CACHE_CONTROL={value!r} is not valid; accepted values: a Cache-Control header value "
            "of printable ASCII, e.g. 'public, max-age=86400'"
        )
    return value


def _check_key_template(config: Config) -> None:
    template = config.key_template
    check_template(template, "THUMBS_KEY_TEMPLATE")
    # Stable keys per box: two sizes must never land on one key (deletes find outputs by key).
    sample = [output_key(config, "photos/sample.jpg", box) for box in config.boxes]
    if len(set(sample)) != len(sample):
        raise ConfigError(
            f"THUMBS_KEY_TEMPLATE={template!r} gives the same key for different THUMBS_SIZES; "
            "include {size} or {width} and {height}"
        )
