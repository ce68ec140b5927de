"""``polythumb verify``: prove a deployment makes thumbnails, from the outside, as a user would.

It uploads three generated originals to the deployed source (a JPEG whose EXIF orientation turns it,
a PNG with an alpha channel, and a file named ``.jpg`` that is not an image), waits for the
thumbnails with a timeout, checks their keys, pixel sizes, content types, cache control and metadata
against the settings the function runs with, then deletes the originals and waits for the
thumbnails to go (delete sync). Nothing here knows a cloud: the buckets come through the storage
port of the provider (:mod:`core.registry`), and the same code runs against a deployment and against
an emulator whose events something relays to the real entrypoint.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from core.config import Config
from core.errors import NotFound, PolythumbError
from core.imaging.geometry import Size, displayed_size, output_size
from core.imaging.types import CONTENT_TYPES, Box
from core.keys import (
    META_BOX,
    META_SOURCE,
    META_SOURCE_BUCKET,
    decode_meta_value,
    output_format,
    output_keys,
)
from core.storage.port import ObjectInfo, Storage, head_or_none

#: EXIF tag of the orientation, and the value "rotate 90 degrees clockwise to display".
_ORIENTATION_TAG, _ROTATE_90 = 0x0112, 6

#: Each run uploads under ``<prefix>polythumb-verify-<8 hex digits>/``, these three names.
RUN_PREFIX = "polythumb-verify-"
SAMPLE_NAMES = ("oriented.jpg", "alpha.png", "not-an-image.jpg")
_UPLOAD = re.compile(rf"{re.escape(RUN_PREFIX)}[0-9a-f]{{8}}/(?:{'|'.join(map(re.escape, SAMPLE_NAMES))})")


@dataclass(frozen=True)
class Sample:
    """One original uploaded by the verifier.

    Attributes:
        name: File name under the run's prefix.
        body: Its bytes.
        content_type: Content type it is uploaded with.
        displayed: Its size as a viewer shows it (EXIF orientation applied); None for a non-image,
            which must get no thumbnail at all.
    """

    name: str
    body: bytes
    content_type: str
    displayed: Size | None


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
    """The three originals: EXIF-rotated JPEG, PNG with alpha, and a ``.jpg`` that is not an image."""
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

    oriented, alpha, not_an_image = SAMPLE_NAMES
    return (
        Sample(oriented, jpeg.getvalue(), "image/jpeg", displayed_size(stored, _ROTATE_90)),
        Sample(alpha, png.getvalue(), "image/png", (240, 160)),
        Sample(not_an_image, b"polythumb verify: this is text, not a JPEG\n", "image/jpeg", None),
    )


def is_verify_upload(key: str, *, prefix: str) -> bool:
    """True for the key of an original a ``verify`` run uploads under ``prefix`` (and deletes again)."""
    return key.startswith(prefix) and _UPLOAD.fullmatch(key[len(prefix) :]) is not None


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
    """Upload the samples under ``prefix`` + a run id, wait for and check the thumbnails, delete, check again.

    Args:
        source: The deployed source bucket (the function's trigger).
        dest: Its destination bucket.
        config: The settings the deployed function runs with (sizes, key template, cache control...).
        prefix: Where uploads trigger the function (e.g. the Terraform's ``source_prefix``).
        timeout: Seconds to wait for the thumbnails to appear, and again for them to go.
        poll: Seconds between two looks.
        checks: Checks already made of the deployment itself (the provider's), reported first.
    """
    run = f"{prefix}{RUN_PREFIX}{uuid.uuid4().hex[:8]}/"
    report = Report(run, list(checks))
    uploaded = samples()
    expected = {sample.name: output_keys(config, run + sample.name) for sample in uploaded}
    try:
        for sample in uploaded:
            source.put(run + sample.name, sample.body, content_type=sample.content_type, if_match=None)
        report.add("upload originals", True, f"{len(uploaded)} objects under {source.bucket}/{run}")
    except PolythumbError as exc:
        report.add("upload originals", False, f"{exc.kind}: {exc}")
        return report

    images = [sample for sample in uploaded if sample.displayed is not None]
    wanted = [key for sample in images for key in expected[sample.name].values()]
    found, waited = _wait(dest, wanted, present=True, timeout=timeout, poll=poll, clock=clock, sleep=sleep)
    report.add("thumbnails appear", len(found) == len(wanted), f"{len(found)}/{len(wanted)} in {waited:.1f} s")
    for sample in images:
        assert sample.displayed is not None
        for box, key in expected[sample.name].items():
            info = found.get(key)
            if info is None:
                report.add(f"{sample.name} {box}", False, f"missing: {dest.bucket}/{key}")
                continue
            _check_thumbnail(
                report, dest, info, config=config, sample=sample, box=box, source_key=run + sample.name, source=source
            )

    # The non-image is refused by the function (not_an_image): by now, with the others done, nothing of it.
    strays = [key for key in expected[SAMPLE_NAMES[2]].values() if _exists(dest, key)]
    report.add("non-image makes no thumbnail", not strays, ", ".join(strays) or "none written")

    try:
        for sample in uploaded:
            source.delete(run + sample.name)
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
    report: Report, dest: Storage, info: ObjectInfo, *, config: Config, sample: Sample, box: Box,
    source_key: str, source: Storage,
) -> None:  # fmt: skip
    from PIL import Image

    assert sample.displayed is not None
    label = f"{sample.name} {box}"
    fmt = output_format(config, source_key)
    want = output_size(sample.displayed, box, config.fit)
    body = dest.get(info.key).body
    with Image.open(io.BytesIO(body)) as image:
        got: Size = image.size
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        decoded = (image.format or "").lower()
    problems = []
    if got != want:
        problems.append(f"size {got[0]}x{got[1]}, expected {want[0]}x{want[1]}")
    if decoded != fmt:
        problems.append(f"format {decoded}, expected {fmt}")
    if info.content_type != CONTENT_TYPES[fmt]:
        problems.append(f"content type {info.content_type}, expected {CONTENT_TYPES[fmt]}")
    if info.cache_control != config.cache_control:
        problems.append(f"cache control {info.cache_control!r}, expected {config.cache_control!r}")
    metadata = {name.lower(): value for name, value in info.metadata.items()}
    if decode_meta_value(metadata.get(META_SOURCE, "")) != source_key:
        problems.append(f"{META_SOURCE} {metadata.get(META_SOURCE)!r}, expected {source_key!r}")
    if decode_meta_value(metadata.get(META_SOURCE_BUCKET, "")) != source.bucket:
        problems.append(f"{META_SOURCE_BUCKET} {metadata.get(META_SOURCE_BUCKET)!r}, expected {source.bucket!r}")
    if metadata.get(META_BOX) != str(box):
        problems.append(f"{META_BOX} {metadata.get(META_BOX)!r}, expected {box}")
    if sample.name.endswith(".png") and fmt in ("png", "webp", "avif") and not has_alpha:
        problems.append("transparency lost")
    detail = "; ".join(problems) or f"{got[0]}x{got[1]} {info.content_type}, metadata and cache control"
    report.add(label, not problems, detail)


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
