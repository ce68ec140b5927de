"""How ``--target aws|gcp|azure`` finds a provider's sink and storage, lazily.

Nothing here imports a provider until a cloud target is asked for, so the core
runs with no cloud SDK installed. The provider side of the contract (what
``providers.<cloud>.backfill`` defines) is in :mod:`core.backfill.dispatch`.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from core.backfill.dispatch import SINK_FACTORY, WorkSink
from core.errors import PermanentError
from core.pipeline import BucketOpener

CLOUD_TARGETS = ("aws", "gcp", "azure")


class TargetUnavailable(PermanentError):
    """The cloud target cannot be used by this install (module, factory or SDK missing)."""

    kind = "target_unavailable"


def backfill_module(target: str) -> ModuleType | None:
    """``providers.<target>.backfill``, or None when this install has none."""
    return _import(f"providers.{target}.backfill", target)


def extra_settings(target: str) -> tuple[str, ...]:
    """The ``THUMBS_*`` names the provider's sink reads (its optional ``EXTRA_SETTINGS``)."""
    module = backfill_module(target)
    return tuple(getattr(module, "EXTRA_SETTINGS", ())) if module is not None else ()


def load_sink(target: str, args: argparse.Namespace) -> WorkSink:
    """Build the provider's sink with its ``make_sink(args)``.

    Raises:
        TargetUnavailable: no ``providers.<target>.backfill``, no ``make_sink`` in it,
            its SDK is missing, or what it returns is not a :class:`WorkSink`.
    """
    module = backfill_module(target)
    if module is None:
        raise TargetUnavailable(
            f"the cloud fan-out for {target} is not available in this install: providers/{target}/backfill.py "
            f"with a make_sink(args) factory is missing (use --target local, or --dry-run to plan only)"
        )
    factory = getattr(module, SINK_FACTORY, None)
    if not callable(factory):
        raise TargetUnavailable(
            f"providers.{target}.backfill has no {SINK_FACTORY}(args) factory yet; the cloud fan-out for {target} "
            "is not available (use --target local, or --dry-run to plan only)"
        )
    sink = factory(args)
    if not isinstance(sink, WorkSink):
        raise TargetUnavailable(
            f"providers.{target}.backfill.{SINK_FACTORY} returned {type(sink).__name__}, which is not a WorkSink "
            "(it needs max_batch_size, send(batch) and close())"
        )
    return sink


def bucket_opener(target: str) -> BucketOpener:
    """How to open a bucket of ``target``: the backfill module's ``open_bucket``, else the storage module's.

    Raises:
        TargetUnavailable: neither module offers ``open_bucket(name)``, or the SDK is missing.
    """
    for name in (f"providers.{target}.backfill", f"providers.{target}.storage"):
        module = _import(name, target)
        opener = getattr(module, "open_bucket", None) if module is not None else None
        if callable(opener):
            return opener  # type: ignore[no-any-return]
    raise TargetUnavailable(
        f"cannot open {target} buckets: neither providers.{target}.backfill nor providers.{target}.storage "
        "defines open_bucket(name)"
    )


def _import(name: str, target: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None  # the module (or the provider) is not part of this install
        raise TargetUnavailable(f"{name} cannot load: {exc} (install polythumb[{target}])") from exc
    except ImportError as exc:  # the providers raise ImportError naming the extra when their SDK is absent
        raise TargetUnavailable(str(exc)) from exc
