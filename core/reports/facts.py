"""What the reports know about each provider: read from its descriptor, never written here.

Each provider's descriptor points ``reporting`` at a mapping (its ``reporting.py``):

* ``colour``: its bars in the charts;
* ``rigs``: the test rigs whose results fill its column of the conformance matrix;
* ``sdk_families``: the module prefixes of its SDK (the cold-start isolation check);
* ``coldstart``: ``module`` the platform imports, ``settings`` its cold start needs, ``clean_env`` the
  environment prefixes of the caller removed before probing;
* ``migration``: ``old`` / ``new`` originals' URLs, ``download`` (to ``./photos``), ``copy_in`` (from another
  place, by name, ``*`` for any other; ``{src}`` and ``{dst}`` filled in) and ``backfill`` (optional);
* ``serve`` (optional): ``entrypoint`` (the serve function's HTTP entrypoint), ``cdn`` (what may sit in front of it)
  and ``cdn_specific`` (what of that a move rebuilds), for the lock-in report's note on serving on first request;
* ``matrix_notes`` (optional): per matrix suite (``e2e``, ``serve``, ``contract``), how the provider's column is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import registry


def reporting(provider: str) -> Mapping[str, Any]:
    """``provider``'s reporting facts (empty when it declares none)."""
    path = registry.get(provider).reporting
    facts: Mapping[str, Any] = registry.resolve(path) if path else {}
    return facts


def clouds() -> tuple[str, ...]:
    """The providers the reports cover, in registry order."""
    return registry.names()
