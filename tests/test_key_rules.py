"""The one normalisation of rendered keys (:func:`core.storage.validation.collapse_slashes`), which key
rendering, the listing prefixes of directory deletes, the backfill's scan prefix and the start-time
overlap check all share: were they to disagree, a prefix could miss the keys it is meant to cover."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from core.config import load_config
from core.imaging.types import Box
from core.keys import render_key
from core.ops.backfill.keyspace import dest_scan_prefix
from core.prefixes import output_listing_prefix
from core.storage.validation import collapse_slashes


@given(st.text(alphabet="/ab.", max_size=30))
def test_runs_of_slashes_become_one_and_a_leading_slash_goes(text: str) -> None:
    tidy = collapse_slashes(text)
    assert "//" not in tidy and not tidy.startswith("/")
    assert tidy == re.sub("/+", "/", text).lstrip("/")
    assert collapse_slashes(tidy) == tidy


def test_every_renderer_of_a_key_or_prefix_tidies_alike() -> None:
    template = "//thumbs///{dir}//{stem}-{size}.{ext}"
    assert render_key(template, "a/b.jpg", Box(64, 64), "jpeg") == "thumbs/a/b-64x64.jpg"
    assert output_listing_prefix(template, "a") == "thumbs/a/"
    config = load_config({"THUMBS_DEST_BUCKET": "out", "THUMBS_KEY_TEMPLATE": template})
    assert dest_scan_prefix(config, "a/b") == "thumbs/a"  # the fixed text ends at {dir}
