"""Running ``polythumb verify`` against an emulator, with something standing in for the cloud's event path.

On an emulator nothing renders by itself: there is no function host. Each provider's test starts the
real entrypoint and a :class:`Relay` thread that feeds it the platform's events for what ``verify``
uploads and deletes (AWS: moto's own S3 -> SQS notifications, polled as Lambda's event source mapping
would; GCP and Azure: a listing of the source, turned into the CloudEvents / Event Grid events the
platform would send). ``verify`` itself runs as the command a user runs, in a subprocess, and only
uploads, waits and checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: The settings the function under test runs with, and that ``verify`` reads: not the defaults, so the
#: checks prove the settings reached both sides.
SETTINGS: Mapping[str, str] = {"THUMBS_SIZES": "160x120,48x48", "THUMBS_CACHE_CONTROL": "public, max-age=3600"}

#: A profiles deployment: three folders, three recipes (several formats, a quality table, a crop, animation kept,
#: a key template of its own), and a profile only GIFs reach (verify uploads its animated sample there).
PROFILES = {
    "profiles": {
        "avatars": {"match": "*/avatars/*", "sizes": [64, "96x72"], "formats": ["avif", "webp", "jpeg"],
                    "fit": "smart"},
        "products": {"match": "*/products/*", "sizes": [128], "formats": ["webp", "auto"], "quality": {"webp": 70}},
        "banners": {"match": "*/banners/*", "sizes": ["120x40"], "fit": "cover", "formats": ["auto"],
                    "animated": "keep", "key_template": "{dir}/animated/{stem}-{size}.{ext}"},
        "moving": {"match": "*.gif", "sizes": [80], "animated": "keep"},
    }
}  # fmt: skip
PROFILE_SETTINGS: Mapping[str, str] = {"THUMBS_PROFILES": json.dumps(PROFILES)}
#: Every output of the profiles deployment (2 x 3 x 2 avatars, 4 products, 2 banners, 1 moving), and some labels.
PROFILE_OUTPUTS = 19
PROFILE_CHECKS = (
    "avatars: oriented.jpg 96x72 avif", "avatars: alpha.png 64x64 jpeg", "products: alpha.png 128x128 png",
    "products: oriented.jpg 128x128 webp", "banners: oriented.jpg 120x40", "moving: animated.gif 80x80",
)  # fmt: skip


class Relay:
    """Call ``step`` again and again on a thread until stopped; the first exception is kept and re-raised."""

    def __init__(self, step: Callable[[], None], *, interval: float = 0.2) -> None:
        self._step = step
        self._interval = interval
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="verify-relay", daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._error is not None:
            raise AssertionError(f"the relay failed: {self._error!r}") from self._error

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except BaseException as exc:  # reported by __exit__, in the test's thread
                self._error = exc
                return
            self._stop.wait(self._interval)


class ListingDiff:
    """What changed in a listing since the last look: created or replaced keys, and deleted ones."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[Any, Any]] = {}

    def update(self, listing: Mapping[str, tuple[Any, Any]]) -> tuple[list[str], dict[str, Any]]:
        """``listing`` maps key -> (revision, what a delete event needs); returns (created, deleted -> last)."""
        created = [key for key, (revision, _) in listing.items() if self.seen.get(key, (None,))[0] != revision]
        deleted = {key: last for key, (_, last) in self.seen.items() if key not in listing}
        self.seen = dict(listing)
        return created, deleted


def run_verify(
    provider: str, *args: str, environment: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``polythumb verify <provider> <args>`` in a fresh interpreter, with the test's THUMBS_* settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "THUMBNAIL_"))}
    env |= {**SETTINGS, **(environment or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "core.ops.cli", "verify", provider, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def assert_verified(
    result: subprocess.CompletedProcess[str],
    *,
    sizes: tuple[str, ...] = ("160x120", "48x48"),
    labels: tuple[str, ...] | None = None,
) -> None:
    """The run passed, and its table shows every check the verifier makes: for each of ``sizes`` of the single
    recipe, or the checks named ``labels``."""
    table = result.stdout
    assert result.returncode == 0, f"verify failed:\n{table}\n{result.stderr[-3000:]}"
    checks = ["upload originals", "thumbnails appear", "non-image makes no thumbnail", "delete removes thumbnails"]
    if labels is None:
        labels = tuple(f"{sample} {size}" for sample in ("oriented.jpg", "alpha.png") for size in sizes)
    checks += labels
    for check in checks:
        assert any(line.startswith(check) and " pass " in line for line in table.splitlines()), (check, table)
    assert table.rstrip().endswith("pass")
