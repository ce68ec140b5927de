"""Profiles: parsing and validation, key resolution, and every pipeline guarantee following the profiles."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.config import load_config
from core.errors import ConfigError
from core.events import ObjectEvent
from core.imaging.types import Fit
from core.keys import META_PARAMS, RenderSpec
from core.ops.backfill.planner import Planner
from core.ops.cli import main
from core.outcome import Action, SkipReason, Status
from core.pipeline import Thumbnailer
from core.storage import MemoryStorage
from core.storage.filesystem import FilesystemStorage
from tests.images import jpeg_bytes, png_rgba_bytes

CORPUS = Path(__file__).parent / "data" / "corpus"

TOML = """
[profiles.avatars]
match = ["avatars/*"]
sizes = ["64x64", "256x256"]
formats = ["avif", "webp", "jpeg"]
fit = "smart"
quality = { avif = 55, jpeg = 80 }

[profiles.products]
match = ["products/*"]
exclude = ["products/raw/*"]
sizes = [512]
formats = ["webp", "auto"]

[profiles.banners]
match = ["banners/*"]
sizes = ["300x100"]
fit = "cover"
formats = ["auto"]
animated = "keep"
key_template = "{dir}/thumbs/{stem}-{size}.{ext}"
"""

DOCUMENT: dict[str, Any] = {
    "profiles": {
        "avatars": {
            "match": ["avatars/*"],
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
        },
        "banners": {
            "match": ["banners/*"],
            "sizes": ["300x100"],
            "fit": "cover",
            "formats": ["auto"],
            "animated": "keep",
            "key_template": "{dir}/thumbs/{stem}-{size}.{ext}",
        },
    }
}

#: What the three folders make of one source each (key -> (size, format)).
EXPECTED = {
    "avatars/ada.jpg": {
        "avatars/ada-256x256.avif": ((256, 256), "AVIF"),
        "avatars/ada-256x256.webp": ((256, 256), "WEBP"),
        "avatars/ada-256x256.jpg": ((256, 256), "JPEG"),
        "avatars/ada-64x64.avif": ((64, 64), "AVIF"),
        "avatars/ada-64x64.webp": ((64, 64), "WEBP"),
        "avatars/ada-64x64.jpg": ((64, 64), "JPEG"),
    },
    "products/mug.png": {
        "products/mug-512x512.webp": ((300, 200), "WEBP"),
        "products/mug-512x512.png": ((300, 200), "PNG"),
    },
    "banners/wave.gif": {"banners/thumbs/wave-300x100.webp": ((300, 100), "WEBP")},
}


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _config(profiles: str, **extra: str) -> Any:
    return load_config({"THUMBS_PROFILES": profiles, **extra})


# -- parsing ------------------------------------------------------------------------------------------


def test_toml_file_json_file_and_inline_json_give_the_same_profiles(tmp_path: Path) -> None:
    from_toml = _config(_write(tmp_path, "p.toml", TOML)).profiles
    from_json = _config(_write(tmp_path, "p.json", json.dumps(DOCUMENT))).profiles
    inline = _config(json.dumps(DOCUMENT)).profiles

    assert from_toml == from_json == inline
    assert from_toml.named
    assert [p.name for p in from_toml.profiles] == ["avatars", "products", "banners"]  # file order: first match wins
    avatars = from_toml.profiles[0]
    assert [str(b) for b in avatars.sizes] == ["64x64", "256x256"]
    assert avatars.formats == ("avif", "webp", "jpeg")
    assert str(avatars.fit) == "smart"
    assert (avatars.quality_for("avif"), avatars.quality_for("jpeg"), avatars.quality_for("webp")) == (55, 80, None)


def test_fields_left_out_take_the_single_recipe_settings(tmp_path: Path) -> None:
    config = _config(
        json.dumps({"profiles": {"all": {"match": "*"}}}),
        THUMBS_SIZES="100x100",
        THUMBS_FORMAT="webp",
        THUMBS_QUALITY="70",
        THUMBS_FIT="cover",
    )
    (profile,) = config.profiles.profiles
    assert [str(b) for b in profile.sizes] == ["100x100"]
    assert profile.formats == ("webp",)
    assert profile.quality_for("webp") == 70
    assert str(profile.fit) == "cover"
    assert profile.animated == "first"
    assert profile.key_template == config.key_template


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"profiles": {"a": {"sizes": ["64"]}}}, "profile 'a', field 'match'"),
        ({"profiles": {"a": {"match": "*", "sizes": ["64x0"]}}}, "profile 'a', field 'sizes'"),
        ({"profiles": {"a": {"match": "*", "formats": ["gif"]}}}, "profile 'a', field 'formats'"),
        ({"profiles": {"a": {"match": "*", "formats": []}}}, "profile 'a', field 'formats'"),
        ({"profiles": {"a": {"match": "*", "fit": "fill"}}}, "profile 'a', field 'fit'"),
        ({"profiles": {"a": {"match": "*", "quality": {"jpeg": 101}}}}, "profile 'a', field 'quality'.jpeg"),
        ({"profiles": {"a": {"match": "*", "quality": {"heic": 50}}}}, "profile 'a', field 'quality'"),
        ({"profiles": {"a": {"match": "*", "animated": "loop"}}}, "profile 'a', field 'animated'"),
        (
            {"profiles": {"a": {"match": "*", "key_template": "{dir}/{nope}.{ext}"}}},
            "profile 'a', field 'key_template'",
        ),
        (
            {"profiles": {"a": {"match": "*", "formats": ["webp", "jpeg"], "key_template": "{dir}/{stem}-{size}.jpg"}}},
            "profile 'a', field 'key_template'",
        ),
        ({"profiles": {"a": {"match": "*", "size": ["64"]}}}, "profile 'a', field 'size'"),
        ({"profiles": {"a": {"match": []}}}, "profile 'a', field 'match'"),
        (
            {"profiles": {"b": {"match": "*"}, "c": {"match": "*", "fit": "cover", "sizes": ["20000x20000"]}}},
            "profile 'c', field 'sizes'",
        ),
        ({"profiles": {"a": {"match": "*", "effort": {"webp": 7}}}}, "profile 'a', field 'effort'.webp"),
        ({"profiles": {"a": {"match": "*", "effort": {"avif": 1.5}}}}, "profile 'a', field 'effort'.avif"),
        ({"profiles": {"a": {"match": "*", "effort": {"jpeg": 1}}}}, "jpeg has no encoder effort"),
        ({"profiles": {"a": {"match": "*", "effort": {"heic": 1}}}}, "profile 'a', field 'effort'.heic"),
        ({"profiles": {"a": {"match": "*", "effort": 3}}}, "profile 'a', field 'effort'"),
        ({"profiles": {}}, "'profiles' must be a non-empty table"),
        ({"recipes": {}}, "exactly one table, 'profiles'"),
    ],
)
def test_bad_documents_are_refused_naming_the_profile_and_field(document: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(json.dumps(document), THUMBS_MAX_PIXELS="100000000")
    assert "THUMBS_PROFILES" in str(caught.value)
    assert named in str(caught.value)


def test_bad_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    broken_toml = _write(tmp_path, "broken.toml", "[profiles.a\nmatch = 1")
    with pytest.raises(ConfigError, match=r"THUMBS_PROFILES=.*broken\.toml.*not valid TOML"):
        _config(broken_toml)
    bad_field = _write(tmp_path, "bad.toml", '[profiles.thumbs]\nmatch = ["*"]\nfit = "squash"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*profile 'thumbs', field 'fit'.*contain \| cover \| smart"):
        _config(bad_field)
    with pytest.raises(ConfigError, match=r"not valid JSON"):
        _config(_write(tmp_path, "p.json", "{nope"))
    with pytest.raises(ConfigError, match=r"cannot read the file"):
        _config(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        _config(_write(tmp_path, "p.yaml", "profiles: {}"))


def test_new_animation_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="THUMBS_MAX_FRAMES"):
        load_config({"THUMBS_MAX_FRAMES": "0"})
    with pytest.raises(ConfigError, match="THUMBS_MAX_DURATION"):
        load_config({"THUMBS_MAX_DURATION": "forever"})
    assert load_config({"THUMBS_MAX_DURATION": "7.5s", "THUMBS_MAX_FRAMES": "12"}).max_duration == 7.5


# -- resolving keys -----------------------------------------------------------------------------------


def test_first_match_wins_exclude_falls_through_and_unmatched_keys_are_filtered() -> None:
    config = _config(
        json.dumps(
            {
                "profiles": {
                    "raw": {"match": "products/raw/keep-*", "sizes": [32]},
                    **DOCUMENT["profiles"],
                }
            }
        )
    )
    assert config.profiles.profile_for("avatars/x.JPG").name == "avatars"  # type: ignore[union-attr]
    assert config.profiles.profile_for("products/raw/keep-1.png").name == "raw"  # type: ignore[union-attr]
    assert config.profiles.profile_for("products/raw/other.png") is None  # excluded from products, no later match
    assert config.profiles.profile_for("elsewhere/x.jpg") is None
    assert config.profiles.profile_for("avatars/notes.txt") is None  # THUMBS_INCLUDE still applies first
    assert config.profiles.explain("elsewhere/x.jpg")["reason"] == "no profile's match takes it"
    assert config.profiles.explain("avatars/notes.txt")["reason"] == "THUMBS_INCLUDE/THUMBS_EXCLUDE leave it out"


def test_outputs_are_every_size_in_every_format_largest_first_a_pure_function_of_the_key() -> None:
    config = _config(json.dumps(DOCUMENT))
    outputs = config.profiles.outputs_for("avatars/ada.jpg")
    assert [(o.key, str(o.box), o.format, o.quality) for o in outputs] == [
        ("avatars/ada-256x256.avif", "256x256", "avif", 55),
        ("avatars/ada-256x256.webp", "256x256", "webp", None),
        ("avatars/ada-256x256.jpg", "256x256", "jpeg", 80),
        ("avatars/ada-64x64.avif", "64x64", "avif", 55),
        ("avatars/ada-64x64.webp", "64x64", "webp", None),
        ("avatars/ada-64x64.jpg", "64x64", "jpeg", 80),
    ]
    assert len({o.params for o in outputs}) == 6  # one digest per (size, format)
    # "auto" next to a concrete format that it resolves to is one output, not two.
    assert [o.key for o in config.profiles.outputs_for("products/cup.webp")] == ["products/cup-512x512.webp"]
    # animated="keep" resolves auto to WebP for animation-capable sources, whatever the file holds.
    assert [o.format for o in config.profiles.outputs_for("banners/a.gif")] == ["webp"]
    assert [o.format for o in config.profiles.outputs_for("banners/a.jpg")] == ["jpeg"]


def test_the_single_recipe_is_one_default_profile_with_unchanged_keys_and_digests() -> None:
    config = load_config({"THUMBS_SIZES": "256x256,64x64", "THUMBS_QUALITY": "70", "THUMBS_FORMAT": "webp"})
    (profile,) = config.profiles.profiles
    assert profile.name == "default"
    outputs = config.profiles.outputs_for("a/b.jpg")
    assert [o.key for o in outputs] == ["a/b-256x256.webp", "a/b-64x64.webp"]
    assert [o.params for o in outputs] == [RenderSpec("webp", 70, Fit.CONTAIN, True).digest(o.box) for o in outputs]


def test_cli_config_prints_resolved_profiles_and_explain_names_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THUMBS_PROFILES", _write(tmp_path, "p.toml", TOML))
    assert main(["config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in shown["profiles"]] == ["avatars", "products", "banners"]
    assert shown["profiles"][0]["quality"] == {"avif": 55, "jpeg": 80}
    assert shown["profiles"][2]["key_template"] == "{dir}/thumbs/{stem}-{size}.{ext}"

    assert main(["profiles", "explain", "banners/wave.gif"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["profile"] == "banners"
    assert [(o["key"], o["format"], o["animated"]) for o in explained["outputs"]] == [
        ("banners/thumbs/wave-300x100.webp", "webp", "keep")
    ]

    monkeypatch.setenv("THUMBS_PROFILES", '{"profiles": {"x": {"match": "*", "fit": "zoom"}}}')
    assert main(["config"]) == 2
    assert "profile 'x', field 'fit'" in capsys.readouterr().err


# -- the pipeline, the local CLI and the backfill --------------------------------------------------------


def _scene(src: Path) -> None:
    (src / "avatars").mkdir(parents=True)
    (src / "products").mkdir()
    (src / "banners").mkdir()
    (src / "other").mkdir()
    (src / "avatars" / "ada.jpg").write_bytes(jpeg_bytes(640, 480))
    (src / "products" / "mug.png").write_bytes(png_rgba_bytes(300, 200))
    (src / "banners" / "wave.gif").write_bytes((CORPUS / "gif-animated.gif").read_bytes())
    (src / "other" / "skip.jpg").write_bytes(jpeg_bytes(64, 64))


def _rendered(dest: Path) -> dict[str, tuple[tuple[int, int], str, int]]:
    found = {}
    for path in dest.rglob("*"):
        if path.is_file() and ".polythumb" not in path.parts:
            with Image.open(path) as image:
                found[path.relative_to(dest).as_posix()] = (
                    image.size,
                    str(image.format),
                    getattr(image, "n_frames", 1),
                )
    return found


def _run_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> tuple[Path, Path]:
    """The three folders rendered by ``polythumb run`` with the TOML profiles: (source, destination)."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    _scene(src)
    monkeypatch.setenv("THUMBS_PROFILES", _write(tmp_path, "v1.toml", TOML))
    assert main(["run", str(src), "--out", str(dest), "--workers", "1", "--no-progress", *flags]) == 0
    return src, dest


