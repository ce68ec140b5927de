"""The runtime's cold start loads what handling an event needs, not rare-path tools (each cloud's entrypoint is
checked in tests/providers/<cloud>/: no serve code, no local backend)."""

from __future__ import annotations

import pytest

from tests.serve_support import UNCONFIGURED_COMPLETION, modules_loaded_by_importing

#: Loaded only when a TOML profile is parsed (tomllib) or a setting is refused (difflib's suggestion).
RARE_PATH_TOOLS = {"tomllib", "difflib"}


def test_the_runtime_loads_no_rare_path_tool() -> None:
    loaded = modules_loaded_by_importing("core.runtime", {"THUMBS_DEST_BUCKET": "thumbnails"})
    assert "core.runtime" in loaded
    assert not RARE_PATH_TOOLS & loaded


#: A runtime built the way each cloud's entrypoint builds one at import (storage never touched at start).
BUILD_A_RUNTIME = "tests.cold_start_runtime"


@pytest.mark.parametrize(
    ("settings", "loaded"),
    [
        ({}, set()),
        ({"THUMBS_NOTIFY": "file:events.jsonl"}, {"core.completion.events", "core.completion.targets"}),
        ({"THUMBS_MANIFEST": "true"}, {"core.completion.manifest", "core.completion.placeholders"}),
    ],
    ids=["defaults", "notify", "manifest"],
)
def test_the_completion_modules_load_with_their_settings_only(settings: dict[str, str], loaded: set[str]) -> None:
    """A runtime with no event target or manifest loads none of them; each setting loads its own (so the cold-start
    checks of the three clouds' entrypoints, which forbid these modules, are not vacuous)."""
    modules = modules_loaded_by_importing(BUILD_A_RUNTIME, {"THUMBS_DEST_BUCKET": "thumbnails", **settings})
    assert "core.runtime" in modules and "core.pipeline" in modules
    assert loaded <= UNCONFIGURED_COMPLETION & modules if loaded else not UNCONFIGURED_COMPLETION & modules


def test_a_url_mode_alone_builds_its_urls_on_first_use() -> None:
    """THUMBS_URL_MODE without manifests or events: nothing reads a URL at start (serve builds them per request)."""
    environ = {"THUMBS_DEST_BUCKET": "thumbnails", "THUMBS_URL_MODE": "public",
               "THUMBS_PUBLIC_BASE_URL": "https://cdn.example.com"}  # fmt: skip
    assert "core.completion.urls" not in modules_loaded_by_importing(BUILD_A_RUNTIME, environ)
