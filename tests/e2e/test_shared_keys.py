"""Two sources that map to one thumbnail key, on every entrypoint (``local``, ``aws``, ``gcp``, ``azure``).

With the default key template, ``a.jpg`` and ``a.jpeg`` share ``a-<box>.jpg``: the first rendered owns it; the
other is refused with ``output_conflict`` naming both (acknowledged, never retried, nothing overwritten);
deleting the other leaves the owner's thumbnails; deleting the owner removes them.
"""

from __future__ import annotations

from core.keys import META_SOURCE, decode_meta_value
from tests.images import jpeg_bytes
from tests.rigs.base import EntrypointRig


def _owners(rig: EntrypointRig) -> dict[str, str]:
    return {key: decode_meta_value(info.metadata[META_SOURCE]) for key, info in rig.read_outputs().items()}


def test_the_first_source_owns_a_shared_key(entrypoint: EntrypointRig) -> None:
    rig = entrypoint
    first, second = rig.key("shared/a.jpg"), rig.key("shared/a.jpeg")
    rig.upload(first, jpeg_bytes(320, 240))
    rig.upload(second, jpeg_bytes(180, 320))
    assert rig.deliver_created(first).status == "ok"
    owned = {key: info.revision for key, info in rig.read_outputs().items()}
    assert set(_owners(rig).values()) == {first} and len(owned) == 2

    refused = rig.deliver_created(second)
    assert (refused.verdict, refused.status, refused.error_kind) == ("acknowledged", "failed", "output_conflict")
    assert {key: info.revision for key, info in rig.read_outputs().items()} == owned  # nothing overwritten

    assert rig.deliver_deleted(second).status == "ok"  # the other source goes: the owner's thumbnails stay
    assert {key: info.revision for key, info in rig.read_outputs().items()} == owned
    assert rig.deliver_deleted(first).status == "ok"
    assert rig.read_outputs() == {}