def test_local_cli_renders_three_folders_with_three_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dest = _run_scene(tmp_path, monkeypatch, "--json")

    records = {r["key"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    found = _rendered(dest)
    expected = {key: value for outputs in EXPECTED.values() for key, value in outputs.items()}
    assert {key: (size, fmt) for key, (size, fmt, _) in found.items()} == expected
    assert found["banners/thumbs/wave-300x100.webp"][2] == 42  # animated, every frame kept
    assert records["other/skip.jpg"]["reason"] == "filtered"
    for source, outputs in EXPECTED.items():
        assert sorted(o["key"] for o in records[source]["outputs"]) == sorted(outputs)

    # Idempotent per output: a second run writes nothing.
    assert main(["run", str(src), "--out", str(dest), "--workers", "1", "--json", "--no-progress"]) == 0
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["reason"] for r in again} == {"unchanged", "filtered"}


def _thumbnailer(profiles: dict[str, Any], stores: dict[str, MemoryStorage], **settings: str) -> Thumbnailer:
    config = load_config({"THUMBS_PROFILES": json.dumps(profiles), "THUMBS_DEST_BUCKET": "dst", **settings})
    return Thumbnailer(config, stores.__getitem__)


def test_a_changed_format_quality_renders_only_those_outputs_and_delete_removes_every_format() -> None:
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("dst")}
    stores["src"].put("avatars/ada.jpg", jpeg_bytes(400, 300), content_type="image/jpeg")
    event = ObjectEvent.created("src", "avatars/ada.jpg")

    first = _thumbnailer(DOCUMENT, stores).handle(event)
    assert first.status is Status.OK and len(first.outputs) == 6
    assert {o.action for o in first.outputs} == {Action.WRITTEN}
    again = _thumbnailer(DOCUMENT, stores).handle(event)
    assert again.reason is SkipReason.UNCHANGED

    changed = json.loads(json.dumps(DOCUMENT))
    changed["profiles"]["avatars"]["quality"]["jpeg"] = 60
    outcome = _thumbnailer(changed, stores).handle(event)
    written = sorted(o.key for o in outcome.outputs if o.action is Action.WRITTEN)
    assert written == ["avatars/ada-256x256.jpg", "avatars/ada-64x64.jpg"]
    for output in _thumbnailer(changed, stores).config.profiles.outputs_for("avatars/ada.jpg"):
        assert stores["dst"].head(output.key).metadata[META_PARAMS] == output.params

    stores["src"].delete("avatars/ada.jpg")
    deleted = _thumbnailer(changed, stores).handle(ObjectEvent.deleted("src", "avatars/ada.jpg"))
    assert sorted(o.key for o in deleted.outputs if o.action is Action.DELETED) == sorted(EXPECTED["avatars/ada.jpg"])
    assert list(stores["dst"].list("")) == []


