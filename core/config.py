"""One configuration vocabulary, ``THUMBS_*``, for every provider and the CLI.

:func:`load_config` reads the environment (CLI flags override it by passing the
same names in ``overrides``), validates everything once at start and raises a
:class:`core.errors.ConfigError` that names the variable and what it accepts.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.imaging.types import ENGINES, FAST_EXTRA_HINT, MAX_PIXELS_CEILING, Box, Fit
from core.keys import render_key
from core.overlap import check_manifest_apart
from core.profiles import Profile, Profiles, check_outputs, load_profiles
from core.syntax import MANIFEST_PLACEHOLDERS, check_template, parse_boxes

OUTPUT_FORMATS = ("auto", "jpeg", "png", "webp", "avif")
DELETE_POLICIES = ("delete", "keep")
URL_MODES = ("none", "public", "signed")
DEFAULT_MANIFEST_KEY = "{dir}/{name}.thumbs.json"  # one per source: a.jpg and a.png keep theirs apart
#: The longest signed URL S3 (SigV4), GCS (V4) and Azure (user delegation key) all accept: 7 days.
MAX_URL_TTL = 7 * 24 * 3600

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
    "THUMBS_ENGINE",
    # Completion (core.completion): events, manifests, URLs.
    "THUMBS_NOTIFY",
    "THUMBS_NOTIFY_SECRET",
    "THUMBS_MANIFEST",
    "THUMBS_MANIFEST_KEY",
    "THUMBS_PUBLIC_BASE_URL",
    "THUMBS_URL_MODE",
    "THUMBS_URL_TTL",
)
LEGACY_SETTINGS = {"THUMBNAIL_BUCKET_NAME": "THUMBS_DEST_BUCKET", "THUMBNAIL_SIZE": "THUMBS_SIZES"}
#: The engine's former variable, read (and validated) when THUMBS_ENGINE is not set; deprecated.
ENGINE_ALIAS = "POLYTHUMB_ENGINE"
_LOGGER = logging.getLogger("polythumb.config")
_deprecations_logged: set[str] = set()  # one WARNING per process and deprecated name

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
    #: Which outputs each source key gets (:class:`core.profiles.Profiles`): THUMBS_INCLUDE/THUMBS_EXCLUDE, then
    #: the THUMBS_PROFILES profiles, or the settings above as the one profile ``default``. :func:`load_config`
    #: builds it; a Config built without it gets the one recipe of its own fields.
    profiles: Profiles = None  # type: ignore[assignment]  # set by __post_init__ when not given
    #: Animated outputs (``animated = "keep"``): most frames, and longest total duration in seconds.
    max_frames: int = 300
    max_duration: float = 60.0
    #: Which imaging engine renders (``auto``, ``pillow``, ``vips``); never part of a digest.
    engine: str = "auto"
    #: Completion-event targets (``THUMBS_NOTIFY``), as URIs; empty: no events.
    notify: tuple[str, ...] = ()
    #: HMAC key of webhook signatures; never printed or logged (``repr`` hides it).
    notify_secret: str | None = field(default=None, repr=False)
    manifest: bool = False
    manifest_key: str = DEFAULT_MANIFEST_KEY
    public_base_url: str | None = None
    url_mode: str = "none"  # none | public | signed
    url_ttl: int = 3600  # seconds a signed URL stays valid
    #: Which variable each value came from, for error messages and ``polythumb config``.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.profiles is None:
            object.__setattr__(self, "profiles", _profiles_of(self))


def _recipe(config: Config) -> Profile:
    """The single-recipe settings (THUMBS_SIZES, THUMBS_FORMAT, THUMBS_QUALITY, THUMBS_FIT, THUMBS_KEY_TEMPLATE)."""
    return Profile.recipe(
        sizes=config.boxes,
        format=config.format,
        quality=config.quality,
        fit=config.fit,
        key_template=config.key_template,
    )


def _profiles_of(config: Config, named: tuple[Profile, ...] = ()) -> Profiles:
    """``config``'s outputs: the ``named`` profiles (THUMBS_PROFILES), or else its one recipe, behind its filter."""
    return Profiles(
        named or (_recipe(config),),
        include=config.include,
        exclude=config.exclude,
        strip_metadata=config.strip_metadata,
        named=bool(named),
    )


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
        max_pixels=_parse_int("THUMBS_MAX_PIXELS", text("THUMBS_MAX_PIXELS"), 1, MAX_PIXELS_CEILING, None)
        or defaults.max_pixels,
        max_bytes=_parse_bytes("THUMBS_MAX_BYTES", text("THUMBS_MAX_BYTES"), defaults.max_bytes),
        cache_control=_parse_cache_control(text("THUMBS_CACHE_CONTROL"), defaults.cache_control),
        strip_metadata=_parse_bool("THUMBS_STRIP_METADATA", text("THUMBS_STRIP_METADATA"), defaults.strip_metadata),
        on_delete=_parse_choice("THUMBS_ON_DELETE", text("THUMBS_ON_DELETE"), DELETE_POLICIES, defaults.on_delete),
        log_level=_parse_choice(
            "THUMBS_LOG_LEVEL", text("THUMBS_LOG_LEVEL"), ("debug", "info", "warning", "error"), "info"
        ).upper(),
        max_frames=_parse_int("THUMBS_MAX_FRAMES", text("THUMBS_MAX_FRAMES"), 1, 100_000, None) or defaults.max_frames,
        max_duration=_parse_seconds("THUMBS_MAX_DURATION", text("THUMBS_MAX_DURATION"), defaults.max_duration),
        engine=_parse_engine(text("THUMBS_ENGINE"), environ, sources),
        sources=sources,
    )
    config = _with_completion(config, text, raw)
    recipe = _recipe(config)
    _check_key_template(recipe)
    named: tuple[Profile, ...] = ()
    if text("THUMBS_PROFILES"):
        named = load_profiles(raw["THUMBS_PROFILES"], base=recipe, include=config.include, max_pixels=config.max_pixels)
    else:
        check_outputs(recipe, include=config.include, sizes="THUMBS_SIZES", formats="THUMBS_FORMAT")
    config = replace(config, profiles=_profiles_of(config, named))
    if config.manifest:
        check_manifest_apart(config.manifest_key, config.profiles)
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


