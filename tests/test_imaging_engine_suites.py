"""The imaging, corpus, limits, pipeline and local suites again, under each engine forced.

``auto`` picks the engine per source (small test images mostly go to Pillow),
so the original modules exercise mainly the Pillow engine. Here every test
that states a property of thumbnails (orientation, sRGB conversion, alpha,
modes, metadata stripping, limits before decoding, classified errors, the
pipeline's outputs) runs once with the engine forced to ``pillow`` and once to
``vips``, which sends every JPEG, still PNG and still WebP through libvips
whatever its size. The engine is a render argument (the setting
``THUMBS_ENGINE``), which the adopted tests do not pass: the fixture forces it
where the imaging layer decides (:func:`core.imaging.engine.uses_vips`), and
through ``THUMBS_ENGINE`` for the CLI subprocesses.

Left out: the tests that instrument Pillow's own decoder and resizer (they
observe *how* the Pillow engine works, not what a thumbnail is), and the
memory-probe control, which assumes Pillow holds a 100 Mpx raster (libvips
streams it; ``test_imaging_engine`` checks that instead).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import ModuleType

import pytest
from PIL import ImageFile

from core.imaging import engine as engines
from core.imaging import vips_engine
from core.imaging.types import Box, Fit
from tests import test_imaging, test_imaging_corpus, test_imaging_limits, test_local, test_pipeline

PILLOW_INTERNALS = {
    "test_draft_decodes_a_large_jpeg_at_a_reduced_size",
    "test_draft_size_is_computed_in_stored_orientation",
    "test_many_boxes_come_from_one_decode_each_from_a_larger_result",
    "test_cover_boxes_reuse_a_larger_cover_of_the_same_region",
    "test_the_rss_probe_would_notice_a_decode",
}


@pytest.fixture(autouse=True, params=["pillow", "vips"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Forces one engine for the whole test (subprocesses get it through THUMBS_ENGINE)."""
    if request.param == "vips" and not vips_engine.available():
        pytest.skip("the libvips engine is optional: pip install 'polythumb[fast]'")
    decide = engines.uses_vips

    def forced(image: ImageFile.ImageFile, data: bytes, *, boxes: Sequence[Box], fit: Fit, engine: str = "") -> bool:
        return decide(image, data, boxes=boxes, fit=fit, engine=request.param)

    monkeypatch.setattr(engines, "uses_vips", forced)
    monkeypatch.setenv("THUMBS_ENGINE", request.param)
    monkeypatch.delenv("POLYTHUMB_ENGINE", raising=False)
    yield request.param


def _adopt(module: ModuleType) -> None:
    """Collects ``module``'s tests (and the fixtures they need) here, under the engine fixture."""
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("test_") and name not in PILLOW_INTERNALS and callable(value):
            globals()[name] = value
        elif hasattr(value, "_fixture_function_marker") or hasattr(value, "_pytestfixturefunction"):
            globals().setdefault(name, value)


for _module in (test_imaging, test_imaging_corpus, test_imaging_limits, test_pipeline, test_local):
    _adopt(_module)
