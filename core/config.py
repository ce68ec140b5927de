"""One configuration vocabulary, ``THUMBS_*``, for every provider and the CLI.

:func:`load_config` reads the environment (CLI flags override it by passing the
same names in ``overrides``), validates everything once at start through the
settings' declarations (:mod:`core.vocabulary`, and a provider's own) and raises a
:class:`core.errors.ConfigError` that names the variable and what it accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from core import registry
from core.errors import ConfigError, PolythumbError
from core.imaging.types import Box, Fit
from core.keys import render_key
from core.overlap import check_manifest_apart
from core.profiles import Profile, Profiles, check_outputs, load_profiles
from core.settings import Setting
from core.syntax import check_template
from core.vocabulary import (
    DEFAULT_ADHOC_PREFIX,
    DEFAULT_INCLUDE,
    DEFAULT_KEY_TEMPLATE,
    DEFAULT_MANIFEST_KEY,
    SETTINGS,
    URL_MODES,
    VOCABULARY,
)

#: Also the vocabulary's names that modules read from here.
__all__ = ["DEFAULT_INCLUDE", "DEFAULT_MANIFEST_KEY", "SETTINGS", "Config", "load_config"]

if TYPE_CHECKING:  # the serve modules load only when serve is configured (never on a plain event function's start)
    from core.serve_signing import SigningKey

_LOGGER = logging.getLogger("polythumb.config")
_deprecations_logged: set[str] = set()  # one WARNING per process and deprecated name


@dataclass(frozen=True)
class Config:
    """Validated settings. Build it with :func:`load_config`; it pickles for worker pools."""

    dest_bucket: str | None = None
    boxes: tuple[Box, ...] = (Box(256, 256),)
    key_template: str = DEFAULT_KEY_TEMPLATE
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
    #: The OpenTelemetry export (``THUMBS_OTEL``): ``none`` or ``otlp``.
    otel: str = "none"
    #: Completion-event targets (``THUMBS_NOTIFY``), as URIs; empty: no events.
    notify: tuple[str, ...] = ()
    #: HMAC key of webhook signatures; never printed or logged (``repr`` hides it).
    notify_secret: str | None = field(default=None, repr=False)
    manifest: bool = False
    manifest_key: str = DEFAULT_MANIFEST_KEY
    public_base_url: str | None = None
    url_mode: str = "none"  # none | public | signed
    url_ttl: int = 3600  # seconds a signed URL stays valid
    #: Serving on first request (THUMBS_SERVE_*, :mod:`core.serve`): where originals are, renders at once, the
    #: largest output answered with its bytes when a URL exists (0: always redirect).
    serve_source_bucket: str | None = None
    serve_concurrency: int = 4
    serve_inline_max: int = 0
    #: Signed ad-hoc outputs: on or off, the keys (never printed: ``repr`` hides them), where they are stored,
    #: their largest edge, and the longest a signed URL may be valid.
    serve_adhoc: bool = False
    serve_keys: tuple[SigningKey, ...] = field(default=(), repr=False)
    serve_adhoc_prefix: str = DEFAULT_ADHOC_PREFIX
    serve_adhoc_max_edge: int = 2048
    serve_signed_max_ttl: int = 7 * 24 * 3600
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
    extra_settings: Iterable[Setting] = (),
) -> Config:
    """Build a :class:`Config` from ``environ`` and ``overrides`` (same names, e.g. CLI flags).

    Every value is read through its :class:`core.settings.Setting` (:data:`core.vocabulary.VOCABULARY`), so
    a value is refused with the variable it came from and the accepted values.

    Args:
        environ: Usually ``os.environ``.
        overrides: Values that win over ``environ``; ``None`` values are ignored.
        require_dest: Fail unless a destination bucket is configured (cloud entrypoints).
        extra_settings: A provider's own settings that the caller reads (its descriptor's
            ``function_settings``, and ``operator_settings`` for an operator command): validated here too, so
            a bad value fails at start, and not reported as unknown.

    Raises:
        ConfigError: naming the variable and the accepted values.
    """
    extra = tuple(extra_settings)
    raw, sources = _read(environ, overrides or {}, (*VOCABULARY, *extra))

    def text(name: str) -> str | None:
        value = raw.get(name, "").strip()
        return value or None

    values = {
        setting.field: value
        for setting in VOCABULARY
        if setting.field and setting.name in raw
        if (value := setting.value(raw[setting.name], name=sources[setting.name])) is not None
    }
    for setting in extra:  # the provider reads its value itself, through the same Setting
        setting.value(raw.get(setting.name), name=sources.get(setting.name))
    values.setdefault("url_mode", "public" if values.get("public_base_url") else "none")
    config = Config(**values, sources=sources)
    if config.url_mode == "public" and config.public_base_url is None:
        raise ConfigError(
            "THUMBS_URL_MODE=public needs THUMBS_PUBLIC_BASE_URL (a CDN or bucket website URL); "
            f"accepted values: {' | '.join(URL_MODES)}"
        )
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
    if config.serve_adhoc:  # signed ad-hoc outputs: keys to verify with, and a key space of their own
        from core.serve_adhoc import check_adhoc_settings

        check_adhoc_settings(
            keys=config.serve_keys, prefix=config.serve_adhoc_prefix, profiles=config.profiles,
            manifest_key=config.manifest_key if config.manifest else None,
        )  # fmt: skip
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


def _read(
    environ: Mapping[str, str], overrides: Mapping[str, str | None], settings: tuple[Setting, ...]
) -> tuple[dict[str, str], dict[str, str]]:
    """The values as given, by setting name, and the variable each came from (an alias, a flag's setting).

    An alias is read when the setting itself is not set; a deprecated one logs one WARNING per process.

    Raises:
        ConfigError: a ``THUMBS_*`` variable that none of ``settings`` is.
    """
    known = {setting.name for setting in settings}
    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith("THUMBS_"):
            if name not in known:
                raise ConfigError(_unknown_setting_message(name, known))
            raw[name], sources[name] = value, name
    for setting in settings:
        for alias in (*setting.aliases, *setting.deprecated):
            value = environ.get(alias, "").strip()
            if value and alias in setting.deprecated and alias not in _deprecations_logged:
                _deprecations_logged.add(alias)
                _LOGGER.warning("%s is deprecated: set %s=%s instead (same values)", alias, setting.name, value)
            if value and not raw.get(setting.name, "").strip():
                raw[setting.name], sources[setting.name] = environ[alias], alias
    for name, override in overrides.items():
        if override is not None:
            raw[name], sources[name] = override, name
    return raw, sources


def _unknown_setting_message(name: str, known: Iterable[str]) -> str:
    """Why ``name`` is refused: a provider's setting read elsewhere, or a typo (with the closest name)."""
    elsewhere = _provider_settings()
    if name in elsewhere:
        return f"{name} is not read here: it is {elsewhere[name]}. Settings read here: {', '.join(sorted(known))}."
    import difflib  # only a refused setting needs it: off the cold start

    close = difflib.get_close_matches(name, sorted({*known, *elsewhere}), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"{name} is not a polythumb setting.{hint} Known settings: {', '.join(sorted(known))}."


def _provider_settings() -> dict[str, str]:
    """Every provider's own settings, by name: who reads each (empty if a provider cannot even be listed)."""
    try:
        specs = registry.providers().values()
    except PolythumbError:  # a broken provider is reported by the command that uses providers, not here
        return {}
    found: dict[str, str] = {}
    for spec in specs:
        for setting in spec.function_settings:
            found[setting.name] = f"read by the {spec.title} function"
        for setting in spec.operator_settings:
            found.setdefault(setting.name, f"read by polythumb's commands with --target {spec.name} only")
    return found


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