def _with_completion(config: Config, text: Callable[[str], str | None], raw: Mapping[str, str]) -> Config:
    """Add the completion settings (``THUMBS_NOTIFY`` ... ``THUMBS_URL_TTL``), validated together.

    ``raw`` holds the values as given: ``THUMBS_NOTIFY_SECRET`` is taken verbatim (a receiver verifies with
    the same bytes, a trailing newline included).
    """
    base_url = text("THUMBS_PUBLIC_BASE_URL")
    if base_url is not None:
        parsed = urlsplit(base_url)
        if "@" in parsed.netloc:  # the value is not echoed: it holds a password
            raise ConfigError(
                "THUMBS_PUBLIC_BASE_URL holds credentials (user:password@); they would be copied into every public "
                "manifest and event; accepted values: an http(s) URL without user info, query or fragment"
            )
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise ConfigError(
                f"THUMBS_PUBLIC_BASE_URL={base_url!r} is not valid; accepted values: an http(s) URL without query "
                "or fragment, the prefix thumbnail keys are appended to, e.g. https://cdn.example.com/thumbs/"
            )
        base_url = base_url if base_url.endswith("/") else base_url + "/"
    mode_default = "public" if base_url else "none"
    url_mode = _parse_choice("THUMBS_URL_MODE", text("THUMBS_URL_MODE"), URL_MODES, mode_default)
    if url_mode == "public" and base_url is None:
        raise ConfigError(
            "THUMBS_URL_MODE=public needs THUMBS_PUBLIC_BASE_URL (a CDN or bucket website URL); "
            f"accepted values: {' | '.join(URL_MODES)}"
        )
    ttl = _parse_duration("THUMBS_URL_TTL", text("THUMBS_URL_TTL"), config.url_ttl)
    notify = _parse_globs(text("THUMBS_NOTIFY"), ())
    secret = _parse_secret(raw.get("THUMBS_NOTIFY_SECRET"))
    for index, target in enumerate(notify):  # the scheme's own checks (a provider's) run when the runtime starts
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
            after_url = index > 0 and "://" in notify[index - 1]
            raise ConfigError(
                f"THUMBS_NOTIFY target {target.split('?')[0]!r} is not valid (it has no scheme"
                + (", so a comma inside the URL before it split that URL in two" if after_url else "")
                + "); accepted values: comma-separated URIs such as file:events.jsonl or "
                "https://hooks.example.com/thumbnails (THUMBS_NOTIFY is split at commas: write a comma inside a "
                "URL as %2C)"
            )
    manifest_key = text("THUMBS_MANIFEST_KEY") or DEFAULT_MANIFEST_KEY
    check_template(manifest_key, "THUMBS_MANIFEST_KEY", placeholders=MANIFEST_PLACEHOLDERS, names_source=True)
    return replace(
        config,
        notify=notify,
        notify_secret=secret,
        manifest=_parse_bool("THUMBS_MANIFEST", text("THUMBS_MANIFEST"), False),
        manifest_key=manifest_key,
        public_base_url=base_url,
        url_mode=url_mode,
        url_ttl=ttl,
    )


