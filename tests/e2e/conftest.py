"""The ``entrypoint`` fixtures: one rig per platform in use (see :mod:`tests.rigs`), ``local`` included.

Each rig module builds its platform's entrypoint rig from its own emulator fixtures; a rig whose modules
(storage SDK, emulator, function runtime) are missing is left out, unless
``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1``, where that is an error instead of a smaller matrix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from tests import rigs
from tests.rigs.base import EntrypointRig

#: The entrypoints this run covers, in report order.
ENTRYPOINTS = rigs.names()


def entrypoint_rig(
    request: pytest.FixtureRequest, *, in_place: bool, extra: Mapping[str, str] | None = None
) -> Iterator[EntrypointRig]:
    """The rig of the entrypoint ``request.param`` names, closed (and its time recorded) after the test."""
    rig = rigs.by_name(request.param).entrypoint(request, in_place=in_place, extra=extra)
    try:
        yield rig
    finally:
        rig.close()
        # The time spent in the function itself, for the conformance report (the test's own duration
        # also counts uploads and reads).
        request.node.user_properties.append(("handler_ms", round(rig.handler_ms, 1)))
        request.node.user_properties.append(("deliveries", len(rig.deliveries)))


@pytest.fixture(params=ENTRYPOINTS)
def entrypoint(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig on each entrypoint, writing thumbnails to a destination bucket of their own."""
    yield from entrypoint_rig(request, in_place=False)


@pytest.fixture(params=ENTRYPOINTS)
def entrypoint_in_place(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig on each entrypoint whose destination is the source bucket itself (THUMBS_DEST_BUCKET == source)."""
    yield from entrypoint_rig(request, in_place=True)
