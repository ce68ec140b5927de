"""The ``THUMBS_*`` vocabulary: every shared setting, declared once (:class:`core.settings.Setting`).

Every provider's function and the ``polythumb`` commands read these; :func:`core.config.load_config`
validates them at start, and the documentation's configuration reference is generated from :data:`GROUPS`
(meanings in Markdown, links relative to that page). A provider's own settings are declared in its
descriptor (:class:`core.registry.ProviderSpec`), with the same :class:`~core.settings.Setting` type.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.imaging.types import ENGINES, FAST_EXTRA_HINT, MAX_PIXELS_CEILING, Box, Fit
from core.settings import ByteSize, Choice, CommaList, Duration, Flag, Kind, Seconds, Setting, Text, WholeNumber
from core.syntax import KEY_PLACEHOLDERS, MANIFEST_PLACEHOLDERS, MAX_EDGE, check_template, parse_boxes

OUTPUT_FORMATS = ("auto", "jpeg", "png", "webp", "avif")
DELETE_POLICIES = ("delete", "keep")
URL_MODES = ("none", "public", "signed")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: THUMBS_OTEL: the OpenTelemetry export, off by default (the metrics are read from the log lines).
OTEL_EXPORTS = ("none", "otlp")
OTEL_EXTRA_HINT = (
    "pip install 'polythumb[otel]' (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http); in a cloud "
    "function, build its package with `polythumb package <cloud> --with-otel`"
)
DEFAULT_KEY_TEMPLATE = "{dir}/{stem}-{width}x{height}.{ext}"
DEFAULT_MANIFEST_KEY = "{dir}/{name}.thumbs.json"  # one per source: a.jpg and a.png keep theirs apart
#: The longest signed URL S3 (SigV4), GCS (V4) and Azure (user delegation key) all accept: 7 days.
MAX_URL_TTL = 7 * 24 * 3600
#: Where signed ad-hoc outputs are stored under the destination (a key space of their own).
DEFAULT_ADHOC_PREFIX = "_polythumb/adhoc/"
#: The longest a signed ad-hoc URL may be valid: a year.
MAX_SIGNED_TTL = 365 * 24 * 3600

#: Extensions polythumb renders by default (matched case-insensitively on the key).
DEFAULT_INCLUDE = (
    "*.jpg", "*.jpeg", "*.jpe", "*.jfif", "*.png", "*.gif", "*.webp", "*.avif",
    "*.heic", "*.heif", "*.tif", "*.tiff", "*.bmp", "*.ico",
)  # fmt: skip


# -- the kinds only this vocabulary uses ---------------------------------------------------------------------


class Boxes(Kind):
    """Comma-separated boxes ``WxH`` (or ``N`` for a square), as :class:`Box` values."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return f"comma-separated boxes WIDTHxHEIGHT (or one number for a square), each edge 1..{MAX_EDGE}, e.g. 128x128"

    def parse(self, name: str, value: str) -> tuple[Box, ...]:
        return parse_boxes(value, name)


class Template(Kind):
    """A key template: plain text and ``{placeholder}`` fields (:func:`core.syntax.check_template`)."""

    __slots__ = ("names_source", "placeholders")

    def __init__(self, placeholders: tuple[str, ...] = KEY_PLACEHOLDERS, names_source: bool = False) -> None:
        self.placeholders = placeholders
        self.names_source = names_source

    @property
    def accepted(self) -> str:
        fields = " ".join(f"`{{{p}}}`" for p in self.placeholders)
        source = ", at least one of `{stem}` `{name}`" if self.names_source else ""
        return (
            f"a key template of text and the placeholders {fields}{source}: plain placeholders only (no format "
            "spec, conversion or attribute), at most 16 of them and 1024 characters, no `.`/`..` segment or "
            "trailing `/` (runs of `/` collapse; no leading slash needed for top-level keys)"
        )

    def parse(self, name: str, value: str) -> str:
        check_template(value, name, placeholders=self.placeholders, names_source=self.names_source)
        return value