def test_loop_guard_and_limits_follow_the_profile() -> None:
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("src")}
    stores["dst"] = stores["src"]
    document = {"profiles": {"all": {"match": "*", "formats": ["webp", "jpeg"], "sizes": [32]}}}
    config = load_config({"THUMBS_PROFILES": json.dumps(document), "THUMBS_MAX_BYTES": "1MB"})
    thumbnailer = Thumbnailer(config, stores.__getitem__)
    stores["src"].put("p/a.jpg", jpeg_bytes(100, 100), content_type="image/jpeg")
    outcome = thumbnailer.handle(ObjectEvent.created("src", "p/a.jpg"))
    assert sorted(o.key for o in outcome.outputs) == ["p/a-32x32.jpg", "p/a-32x32.webp"]
    for output in outcome.outputs:  # each output, written into the source bucket, is recognised as ours
        echo = thumbnailer.handle(ObjectEvent.created("src", output.key))
        assert echo.reason is SkipReason.POLYTHUMB_OUTPUT
    stores["src"].put("p/big.jpg", b"\xff" * 2_000_000, content_type="image/jpeg")
    assert thumbnailer.handle(ObjectEvent.created("src", "p/big.jpg")).error_kind == "too_large"


def test_backfill_dry_run_reports_exactly_the_stale_and_orphaned_outputs_after_a_profile_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dest = _run_scene(tmp_path, monkeypatch)
    capsys.readouterr()

    # v2: avatars drop AVIF and 64x64 (orphans) and change JPEG quality (stale); products change nothing;
    # banners is removed (its output becomes an orphan of a filtered source).
    v2 = json.loads(json.dumps(DOCUMENT))
    v2["profiles"]["avatars"].update(sizes=["256x256"], formats=["webp", "jpeg"], quality={"jpeg": 70})
    del v2["profiles"]["banners"]
    monkeypatch.setenv("THUMBS_PROFILES", _write(tmp_path, "v2.json", json.dumps(v2)))

    assert main(["backfill", str(src), "--out", str(dest), "--dry-run", "--json", "--sample", "100"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["missing"], report["stale"], report["current"], report["orphaned"]) == (0, 1, 1, 5)
    assert report["samples"]["stale"] == ["avatars/ada.jpg"]
    assert report["samples"]["current"] == ["products/mug.png"]
    assert sorted(report["samples"]["orphaned"]) == [
        "avatars/ada-256x256.avif",
        "avatars/ada-64x64.avif",
        "avatars/ada-64x64.jpg",
        "avatars/ada-64x64.webp",
        "banners/thumbs/wave-300x100.webp",
    ]
    assert report["orphan_reasons"] == {"not_configured": 4, "source_filtered": 1}

    # The stale source re-renders exactly its stale output: the JPEG (its WebP's settings did not change).
    config = load_config({"THUMBS_PROFILES": json.dumps(v2)})
    planner = Planner(FilesystemStorage(src), FilesystemStorage(dest), config)
    entries = {entry.key: entry for entry in planner.entries()}
    assert entries["avatars/ada.jpg"].outputs == ("avatars/ada-256x256.jpg",)


def test_outputs_have_the_expected_pixels_and_formats(tmp_path: Path) -> None:
    """A smoke check on the bytes: each format decodes as itself."""
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("dst")}
    stores["src"].put("avatars/ada.jpg", jpeg_bytes(640, 480), content_type="image/jpeg")
    outcome = _thumbnailer(DOCUMENT, stores).handle(ObjectEvent.created("src", "avatars/ada.jpg"))
    for record in outcome.outputs:
        body = stores["dst"].get(record.key).body
        with Image.open(io.BytesIO(body)) as image:
            assert (image.size, image.format) == EXPECTED["avatars/ada.jpg"][record.key]
        assert stores["dst"].head(record.key).content_type == record.content_type


