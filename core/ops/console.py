"""What every ``polythumb`` command shares: exit statuses, the THUMBS_* flags and the progress bar.

Its own module so :mod:`core.ops.cli` and the commands it dispatches to (:mod:`core.ops.backfill.cli`) both import it
without importing each other.
"""

from __future__ import annotations

import argparse
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# flag -> setting; every flag is optional and overrides the environment.
_SETTING_FLAGS = {
    "sizes": "THUMBS_SIZES",
    "format": "THUMBS_FORMAT",
    "quality": "THUMBS_QUALITY",
    "fit": "THUMBS_FIT",
    "key_template": "THUMBS_KEY_TEMPLATE",
    "include": "THUMBS_INCLUDE",
    "exclude": "THUMBS_EXCLUDE",
    "max_pixels": "THUMBS_MAX_PIXELS",
    "max_bytes": "THUMBS_MAX_BYTES",
    "cache_control": "THUMBS_CACHE_CONTROL",
    "strip_metadata": "THUMBS_STRIP_METADATA",
    "on_delete": "THUMBS_ON_DELETE",
    "profiles": "THUMBS_PROFILES",
    "max_frames": "THUMBS_MAX_FRAMES",
}


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override THUMBS_* variables)")
    for flag, setting in _SETTING_FLAGS.items():
        group.add_argument(f"--{flag.replace('_', '-')}", dest=flag, metavar="VALUE", help=f"overrides {setting}")


def setting_overrides(args: argparse.Namespace, *, dest: str | None) -> dict[str, str | None]:
    """The THUMBS_* values the command line sets (None: not given), for :func:`core.config.load_config`."""
    overrides = {setting: getattr(args, flag, None) for flag, setting in _SETTING_FLAGS.items()}
    overrides["THUMBS_DEST_BUCKET"] = dest
    return overrides


class Progress:
    """A one-line progress bar on a terminal; silent when not a TTY."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._shown = False

    def update(self, done: int, total: int) -> None:
        if not self._enabled or total == 0:
            return
        width = 30
        filled = width * done // total
        self._stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False
