"""Thumbnail identities never change by accident: keys and ``polythumb_params`` digests against a golden table.

``tests/data/golden_digests.json`` was recorded from the code as it was before profiles became one
``Config.profiles`` value (issue 22), and is never re-recorded: a row that differs means every deployment
with those settings would re-render (a digest) or orphan its thumbnails (a key). The matrix: the single
recipe with every format, fit, quality and metadata setting the defaults use, across the source extensions
``auto`` tells apart and a few key templates; profiles with several formats, quality tables, excludes and
animation kept; and, with manifests on, the manifest's digest and the completion event's settings digest
(a change would rewrite every manifest and re-key every event id).

Beside the table, the pipeline itself renders a sample of the matrix into memory: what it writes must carry
exactly the table's keys and digests.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, load_config
from core.events import ObjectEvent
from core.keys import META_PARAMS
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.storage import MemoryStorage
from tests.images import encode, gradient, jpeg_bytes, png_rgba_bytes

GOLDEN = Path(__file__).parent / "data" / "golden_digests.json"
ANIMATED_GIF = Path(__file__).parent / "data" / "corpus" / "gif-animated.gif"

#: Source keys ``THUMBS_FORMAT=auto`` tells apart (and a few shapes of key).
AUTO_KEYS = (
    "photos/a.jpg", "photos/b.JPEG", "c.png", "d/e.gif", "f.webp", "g.avif", "h.heic", "i.tiff", "j.bmp",
    "k.ico", "deep/x y/ü.jfif", "noext",
)  # fmt: skip
#: With a fixed format the extension decides nothing: three keys are enough.
FIXED_KEYS = ("photos/a.jpg", "c.png", "d/e.gif")

SIZES = "256x256,128x96,64"
TEMPLATES = (
    "{dir}/{stem}-{width}x{height}.{ext}",  # the default
    "thumbs/{dir}/{stem}.{srcext}/{size}.{ext}",
    "{dir}/{name}@{width}w{height}h.{ext}",
)

PROFILES: dict[str, Any] = {
    "profiles": {
        "avatars": {
            "match": ["*avatars/*"],
            "sizes": ["64x64", "256x256"],
            "formats": ["avif", "webp", "jpeg"],
            "fit": "smart",
            "quality": {"avif": 55, "jpeg": 80},
        },
        "products": {
            "match": ["products/*"],
            "exclude": ["products/raw/*"],
            "sizes": [512],
            "formats": ["webp", "auto"],
            "quality": 70,
        },
        "banners": {
            "match": ["banners/*"],
            "sizes": ["300x100", "120x40"],
            "fit": "cover",
            "formats": ["auto"],
            "animated": "keep",
            "key_template": "{dir}/thumbs/{stem}-{size}.{ext}",
        },
        "stickers": {"match": ["stickers/*"], "formats": ["auto", "png"], "animated": "keep"},
        "rest": {"match": ["*"]},  # THUMBS_SIZES, THUMBS_FORMAT, THUMBS_FIT, THUMBS_QUALITY, THUMBS_KEY_TEMPLATE
    }
}
PROFILE_KEYS = (
    "avatars/ada.jpg", "team/avatars/bob.PNG", "products/cup.webp", "products/mug.png", "products/raw/x.jpg",
    "banners/wave.gif", "banners/still.jpg", "banners/moving.webp", "stickers/s.gif", "stickers/t.webp",
    "stickers/u.jpg", "other/z.heic", "other/y.bmp",
)  # fmt: skip


def matrix() -> dict[str, dict[str, str]]:
    """Name -> settings of every configuration in the table."""
    cases: dict[str, dict[str, str]] = {}
    for fmt, fit, quality, strip in itertools.product(
        ("auto", "jpeg", "png", "webp", "avif"), ("contain", "cover", "smart"), (None, "75"), ("true", "false")
    ):
        settings = {"THUMBS_SIZES": SIZES, "THUMBS_FORMAT": fmt, "THUMBS_FIT": fit, "THUMBS_STRIP_METADATA": strip}
        if quality is not None:
            settings["THUMBS_QUALITY"] = quality
        cases[f"recipe/{fmt}/{fit}/q{quality or '-'}/strip={strip}"] = settings
    cases["recipe/defaults"] = {}
    for index, template in enumerate(TEMPLATES[1:], 1):
        cases[f"recipe/template{index}"] = {"THUMBS_SIZES": SIZES, "THUMBS_KEY_TEMPLATE": template}
    profiles = json.dumps(PROFILES)
    base = {"THUMBS_SIZES": "200x150,100", "THUMBS_FIT": "cover", "THUMBS_QUALITY": "90"}
    cases["profiles"] = {**base, "THUMBS_PROFILES": profiles}
    cases["profiles/keep-metadata"] = {**base, "THUMBS_PROFILES": profiles, "THUMBS_STRIP_METADATA": "false"}
    cases["profiles/webp-base"] = {**base, "THUMBS_PROFILES": profiles, "THUMBS_FORMAT": "webp",
                                   "THUMBS_KEY_TEMPLATE": TEMPLATES[1]}  # fmt: skip
    cases["manifest/recipe"] = {"THUMBS_SIZES": SIZES, "THUMBS_MANIFEST": "true"}
    cases["manifest/profiles"] = {**base, "THUMBS_PROFILES": profiles, "THUMBS_MANIFEST": "true",
                                  "THUMBS_PUBLIC_BASE_URL": "https://cdn.example.com/t/"}  # fmt: skip
    return cases


def keys_of(name: str, settings: Mapping[str, str]) -> tuple[str, ...]:
    if "THUMBS_PROFILES" in settings:
        return PROFILE_KEYS
    return AUTO_KEYS if settings.get("THUMBS_FORMAT", "auto") == "auto" else FIXED_KEYS


def outputs(config: Config, key: str) -> list[list[str]]:
    """``[key, box, format, params, profile]`` of every output of ``key``: the one place this test asks the code."""
    return [[o.key, str(o.box), o.format, o.params, o.profile] for o in config.profiles.outputs_for(key)]


def completion_digests(config: Config, key: str) -> dict[str, str]:
    """The manifest's ``polythumb_params`` and the event's settings digest of ``key``."""
    from core.completion.events import settings_digest
    from core.completion.manifest import manifest_params

    return {"manifest_params": manifest_params(config, key), "settings_digest": settings_digest(config, key)}


def table() -> dict[str, Any]:
    """The whole table, as the code computes it now."""
    found: dict[str, Any] = {}
    for name, settings in matrix().items():
        config = load_config(settings)
        rows: dict[str, Any] = {}
        for key in keys_of(name, settings):
            row: dict[str, Any] = {"outputs": outputs(config, key)}
            if config.manifest:
                row.update(completion_digests(config, key))
            rows[key] = row
        found[name] = {"settings": settings, "keys": rows}
    return found


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return loaded


def test_the_table_covers_the_matrix(golden: dict[str, Any]) -> None:
    assert set(golden) == set(matrix())
    rows = sum(len(o["outputs"]) for case in golden.values() for o in case["keys"].values())
    assert rows > 1000  # every case has outputs: a table of empty rows would pin nothing
    formats = {o[2] for case in golden.values() for k in case["keys"].values() for o in k["outputs"]}
    assert formats == {"jpeg", "png", "webp", "avif"}


def test_keys_and_digests_are_those_the_code_wrote_before(golden: dict[str, Any]) -> None:
    now = table()
    for name, case in golden.items():
        assert now[name]["settings"] == case["settings"], name
        for key, row in case["keys"].items():
            assert now[name]["keys"][key] == row, f"{name}: {key}"


#: Cases the pipeline renders for real (one per output format family, profiles, animation kept).
RENDERED = (
    "recipe/defaults", "recipe/jpeg/cover/q75/strip=false", "recipe/png/smart/q-/strip=true",
    "recipe/webp/contain/q75/strip=true", "recipe/avif/cover/q-/strip=false", "recipe/template1", "profiles",
)  # fmt: skip


@pytest.mark.parametrize("name", RENDERED)
def test_the_pipeline_writes_the_tables_keys_and_digests(name: str, golden: dict[str, Any]) -> None:
    case = golden[name]
    source, dest = MemoryStorage("src"), MemoryStorage("dst")
    stores = {"src": source, "dst": dest}
    config = load_config({**case["settings"], "THUMBS_DEST_BUCKET": "dst"})
    thumbnailer = Thumbnailer(config, stores.__getitem__)
    bodies = {
        ".gif": ANIMATED_GIF.read_bytes(),
        ".png": png_rgba_bytes(96, 64),
        ".webp": encode(gradient(40, 30, "RGBA"), "WEBP"),
    }
    keys = [key for key in case["keys"] if key.lower().endswith((".jpg", ".jpeg", ".png", ".gif", ".webp"))]
    for key in keys:
        body = bodies.get(key[key.rfind(".") :].lower(), jpeg_bytes(96, 64))
        source.put(key, body, content_type="application/octet-stream")
        outcome = thumbnailer.handle(ObjectEvent.created("src", key))
        expected = case["keys"][key]["outputs"]
        if not expected:
            assert outcome.status is Status.SKIPPED, key
            continue
        assert outcome.status is Status.OK, (key, outcome)
        written = {info.key: dest.head(info.key).metadata[META_PARAMS] for info in dest.list()}
        assert {o[0]: o[3] for o in expected}.items() <= written.items(), key


def test_the_default_row_is_the_digest_polythumb_has_always_written(golden: dict[str, Any]) -> None:
    """Spelled out once: the default recipe's digest of a JPEG's 256x256 thumbnail is this text's hash."""
    import hashlib

    [row] = golden["recipe/defaults"]["keys"]["photos/a.jpg"]["outputs"]
    assert row[:3] == ["photos/a-256x256.jpg", "256x256", "jpeg"]
    assert row[3] == hashlib.sha256(b"jpeg|None|contain|1|256x256").hexdigest()[:16]