class HeaderValue(Kind):
    """An HTTP header value: printable ASCII only (no line break can smuggle in a header)."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return "a Cache-Control header value of printable ASCII, e.g. 'public, max-age=86400'"

    def parse(self, name: str, value: str) -> str:
        if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
            raise self.refuse(name, value)
        return value


class BaseUrl(Kind):
    """The http(s) prefix thumbnail keys are appended to; the value always ends with ``/``."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return (
            "an http(s) URL without user info, query or fragment, the prefix thumbnail keys are appended to, "
            "e.g. https://cdn.example.com/thumbs/"
        )

    def parse(self, name: str, value: str) -> str:
        parsed = urlsplit(value)
        if "@" in parsed.netloc:  # the value is not echoed: it holds a password
            raise ConfigError(
                f"{name} holds credentials (user:password@); they would be copied into every public manifest and "
                f"event; accepted values: {self.accepted}"
            )
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise self.refuse(name, value)
        return value if value.endswith("/") else value + "/"


class Targets(Kind):
    """Comma-separated ``scheme:...`` URIs (each scheme's own checks run when the runtime starts)."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return (
            "comma-separated URIs such as file:events.jsonl or https://hooks.example.com/thumbnails "
            "(THUMBS_NOTIFY is split at commas: write a comma inside a URL as %2C)"
        )

    def parse(self, name: str, value: str) -> tuple[str, ...]:
        targets = CommaList().parse(name, value)
        for index, target in enumerate(targets):
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
                after_url = index > 0 and "://" in targets[index - 1]
                raise ConfigError(
                    f"{name} target {target.split('?')[0]!r} is not valid (it has no scheme"
                    + (", so a comma inside the URL before it split that URL in two" if after_url else "")
                    + f"); accepted values: {self.accepted}"
                )
        return targets


class Secret(Kind):
    """A key used exactly as given (a receiver verifies with the same bytes); only whitespace is refused."""

    __slots__ = ()
    verbatim = True

    @property
    def accepted(self) -> str:
        return (
            "the webhook's HMAC key, used exactly as given (leading and trailing whitespace included, as the "
            "receiver must use it)"
        )

    def parse(self, name: str, value: str) -> str:
        if not value.strip():
            raise ConfigError(f"{name} is only whitespace; accepted values: {self.accepted}")
        return value


class ServeKeys(Kind):
    """``kid:secret`` pairs (:func:`core.serve_signing.parse_keys`); an error never echoes a secret."""

    __slots__ = ()

    # core.serve_signing is imported here, not at the top: a function without serve keys never loads it.

    @property
    def accepted(self) -> str:
        from core.serve_signing import KEYS_ACCEPTED

        return KEYS_ACCEPTED

    def parse(self, name: str, value: str) -> object:
        from core.serve_signing import parse_keys

        return parse_keys(name, value)


class ByteLimit(ByteSize):
    """A size in bytes, as :class:`ByteSize`, where ``0`` is allowed (it turns the feature off)."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return "0, or a size in bytes, optionally with a unit (KB, MB, KiB, MiB), e.g. 256KiB"

    def parse(self, name: str, value: str) -> int:
        return 0 if value.strip() == "0" else super().parse(name, value)