def test_a_smart_crop_redone_for_one_size_crops_as_the_first_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """The focus does not depend on which sizes a render redoes: a lost output comes back with the same crop.

    (Not the same bytes: alone, the small size is resized from a smaller reduced decode.) The crop of
    each box is read from the plan, as a fraction of the decoded image.
    """
    from core.imaging import plan

    crops: list[dict[str, tuple[float, ...]]] = []
    original = plan.plan_resizes

    def spy(decoded: tuple[int, int], **options: Any) -> list[plan.Step]:
        steps = original(decoded, **options)
        width, height = decoded
        crops.append({str(s.box): (s.region[0] / width, s.region[1] / height, s.region[2] / width,
                                   s.region[3] / height) for s in steps})  # fmt: skip
        return steps

    monkeypatch.setattr(plan, "plan_resizes", spy)
    profiles = {"profiles": {"p": {"match": "*", "sizes": ["300x100", "64x64"], "fit": "smart", "formats": ["webp"]}}}
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("dst")}
    stores["src"].put("a/ada.jpg", jpeg_bytes(1200, 1200), content_type="image/jpeg")
    event = ObjectEvent.created("src", "a/ada.jpg")
    _thumbnailer(profiles, stores, THUMBS_ENGINE="pillow").handle(event)
    stores["dst"].delete("a/ada-64x64.webp")
    outcome = _thumbnailer(profiles, stores, THUMBS_ENGINE="pillow").handle(event)

    assert [o.key for o in outcome.outputs if o.action is Action.WRITTEN] == ["a/ada-64x64.webp"]
    first, redone = crops
    assert set(first) == {"300x100", "64x64"} and set(redone) == {"64x64"}
    assert redone["64x64"] == pytest.approx(first["64x64"], abs=1e-6)


