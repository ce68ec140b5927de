"""Builds a runtime at import, as every cloud's entrypoint does (``tests/test_cold_start_modules.py`` imports it
in a fresh interpreter to see which modules a cold start with the given THUMBS_* settings loads)."""

from __future__ import annotations

import os

from core.runtime import FunctionRuntime
from core.storage.port import Storage


def _never_opened(bucket: str) -> Storage:
    raise AssertionError(f"a cold start opened {bucket}: building a runtime must not touch storage")


runtime = FunctionRuntime(_never_opened)
assert runtime.config.dest_bucket == os.environ["THUMBS_DEST_BUCKET"]