class KeyPrefix(Kind):
    """A key prefix under the destination: '/'-separated segments ending in '/', no '.' or '..' segment."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return (
            "a key prefix of '/'-separated segments of letters, digits, '_', '-' and '.', ending in '/', with no '.' "
            f"or '..' segment and no leading '/', e.g. {DEFAULT_ADHOC_PREFIX}"
        )

    def parse(self, name: str, value: str) -> str:
        segments = value.split("/")
        if (
            not value.endswith("/")
            or len(value) > 200
            or any(not re.fullmatch(r"[A-Za-z0-9_.-]+", s) or s in (".", "..") for s in segments[:-1])
        ):
            raise self.refuse(name, value)
        return value


class Engine(Choice):
    """An imaging engine; ``vips`` must load here (else the start fails, not every render)."""

    __slots__ = ()

    def parse(self, name: str, value: str) -> str:
        engine = super().parse(name, value)
        if engine == "vips":
            from core.imaging import vips_engine  # loads Pillow and pyvips: only when libvips is asked for

            reason = vips_engine.import_failure()
            if reason is not None:
                raise ConfigError(f"{name}=vips but the libvips engine cannot run here: {reason}; {FAST_EXTRA_HINT}")
        return engine


class OtelExport(Choice):
    """The OpenTelemetry export; ``otlp`` needs the SDK and the exporter importable (else the start fails)."""

    __slots__ = ()

    def parse(self, name: str, value: str) -> str:
        export = super().parse(name, value)
        if export != "none":
            from core.telemetry import missing_modules  # looks the modules up without importing them

            missing = missing_modules()
            if missing:
                raise ConfigError(f"{name}={export} but {', '.join(missing)} cannot be imported; {OTEL_EXTRA_HINT}")
        return export


# -- the vocabulary ------------------------------------------------------------------------------------------

_GLOBS = "comma-separated globs on the source key, case-insensitive (`*` crosses `/`)"

#: The settings, by topic, in the order the documentation lists them.
GROUPS: tuple[tuple[str, tuple[Setting, ...]], ...] = (
    ("Outputs", (
        Setting(
            "THUMBS_DEST_BUCKET", Text("a bucket or container name (locally: a directory)"), field="dest_bucket",
            aliases=("THUMBNAIL_BUCKET_NAME",), default_text="(required on clouds; `--out` locally)",
            meaning="The bucket or container that receives the thumbnails (locally: a directory). It may equal the "
            "source: the loop guard skips polythumb's own outputs.",
        ),
        Setting(
            "THUMBS_SIZES", Boxes(), field="boxes", default="256x256", aliases=("THUMBNAIL_SIZE",),
            meaning="The boxes each source gets a thumbnail for, e.g. `128x128,512x512`: at most 64 (sizes × "
            "formats at most 128 per source); an edge a written format cannot encode (WebP: 16383) is refused at "
            "start. The first releases' `THUMBNAIL_SIZE=128,128` is read too.",
        ),
        Setting(
            "THUMBS_KEY_TEMPLATE", Template(), field="key_template", default=DEFAULT_KEY_TEMPLATE,
            meaning="The output key. `{srcext}` is the source's extension without the dot; the size placeholders "
            "give the box, not the measured size, so keys are stable. A source whose key would put a `.`/`..` "
            "segment into an output key fails as `invalid_key`. See [one output per source]"
            "(#one-output-per-source).",
        ),
        Setting(
            "THUMBS_FORMAT", Choice(OUTPUT_FORMATS), field="format", default="auto",
            meaning="The output format; `auto` picks it from the source key's extension "
            "([output formats](architecture.md#imaging)).",
        ),
        Setting(
            "THUMBS_QUALITY", WholeNumber(1, 100), field="quality",
            default_text="per format (JPEG 85, WebP 80, AVIF 60)",
            meaning="The encoder quality of the lossy formats.",
        ),
        Setting(
            "THUMBS_FIT", Choice(tuple(Fit)), field="fit", default="contain",
            meaning="`contain`: inside the box, never upscaled; `cover`: the exact box, centred crop; `smart`: "
            "the exact box, cropped around the most salient region ([profiles](profiles.md#smart-crop)).",
        ),
        Setting(
            "THUMBS_STRIP_METADATA", Flag(), field="strip_metadata", default="true",
            meaning="Strip EXIF (GPS included), XMP and ICC from the thumbnails; `false` keeps EXIF with the "
            "orientation reset.",
        ),
        Setting(
            "THUMBS_CACHE_CONTROL", HeaderValue(), field="cache_control", default="public, max-age=86400",
            meaning="The Cache-Control of every thumbnail (keys are stable and overwritten on change, so not "
            "`immutable`).",
        ),
        Setting(
            "THUMBS_PROFILES", Text("a `.toml` or `.json` file, or the JSON itself"),
            meaning="Named recipes per path ([profiles](profiles.md)). Unset: the settings of this section are the "
            "one recipe.",
        ),
    )),
    ("Which sources, and limits", (
        Setting(
            "THUMBS_INCLUDE", CommaList(_GLOBS), field="include", default=",".join(DEFAULT_INCLUDE),
            default_text="the image extensions " + " ".join(f"`{glob}`" for glob in DEFAULT_INCLUDE),
            meaning="Only keys matching one of these globs get thumbnails.",
        ),
        Setting(
            "THUMBS_EXCLUDE", CommaList(_GLOBS), field="exclude",
            meaning="Keys matching one of these globs get none, even if included.",
        ),
        Setting(
            "THUMBS_MAX_PIXELS", WholeNumber(1, MAX_PIXELS_CEILING), field="max_pixels", default="200000000",
            meaning="Refuse images over this many pixels, from the header, before decoding (a 200 MP phone photo "
            "passes; decompression bombs do not). Each cloud's deploy derives it from the function's memory "
            "([memory and the pixel limit](deploy/index.md#memory-and-the-pixel-limit)).",
        ),
        Setting(
            "THUMBS_MAX_BYTES", ByteSize(), field="max_bytes", default="64MiB",
            meaning="Refuse sources over this size before downloading them.",
        ),
        Setting(
            "THUMBS_MAX_FRAMES", WholeNumber(1, 100_000), field="max_frames", default="300",
            meaning='An animation kept by `animated = "keep"` may have at most this many frames; beyond, its '
            "first frame is rendered, with a warning.",
        ),
        Setting(
            "THUMBS_MAX_DURATION", Seconds(), field="max_duration", default="60",
            meaning="... and may last at most this many seconds.",
        ),
        Setting(
            "THUMBS_ON_DELETE", Choice(DELETE_POLICIES), field="on_delete", default="delete",
            meaning="Delete or keep the thumbnails when their original is deleted.",
        ),
    )),
    ("Running", (
        Setting(
            "THUMBS_LOG_LEVEL", Choice(LOG_LEVELS), field="log_level", default="INFO",
            meaning="The least severe [log record](logs.md) written.",
        ),
        Setting(
            "THUMBS_ENGINE", Engine(ENGINES), field="engine", default="auto", deprecated=("POLYTHUMB_ENGINE",),
            meaning="`auto`: libvips where it is faster, Pillow elsewhere; `pillow`; `vips`: every source libvips "
            "decodes (refused at start without `polythumb[fast]`). Never changes a thumbnail or its digest. "
            "`POLYTHUMB_ENGINE` is a deprecated alias (one WARNING at start).",
        ),
        Setting(
            "THUMBS_OTEL", OtelExport(OTEL_EXPORTS), field="otel", default="none",
            meaning="`none`: no telemetry SDK is loaded; the [metrics](observability.md) are read from the log "
            "lines. `otlp`: also export each event's span and the same metrics with the OpenTelemetry SDK over "
            "OTLP/HTTP, configured by the standard `OTEL_EXPORTER_OTLP_*` variables (needs `polythumb[otel]`; "
            "loading the SDK adds hundreds of milliseconds to a cold start).",
        ),
    )),
    ("Completion: events, manifests and URLs", (
        Setting(
            "THUMBS_NOTIFY", Targets(), field="notify", default_text="(none: no events, no cost)",
            meaning="Where [completion events](completion.md) go: `file:PATH` (JSON lines), `https://...` (a "
            "signed webhook), and each provider's schemes ([below](#provider-settings)).",
        ),
        Setting(
            "THUMBS_NOTIFY_SECRET", Secret(), field="notify_secret", default_text="(none; required with a webhook)",
            meaning="The HMAC-SHA256 key of the webhook's `Polythumb-Signature` header; never logged or printed.",
        ),
        Setting(
            "THUMBS_MANIFEST", Flag(), field="manifest", default="false",
            meaning="Write a JSON [manifest](completion.md#manifests) per source next to its thumbnails (outputs, "
            "BlurHash, dominant colour, LQIP).",
        ),
        Setting(
            "THUMBS_MANIFEST_KEY", Template(MANIFEST_PLACEHOLDERS, names_source=True), field="manifest_key",
            default=DEFAULT_MANIFEST_KEY,
            meaning="The manifest's key, one per source. With `THUMBS_MANIFEST=true`, a key a thumbnail template "
            "could also give is refused at start. A manifest left at the earlier default "
            "`{dir}/{stem}.thumbs.json` is removed when its source is rendered again or deleted.",
        ),
        Setting(
            "THUMBS_PUBLIC_BASE_URL", BaseUrl(), field="public_base_url",
            meaning="The CDN or bucket-website URL the output keys are appended to, for the `url` of each output.",
        ),
        Setting(
            "THUMBS_URL_MODE", Choice(URL_MODES), field="url_mode",
            default_text="`public` with a base URL, else `none`",
            meaning="How each output's `url` is made: `none`, no URL; `public`, the base URL and the key; `signed`, "
            "a pre-signed GET URL (S3 presign, GCS V4, Azure user-delegation SAS; [output URLs]"
            "(completion.md#output-urls)).",
        ),
        Setting(
            "THUMBS_URL_TTL", Duration(MAX_URL_TTL, why="7 d is the longest S3, GCS and Azure signed URLs allow"),
            field="url_ttl", default="3600",
            meaning="The lifetime of a signed URL.",
        ),
    )),
    ("Serving on first request", (
        Setting(
            "THUMBS_SERVE_SOURCE_BUCKET", Text("a bucket or container name (locally: a directory)"),
            field="serve_source_bucket", default_text="(required by the serve function; `SRC` locally)",
            meaning="The bucket or container the [serve function](serve.md) reads originals from when a thumbnail "
            "is requested before it exists (the upload function's source).",
        ),
        Setting(
            "THUMBS_SERVE_CONCURRENCY", WholeNumber(1, 1024), field="serve_concurrency", default="4",
            meaning="Renders one serve container runs at once; a request that would start another is answered "
            "`503` with `Retry-After` (requests for outputs that exist are never held back).",
        ),
        Setting(
            "THUMBS_SERVE_INLINE_MAX", ByteLimit(), field="serve_inline_max", default="0",
            meaning="With `THUMBS_URL_MODE` `public` or `signed`, outputs up to this size are answered with their "
            "bytes instead of a redirect; `0` always redirects. Without an output URL every output is answered with "
            "its bytes.",
        ),
        Setting(
            "THUMBS_SERVE_ADHOC", Flag(), field="serve_adhoc", default="false",
            meaning="Allow [signed ad-hoc outputs](serve.md#signed-ad-hoc-outputs): sizes, fits and formats outside "
            "the profiles, only through a URL signed with `THUMBS_SERVE_KEYS`.",
        ),
        Setting(
            "THUMBS_SERVE_KEYS", ServeKeys(), field="serve_keys", default_text="(none)",
            meaning="The HMAC-SHA256 keys of signed ad-hoc URLs, as `kid:secret` pairs: the first signs, all "
            "verify (rotation). Read once per container; never logged or printed.",
        ),
        Setting(
            "THUMBS_SERVE_ADHOC_PREFIX", KeyPrefix(), field="serve_adhoc_prefix", default=DEFAULT_ADHOC_PREFIX,
            meaning="Where ad-hoc outputs are stored under the destination (`PREFIX` + source key + `/WxH-FIT.EXT`); "
            "a prefix whose keys a thumbnail or manifest template could also give is refused at start.",
        ),
        Setting(
            "THUMBS_SERVE_ADHOC_MAX_EDGE", WholeNumber(1, MAX_EDGE), field="serve_adhoc_max_edge", default="2048",
            meaning="The largest width or height a signed ad-hoc URL may ask for (and never more pixels than "
            "`THUMBS_MAX_PIXELS`); a larger one is refused with `403` before the source is read.",
        ),
        Setting(
            "THUMBS_SERVE_SIGNED_MAX_TTL", Duration(MAX_SIGNED_TTL), field="serve_signed_max_ttl", default="7d",
            meaning="How far in the future a signed ad-hoc URL's expiry may be: a URL signed for longer is refused.",
        ),
    )),
)  # fmt: skip

#: Every shared setting, in documentation order.
VOCABULARY: tuple[Setting, ...] = tuple(setting for _, settings in GROUPS for setting in settings)
#: Their names.
SETTINGS: tuple[str, ...] = tuple(setting.name for setting in VOCABULARY)
