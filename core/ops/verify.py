"""``polythumb verify``: prove a deployment makes thumbnails, from the outside, as a user would.

It uploads generated originals to the deployed source (a JPEG whose EXIF orientation turns it, a PNG
with an alpha channel, and a file named ``.jpg`` that is not an image), waits for the thumbnails with a
timeout, checks their keys, pixel sizes, content types, cache control and metadata against the settings
the function runs with, then deletes the originals and waits for the thumbnails to go (delete sync).

With ``THUMBS_PROFILES`` every profile gets the samples at a key it takes (:func:`plan_uploads`: its
``match`` glob filled in under the verified prefix; an animated GIF for a profile only GIFs reach), and
every output of each is checked: each size in each format. A profile no sample can reach is a failed
check, naming it. Nothing here knows a cloud: the buckets come through the storage port of the provider
(:mod:`core.registry`), and the same code runs against a deployment and against an emulator whose events
something relays to the real entrypoint.
"""

from __future__ import annotations

import io
import posixpath
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from core.config import Config
from core.errors import InvalidKey, NotFound, PolythumbError
from core.imaging.geometry import Size, displayed_size, output_size
from core.imaging.types import CONTENT_TYPES
from core.keys import META_BOX, META_PARAMS, META_SOURCE, META_SOURCE_BUCKET, decode_meta_value
from core.profiles import Output, Profile, Profiles
from core.storage.port import ObjectInfo, Storage, head_or_none

#: EXIF tag of the orientation, and the value "rotate 90 degrees clockwise to display".
_ORIENTATION_TAG, _ROTATE_90 = 0x0112, 6

#: Each run uploads under a folder ``polythumb-verify-<8 hex digits>``: directly below ``<prefix>``, or, where
#: the profiles match keys of another shape, where a profile's ``match`` glob puts it.
RUN_PREFIX = "polythumb-verify-"
#: The samples' names; a name after the first is the same sample under another extension of its kind.
SAMPLE_NAMES = ("oriented.jpg", "alpha.png", "not-an-image.jpg", "animated.gif")
_ALIASES = {"oriented.jpg": ("oriented.jpeg", "oriented.jpe", "oriented.jfif")}
_EVERY_NAME = "|".join(re.escape(name) for name in (*SAMPLE_NAMES, *(n for a in _ALIASES.values() for n in a)))
#: ``<anything>polythumb-verify-<8 hex>/<anything>/<anything><sample name>`` (its extension in any case): where
#: a profile's glob puts text around the run folder and before the file name.
_UPLOAD = re.compile(rf".*?{re.escape(RUN_PREFIX)}[0-9a-f]{{8}}/(?:.*/)?[^/]*(?i:{_EVERY_NAME})", re.DOTALL)
#: Frames of the animated sample (a profile keeping animation must keep them all).
_ANIMATED_FRAMES = 3


@dataclass(frozen=True)
class Sample:
    """One original uploaded by the verifier.

    Attributes:
        name: File name under the run's folder.
        body: Its bytes.
        content_type: Content type it is uploaded with.
        displayed: Its size as a viewer shows it (EXIF orientation applied); None for a non-image,
            which must get no thumbnail at all.
        aliases: Other names with an extension of the same kind (``.jpeg`` for ``.jpg``), for a profile
            whose ``match`` ends in one of them.
        frames: Its frames (more than one: an animation).
        fallback: Uploaded only for a profile no other image reaches (the animated GIF).
    """

    name: str
    body: bytes
    content_type: str
    displayed: Size | None
    aliases: tuple[str, ...] = ()
    frames: int = 1
    fallback: bool = False


@dataclass(frozen=True)
class Upload:
    """One original placed where a profile takes it, and the outputs the deployment must make of it.

    Attributes:
        sample: What is uploaded.
        key: Where (under the verified prefix, in the run's folder).
        profile: The profile that takes it (None for the non-image, when none does).
        outputs: Every output of ``key``: each size in each format of ``profile``.
    """

    sample: Sample
    key: str
    profile: Profile | None
    outputs: tuple[Output, ...]


