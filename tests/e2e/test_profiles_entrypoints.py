"""Profiles on every entrypoint: three folders, three recipes, through each platform's real event path.

The fixture below builds each platform's rig (see :mod:`tests.rigs`) with ``THUMBS_PROFILES`` (inline JSON,
as a cloud deployment would set it) added to the suite's settings; a rig whose function runs in a server of
its own starts one with those settings.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.keys import META_PARAMS, META_SOURCE, decode_meta_value
from tests.e2e.conftest import ENTRYPOINTS, entrypoint_rig
from tests.images import jpeg_bytes, png_rgba_bytes
from tests.rigs.base import EntrypointRig

CORPUS = Path(__file__).parents[1] / "data" / "corpus"

PROFILES = {
    "profiles": {
        "avatars": {
            "match": "*/avatars/*",
            "sizes": [64, "96x72"],
            "formats": ["avif", "webp", "jpeg"],
            "fit": "smart",
        },
        "products": {"match": "*/products/*", "sizes": [128], "formats": ["webp", "auto"], "quality": {"webp": 70}},
        "banners": {
            "match": "*/banners/*",
            "sizes": ["120x40"],
            "fit": "cover",
            "formats": ["auto"],
            "animated": "keep",
            "key_template": "{dir}/animated/{stem}-{size}.{ext}",
        },
    }
}

#: name -> {output name: ((width, height), format, frames)}
EXPECTED = {
    "avatars/ada.jpg": {
        "avatars/ada-96x72.avif": ((96, 72), "AVIF", 1),
        "avatars/ada-96x72.webp": ((96, 72), "WEBP", 1),
        "avatars/ada-96x72.jpg": ((96, 72), "JPEG", 1),
        "avatars/ada-64x64.avif": ((64, 64), "AVIF", 1),
        "avatars/ada-64x64.webp": ((64, 64), "WEBP", 1),
        "avatars/ada-64x64.jpg": ((64, 64), "JPEG", 1),
    },
    "products/mug.png": {
        "products/mug-128x128.webp": ((128, 85), "WEBP", 1),
        "products/mug-128x128.png": ((128, 85), "PNG", 1),
    },
    "banners/wave.gif": {"banners/animated/wave-120x40.webp": ((120, 40), "WEBP", 42)},
}


@pytest.fixture(params=ENTRYPOINTS)
def profiled(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig on each entrypoint whose function runs with THUMBS_PROFILES."""
    yield from entrypoint_rig(request, in_place=False, extra={"THUMBS_PROFILES": json.dumps(PROFILES)})


def test_three_folders_three_profiles_every_size_and_format(profiled: EntrypointRig) -> None:
    """Profiles: each folder's recipe, every size in every format, animation kept, delete removes them all."""
    rig = profiled
    bodies = {
        "avatars/ada.jpg": (jpeg_bytes(640, 480), "image/jpeg"),
        "products/mug.png": (png_rgba_bytes(300, 200), "image/png"),
        "banners/wave.gif": ((CORPUS / "gif-animated.gif").read_bytes(), "image/gif"),
        "other/skip.jpg": (jpeg_bytes(64, 64), "image/jpeg"),
    }
    for name, (body, content_type) in bodies.items():
        rig.upload(rig.key(name), body, content_type=content_type)
        delivery = rig.deliver_created(rig.key(name))
        assert delivery.acknowledged, f"{rig.name}: {name} {delivery}"
        if name.startswith("other/"):
            assert (delivery.status, delivery.reason) == ("skipped", "filtered")
        else:
            assert delivery.status == "ok", f"{rig.name}: {name} {delivery}"

    outputs = rig.read_outputs()
    expected = {rig.key(out): shape for outs in EXPECTED.values() for out, shape in outs.items()}
    assert set(outputs) == set(expected), rig.name
    for key, (size, fmt, frames) in expected.items():
        info = outputs[key]
        assert info.content_type == f"image/{fmt.lower()}"
        with Image.open(io.BytesIO(rig.read_body(key))) as image:
            assert (image.size, image.format, getattr(image, "n_frames", 1)) == (size, fmt, frames), key
    for name in EXPECTED:  # the digest each output records is its (profile, format, size) one
        for output in rig.config.profiles.outputs_for(rig.key(name)):
            assert outputs[output.key].metadata[META_PARAMS] == output.params
            assert decode_meta_value(outputs[output.key].metadata[META_SOURCE]) == rig.key(name)

    again = rig.deliver_created(rig.key("avatars/ada.jpg"))
    assert (again.status, again.reason) == ("skipped", "unchanged")

    deleted = rig.deliver_deleted(rig.key("avatars/ada.jpg"))
    assert deleted.acknowledged and deleted.status == "ok"
    remaining = set(rig.read_outputs())
    assert remaining == {rig.key(out) for name in ("products/mug.png", "banners/wave.gif") for out in EXPECTED[name]}