def test_a_config_built_by_hand_gets_the_one_recipe_of_its_own_fields() -> None:
    from core.config import Config
    from core.imaging.types import Box

    config = Config(boxes=(Box(64, 64),), format="webp", include=("*.jpg",))
    assert not config.profiles.named
    assert [(o.key, o.format) for o in config.profiles.outputs_for("a/b.jpg")] == [("a/b-64x64.webp", "webp")]
    assert config.profiles.outputs_for("a/b.png") == []  # its THUMBS_INCLUDE too
    assert Config().profiles == load_config({}).profiles


# -- encoder effort ------------------------------------------------------------------------------------


def _effort_document(effort: dict[str, int] | None) -> dict[str, Any]:
    profile: dict[str, Any] = {"match": ["*"], "sizes": [64], "formats": ["avif", "webp", "jpeg", "png"]}
    if effort is not None:
        profile["effort"] = effort
    return {"profiles": {"all": profile}}


def test_effort_left_out_or_set_to_the_default_keeps_every_digest() -> None:
    """Existing thumbnails stay current: an effort enters polythumb_params only when it changes the bytes."""
    digests = {}
    for name, effort in (("unset", None), ("defaults", {"webp": 4, "avif": 0, "png": 6})):
        config = load_config({"THUMBS_PROFILES": json.dumps(_effort_document(effort))})
        digests[name] = {output.format: output.params for output in config.profiles.outputs_for("a/b.jpg")}
    assert digests["unset"] == digests["defaults"]
    single = load_config({"THUMBS_SIZES": "64x64", "THUMBS_FORMAT": "webp"})
    # as the single recipe writes it
    assert single.profiles.outputs_for("a/b.jpg")[0].params == digests["unset"]["webp"]

    faster = load_config({"THUMBS_PROFILES": json.dumps(_effort_document({"webp": 2, "avif": 4}))})
    changed = {output.format: output.params for output in faster.profiles.outputs_for("a/b.jpg")}
    assert {fmt for fmt in changed if changed[fmt] != digests["unset"][fmt]} == {"webp", "avif"}
    assert faster.profiles.profile_for("a/b.jpg").describe()["effort"] == {"avif": 4, "webp": 2}  # type: ignore[union-attr]


