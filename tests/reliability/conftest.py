"""Fixtures of the reliability suite: provider rigs (the log capture, ``json_logs``, is the root conftest's).

Cloud tests run on every provider rig in use (see :mod:`tests.rigs`; ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1``
makes a missing one an error there); the fault proxies and the SDK sleep recorder (``sdk_sleeps``) come
from :mod:`tests.rigs.plugin`.
"""

from __future__ import annotations

import pytest

from tests import rigs
from tests.rigs.base import FaultRig

#: The providers whose SDK and emulator this run has.
PROVIDERS = [module.NAME for module in rigs.cloud_rigs()]


@pytest.fixture(params=PROVIDERS)
def rig(request: pytest.FixtureRequest) -> FaultRig:
    """A fresh source and destination on one provider, its entrypoint wired through a fault proxy."""
    module = rigs.by_name(request.param)
    proxy = request.getfixturevalue("fault_proxy")(module.upstream(request))
    result: FaultRig = module.faulty(request, proxy)
    return result