@dataclass(frozen=True)
class Check:
    """One line of the verdict table."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class Report:
    """Every check of one run, in order."""

    prefix: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every check passed (and there was at least one)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append(Check(name, passed, detail))

    def table(self) -> str:
        """The pass/fail table, one check per line."""
        width = max((len(check.name) for check in self.checks), default=10)
        lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
        lines += [f"{c.name:<{width}}  {'pass' if c.passed else 'FAIL':<6}  {c.detail}" for c in self.checks]
        lines.append(f"{'verdict':<{width}}  {'pass' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def samples() -> tuple[Sample, ...]:
    """The originals: EXIF-rotated JPEG, PNG with alpha, a ``.jpg`` that is not an image, and an animated GIF
    (for a profile only GIFs reach)."""
    from PIL import Image

    stored: Size = (320, 200)
    jpeg = io.BytesIO()
    photo = Image.new("RGB", stored, (200, 60, 40))
    photo.paste((40, 90, 200), (0, 0, stored[0] // 2, stored[1]))
    exif = Image.Exif()
    exif[_ORIENTATION_TAG] = _ROTATE_90
    photo.save(jpeg, "JPEG", quality=90, exif=exif)

    png = io.BytesIO()
    logo = Image.new("RGBA", (240, 160), (0, 0, 0, 0))
    logo.paste((30, 160, 90, 255), (60, 40, 180, 120))
    logo.save(png, "PNG")

    gif = io.BytesIO()
    frames = [Image.new("RGB", (200, 120), colour) for colour in ((220, 40, 40), (40, 200, 40), (40, 40, 220))]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    oriented, alpha, not_an_image, animated = SAMPLE_NAMES
    return (
        Sample(oriented, jpeg.getvalue(), "image/jpeg", displayed_size(stored, _ROTATE_90), aliases=_ALIASES[oriented]),
        Sample(alpha, png.getvalue(), "image/png", (240, 160)),
        Sample(not_an_image, b"polythumb verify: this is text, not a JPEG\n", "image/jpeg", None),
        Sample(animated, gif.getvalue(), "image/gif", (200, 120), frames=_ANIMATED_FRAMES, fallback=True),
    )


def is_verify_upload(key: str, *, prefix: str) -> bool:
    """True for the key of an original a ``verify`` run uploads under ``prefix`` (and deletes again)."""
    return key.startswith(prefix) and _UPLOAD.fullmatch(key[len(prefix) :]) is not None


def plan_uploads(
    profiles: Profiles, *, prefix: str, folder: str, originals: Sequence[Sample]
) -> tuple[list[Upload], list[Profile]]:
    """Where each sample goes so that every profile renders at least one image, and the profiles none reaches.

    Each image sample goes to a key under ``prefix`` in the run's ``folder`` that the profile takes (its
    ``match`` glob filled in, the filter and earlier profiles respected); a fallback sample only where no
    other image reached the profile. The non-image goes where the first profile taking a ``.jpg`` would
    render it, so the refusal is the deployment's own.
    """
    uploads: list[Upload] = []
    missed: list[Profile] = []
    images = [sample for sample in originals if sample.displayed is not None]
    for profile in profiles.profiles:
        placed = _place(profiles, profile, [s for s in images if not s.fallback], prefix=prefix, folder=folder)
        placed = placed or _place(profiles, profile, [s for s in images if s.fallback], prefix=prefix, folder=folder)
        uploads += placed
        if not placed:
            missed.append(profile)
    for sample in (s for s in originals if s.displayed is None):
        placed = [upload for profile in profiles.profiles
                  for upload in _place(profiles, profile, [sample], prefix=prefix, folder=folder)]  # fmt: skip
        uploads.append(placed[0] if placed else Upload(sample, f"{prefix}{folder}/{sample.name}", None, ()))
    return uploads, missed


def _place(
    profiles: Profiles, profile: Profile, originals: Sequence[Sample], *, prefix: str, folder: str
) -> list[Upload]:
    placed = []
    for sample in originals:
        for key in sample_keys(profile, prefix=prefix, folder=folder, names=(sample.name, *sample.aliases)):
            try:
                if profiles.profile_for(key) != profile:
                    continue
                outputs = tuple(profiles.outputs_of(profile, key))
            except InvalidKey:
                continue
            placed.append(Upload(sample, key, profile, outputs))
            break
    return placed


def sample_keys(profile: Profile, *, prefix: str, folder: str, names: Sequence[str]) -> Iterator[str]:
    """Candidate keys for a sample: under ``prefix``, in ``folder``, named one of ``names``, shaped like one of
    ``profile``'s ``match`` globs (each ``*`` filled so the whole glob matches; which profile really takes a
    key is for the caller to ask).

    First the key every recipe gets (``<prefix><folder>/<name>``, taken by ``*``, ``*.png``...); then, per
    glob, the folder in one of its stars (whichever lets the key start with ``prefix``) and the file name in
    the last one. A glob with no star names one key, never a sample's.
    """
    for name in names:
        yield f"{prefix}{folder}/{name}"
    for glob in profile.match:
        pieces = _concrete(glob).split("\0")
        stars, tail = len(pieces) - 1, pieces[-1]
        for name in names:
            if stars == 0 or not name.lower().endswith(tail.lower()):
                continue
            stem = name[: len(name) - len(tail)]
            for star in range(stars):
                fills = [""] * stars
                fills[-1] = stem
                head = "".join(piece + fill for piece, fill in zip(pieces[:star], fills, strict=False)) + pieces[star]
                if prefix.startswith(head):
                    lead = prefix[len(head) :]
                elif head.startswith(prefix):
                    lead = ""
                else:
                    continue
                if star == stars - 1:
                    fills[star] = f"{lead}{folder}/{stem}"
                else:
                    fills[star] = lead + folder + ("" if pieces[star + 1].startswith("/") else "/")
                yield "".join(piece + fill for piece, fill in zip(pieces, [*fills, ""], strict=True))


def _concrete(glob: str) -> str:
    """``glob`` with each ``?`` and ``[...]`` replaced by one character it admits, each ``*`` by a NUL."""
    out, index = [], 0
    while index < len(glob):
        char = glob[index]
        close = glob.find("]", index + 2) if char == "[" else -1
        if char == "*":
            out.append("\0")
        elif char == "?":
            out.append("x")
        elif close != -1:
            members = glob[index + 1 : close]
            if members[0] == "!":  # fnmatch's negation ("^" is a member there)
                out.append(next(c for c in "x0_-" if c not in members[1:]))
            else:
                out.append(members[0])
            index = close
        else:
            out.append(char)
        index += 1
    return "".join(out)


def verify(
    source: Storage,
    dest: Storage,
    config: Config,
    *,
    prefix: str,
    timeout: float = 120.0,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    checks: Sequence[Check] = (),
) -> Report:
    """Upload the samples under ``prefix`` in a run folder, wait for and check every output, delete, check again.

    Every profile gets at least one sample it takes (the single recipe: ``<prefix>polythumb-verify-<id>/``),
    and every output of each sample is checked: each size in each format, its pixel size, content type,
    cache control and metadata (the source, the box and the settings digest the function wrote).

    Args:
        source: The deployed source bucket (the function's trigger).
        dest: Its destination bucket.
        config: The settings the deployed function runs with (sizes, key template, profiles, cache control...).
        prefix: Where uploads trigger the function (e.g. the Terraform's ``source_prefix``).
        timeout: Seconds to wait for the thumbnails to appear, and again for them to go.
        poll: Seconds between two looks.
        checks: Checks already made of the deployment itself (the provider's), reported first.
    """
    folder = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}"
    report = Report(f"{prefix}{folder}/", list(checks))
    uploads, missed = plan_uploads(config.profiles, prefix=prefix, folder=folder, originals=samples())
    for profile in missed:
        report.add(
            f"profile {profile.name}", False,
            f"no sample key under {prefix or 'the bucket'!r} is taken by it ({', '.join(profile.match)}); verify "
            f"uploads {', '.join(sorted({u.sample.name for u in uploads}))} and can check none of its outputs",
        )  # fmt: skip
    try:
        for upload in uploads:
            source.put(upload.key, upload.sample.body, content_type=upload.sample.content_type, if_match=None)
        under = posixpath.commonprefix([upload.key for upload in uploads]).rpartition("/")[0]
        report.add("upload originals", True, f"{len(uploads)} objects under {source.bucket}/{under}/")
    except PolythumbError as exc:
        report.add("upload originals", False, f"{exc.kind}: {exc}")
        return report

    images = [upload for upload in uploads if upload.sample.displayed is not None]
    wanted = [output.key for upload in images for output in upload.outputs]
    found, waited = _wait(dest, wanted, present=True, timeout=timeout, poll=poll, clock=clock, sleep=sleep)
    report.add("thumbnails appear", len(found) == len(wanted), f"{len(found)}/{len(wanted)} in {waited:.1f} s")
    for upload in images:
        several = len({output.format for output in upload.outputs}) > 1
        for output in upload.outputs:
            label = f"{posixpath.basename(upload.key)} {output.box}" + (f" {output.format}" if several else "")
            if config.profiles.named and upload.profile is not None:
                label = f"{upload.profile.name}: {label}"
            info = found.get(output.key)
            if info is None:
                report.add(label, False, f"missing: {dest.bucket}/{output.key}")
                continue
            report.add(label, *_check_thumbnail(dest, info, config=config, upload=upload, output=output, source=source))

    # The non-image is refused by the function (not_an_image): by now, with the others done, nothing of it.
    strays = [o.key for u in uploads if u.sample.displayed is None for o in u.outputs if _exists(dest, o.key)]
    report.add("non-image makes no thumbnail", not strays, ", ".join(strays) or "none written")

    try:
        for upload in uploads:
            source.delete(upload.key)
    except PolythumbError as exc:
        report.add("delete originals", False, f"{exc.kind}: {exc}")
        return report
    if config.on_delete == "delete":
        left, waited = _wait(dest, wanted, present=False, timeout=timeout, poll=poll, clock=clock, sleep=sleep)
        gone = f"{len(wanted) - len(left)}/{len(wanted)} gone in {waited:.1f} s"
        report.add("delete removes thumbnails", not left, gone)
        _clean(dest, list(left))  # leave nothing of the run behind, whatever the verdict
    else:
        _clean(dest, wanted)
        report.add("delete removes thumbnails", True, "skipped: THUMBS_ON_DELETE=keep (cleaned up by verify)")
    return report


def _check_thumbnail(
    dest: Storage, info: ObjectInfo, *, config: Config, upload: Upload, output: Output, source: Storage
) -> tuple[bool, str]:
    """Whether the stored ``output`` is what the settings say, and the problems found (or what was checked)."""
    from PIL import Image

    sample = upload.sample
    assert sample.displayed is not None
    fmt = output.format
    want = output_size(sample.displayed, output.box, output.fit)
    problems = []
    try:
        with Image.open(io.BytesIO(dest.get(info.key).body)) as image:
            got: Size = image.size
            has_alpha = "A" in image.getbands() or "transparency" in image.info
            decoded = (image.format or "").lower()
            frames = getattr(image, "n_frames", 1)
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's ways of saying "not an image it reads"
        return False, f"not a readable image ({exc})"
    if got != want:
        problems.append(f"size {got[0]}x{got[1]}, expected {want[0]}x{want[1]}")
    if decoded != fmt:
        problems.append(f"format {decoded}, expected {fmt}")
    if info.content_type != CONTENT_TYPES[fmt]:
        problems.append(f"content type {info.content_type}, expected {CONTENT_TYPES[fmt]}")
    if info.cache_control != config.cache_control:
        problems.append(f"cache control {info.cache_control!r}, expected {config.cache_control!r}")
    metadata = {name.lower(): value for name, value in info.metadata.items()}
    if decode_meta_value(metadata.get(META_SOURCE, "")) != upload.key:
        problems.append(f"{META_SOURCE} {metadata.get(META_SOURCE)!r}, expected {upload.key!r}")
    if decode_meta_value(metadata.get(META_SOURCE_BUCKET, "")) != source.bucket:
        problems.append(f"{META_SOURCE_BUCKET} {metadata.get(META_SOURCE_BUCKET)!r}, expected {source.bucket!r}")
    if metadata.get(META_BOX) != str(output.box):
        problems.append(f"{META_BOX} {metadata.get(META_BOX)!r}, expected {output.box}")
    if metadata.get(META_PARAMS) != output.params:  # the function renders with other settings than these
        problems.append(f"{META_PARAMS} {metadata.get(META_PARAMS)!r}, expected {output.params!r}")
    if sample.content_type == "image/png" and fmt in ("png", "webp", "avif") and not has_alpha:
        problems.append("transparency lost")
    keeps = output.animated == "keep" and fmt == "webp" and sample.frames > 1
    if frames != (sample.frames if keeps else 1):
        problems.append(f"{frames} frames, expected {sample.frames if keeps else 1}")
    checked = f"{got[0]}x{got[1]} {info.content_type}" + (f", {frames} frames" if frames > 1 else "")
    return not problems, "; ".join(problems) or f"{checked}, metadata and cache control"


def _clean(storage: Storage, keys: Sequence[str]) -> None:
    """Best effort: the verifier may hold read-only rights on the destination (then the keys stay)."""
    for key in keys:
        try:
            storage.delete(key)
        except PolythumbError:
            return


def _exists(storage: Storage, key: str) -> bool:
    return head_or_none(storage, key) is not None


def _wait(
    storage: Storage, keys: Sequence[str], *, present: bool, timeout: float, poll: float,
    clock: Callable[[], float], sleep: Callable[[float], None],
) -> tuple[dict[str, ObjectInfo], float]:  # fmt: skip
    """Look at ``keys`` until all are there (``present``) or all are gone, or ``timeout`` passes.

    Returns the objects still present (found, when waiting for them) and the seconds waited.
    """
    start = clock()
    seen: dict[str, ObjectInfo] = {}
    while True:
        seen = {}
        for key in keys:
            try:
                seen[key] = storage.head(key)
            except NotFound:
                continue
        done = len(seen) == len(keys) if present else not seen
        if done or clock() - start >= timeout:
            return seen, clock() - start
        sleep(poll)


def settings_from(environment: Mapping[str, str]) -> dict[str, str]:
    """The ``THUMBS_*`` entries of a deployment's environment (other variables are the platform's)."""
    return {name: value for name, value in environment.items() if name.startswith("THUMBS_")}