def _parse_secret(value: str | None) -> str | None:
    """``THUMBS_NOTIFY_SECRET`` verbatim (None when empty); a value of only whitespace is refused."""
    if not value:
        return None
    if not value.strip():
        raise ConfigError(
            "THUMBS_NOTIFY_SECRET is only whitespace; accepted values: the webhook's HMAC key, used exactly as "
            "given (leading and trailing whitespace included, as the receiver must use it)"
        )
    return value


def _parse_engine(value: str | None, environ: Mapping[str, str], sources: dict[str, str]) -> str:
    """THUMBS_ENGINE, else the deprecated POLYTHUMB_ENGINE (one WARNING per process); ``vips`` must load here."""
    name = "THUMBS_ENGINE"
    alias = environ.get(ENGINE_ALIAS, "").strip()
    if alias and ENGINE_ALIAS not in _deprecations_logged:
        _deprecations_logged.add(ENGINE_ALIAS)
        _LOGGER.warning("%s is deprecated: set THUMBS_ENGINE=%s instead (same values)", ENGINE_ALIAS, alias)
    if value is None and alias:
        value, name = alias, ENGINE_ALIAS
        sources["THUMBS_ENGINE"] = ENGINE_ALIAS
    engine = _parse_choice(name, value, ENGINES, "auto")
    if engine == "vips":
        from core.imaging import vips_engine  # loads Pillow and pyvips: only when libvips is asked for

        reason = vips_engine.import_failure()
        if reason is not None:
            raise ConfigError(f"{name}=vips but the libvips engine cannot run here: {reason}; {FAST_EXTRA_HINT}")
    return engine


def _parse_duration(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value.lower())
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)] if match else 0
    if not 1 <= seconds <= MAX_URL_TTL:
        raise ConfigError(
            f"{name}={value!r} is not valid; accepted values: a duration from 1 s to 7 d, in seconds or with a "
            "unit s, m, h, d (e.g. 3600 or 1h; 7 d is the longest S3, GCS and Azure signed URLs allow)"
        )
    return seconds


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


def _check_key_template(recipe: Profile) -> None:
    template = recipe.key_template
    check_template(template, "THUMBS_KEY_TEMPLATE")
    # Stable keys per box: two sizes must never land on one key (deletes find outputs by key).
    sample = [render_key(template, "photos/sample.jpg", box, fmt)
              for box in recipe.sizes for fmt in recipe.formats_for("photos/sample.jpg")]  # fmt: skip
    if len(set(sample)) != len(sample):
        raise ConfigError(
            f"THUMBS_KEY_TEMPLATE={template!r} gives the same key for different THUMBS_SIZES; "
            "include {size} or {width} and {height}"
        )
