"""The runtime's cold start loads what handling an event needs, not rare-path tools (each cloud's entrypoint is
checked in tests/providers/<cloud>/: no serve code, no local backend)."""

from __future__ import annotations

from tests.serve_support import modules_loaded_by_importing

#: Loaded only when a TOML profile is parsed (tomllib) or a setting is refused (difflib's suggestion).
RARE_PATH_TOOLS = {"tomllib", "difflib"}


def test_the_runtime_loads_no_rare_path_tool() -> None:
    loaded = modules_loaded_by_importing("core.runtime", {"THUMBS_DEST_BUCKET": "thumbnails"})
    assert "core.runtime" in loaded
    assert not RARE_PATH_TOOLS & loaded