def test_a_changed_effort_reaches_the_encoder_and_renders_only_that_format_again() -> None:
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("dst")}
    stores["src"].put("photos/a.jpg", jpeg_bytes(400, 300), content_type="image/jpeg")
    event = ObjectEvent.created("src", "photos/a.jpg")
    first = _thumbnailer(_effort_document(None), stores).handle(event)
    assert first.status is Status.OK and len(first.outputs) == 4
    before = {key: stores["dst"].get(key).body for key in (o.key for o in first.outputs)}

    outcome = _thumbnailer(_effort_document({"webp": 0}), stores).handle(event)
    assert sorted(o.key for o in outcome.outputs if o.action is Action.WRITTEN) == ["photos/a-64x64.webp"]
    after = stores["dst"].get("photos/a-64x64.webp").body
    assert after != before["photos/a-64x64.webp"], "libwebp method 0 writes other bytes than method 4"
    assert Image.open(io.BytesIO(after)).size == (64, 48)


def test_the_engine_is_not_part_of_a_thumbnails_digest() -> None:
    """THUMBS_ENGINE changes how a thumbnail is made, never what it is: switching engines re-renders nothing."""
    from core.imaging import vips_engine

    engines = ("auto", "pillow", "vips") if vips_engine.import_failure() is None else ("auto", "pillow")
    params = set()
    for engine in engines:
        config = load_config({"THUMBS_PROFILES": json.dumps(_effort_document({"webp": 2})), "THUMBS_ENGINE": engine})
        params.add(tuple(output.params for output in config.profiles.outputs_for("a/b.jpg")))
    assert len(params) == 1
