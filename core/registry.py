"""The provider registry: which clouds this install has, found from their own descriptors.

Each ``providers/<cloud>/__init__.py`` declares one :class:`ProviderSpec` named ``PROVIDER``: lazy
``"module:attribute"`` paths to its storage factory, entrypoints, backfill sink, packager and so on
(like fsspec's ``known_implementations`` table, but written by each provider about itself). The core
reads the table here and nowhere else, so deleting a provider folder removes the cloud, and no core
module names a cloud.

Importing a descriptor must not import the cloud's SDK: the paths are resolved only when a command
asks for that piece (:func:`resolve`), and a missing SDK then fails with the extra to install.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import ConfigError, PermanentError

#: The package whose sub-packages are providers.
PROVIDERS_PACKAGE = "providers"
#: The name of the descriptor each provider package defines.
DESCRIPTOR = "PROVIDER"


class ProviderUnavailable(PermanentError):
    """A provider, or one piece of it, cannot be used by this install (folder, module or SDK missing)."""

    kind = "provider_unavailable"


@dataclass(frozen=True)
class ProviderSpec:
    """What one cloud offers, as lazy ``"module:attribute"`` paths.

    Attributes:
        name: The short name used on the command line and in reports (``--target <name>``).
        title: The name people use for the cloud.
        extra: The pyproject extra that installs its SDKs.
        open_bucket: ``(bucket_name) -> Storage`` for this cloud's object store.
        entrypoints: What the platform calls, by role (e.g. ``{"function": "...handler:handler"}``).
        backfill_sink: ``(SinkRequest) -> WorkSink`` for ``polythumb backfill --target <name>``.
        packager: ``(argv) -> int``, the ``polythumb package <name>`` command.
        deploy_dir: The Terraform folder, relative to the provider's package folder.
        sdk_modules: The SDK modules that only this provider may import (isolation and cold-start checks).
        settings: Provider-specific ``THUMBS_*`` names its entrypoints read besides the shared vocabulary.
        facts: Free-form, documented facts the reports read (limits, prices' keys, URLs, event types).
        deployer: A :class:`core.ops.deploy.Deployer` for ``polythumb deploy|verify <name>``: its Terraform
            steps, how its outputs name the buckets, and how to reach an emulator instead of the cloud.
        completion: Completion pieces (:mod:`core.completion`): ``THUMBS_NOTIFY`` scheme -> notifier class
            (``{"sns": "providers.aws.notify:SnsNotifier"}``), and the reserved key ``"url_signer"`` -> the
            ``(store, key, ttl) -> url`` signer of ``THUMBS_URL_MODE=signed``.
    """

    name: str
    title: str
    extra: str
    open_bucket: str
    entrypoints: Mapping[str, str] = field(default_factory=dict)
    backfill_sink: str | None = None
    packager: str | None = None
    deploy_dir: str = "deploy"
    sdk_modules: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    deployer: str | None = None
    completion: Mapping[str, str] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The provider's import package (``providers.<name>``)."""
        return f"{PROVIDERS_PACKAGE}.{self.name}"

    @property
    def folder(self) -> Path:
        """The provider's folder on disk."""
        module = importlib.import_module(self.package)
        return Path(module.__file__ or "").parent

    @property
    def install_hint(self) -> str:
        """What to run when the SDK is missing."""
        return f"pip install '.[{self.extra}]' (from a polythumb checkout)"

    def resolve(self, piece: str) -> Any:
        """Load one named piece of this provider (``"open_bucket"``, ``"packager"``, ``"backfill_sink"``).

        Raises:
            ProviderUnavailable: the provider does not offer ``piece``, or its module or SDK is missing.
        """
        path = getattr(self, piece, None)
        if not isinstance(path, str):
            raise ProviderUnavailable(f"the {self.title} provider offers no {piece} in this install")
        return resolve(path, hint=self.install_hint)

    def entrypoint(self, role: str) -> Any:
        """Load the entrypoint serving ``role``.

        Raises:
            ProviderUnavailable: there is no such entrypoint, or its module or SDK is missing.
        """
        if role not in self.entrypoints:
            raise ProviderUnavailable(
                f"the {self.title} provider has no {role!r} entrypoint (it has: {', '.join(sorted(self.entrypoints))})"
            )
        return resolve(self.entrypoints[role], hint=self.install_hint)


@cache
def providers() -> Mapping[str, ProviderSpec]:
    """Every provider this install has, by name, in name order.

    A folder without a descriptor is not a provider; a descriptor that fails to import is a bug in that
    provider and is raised, not hidden.
    """
    try:
        package = importlib.import_module(PROVIDERS_PACKAGE)
    except ModuleNotFoundError:
        return {}
    found: dict[str, ProviderSpec] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{PROVIDERS_PACKAGE}.{info.name}")
        spec = getattr(module, DESCRIPTOR, None)
        if isinstance(spec, ProviderSpec):
            if spec.name != info.name:
                raise ConfigError(f"providers/{info.name}/__init__.py declares name={spec.name!r}: they must match")
            found[spec.name] = spec
    return dict(sorted(found.items()))


def names() -> tuple[str, ...]:
    """The names of the providers this install has."""
    return tuple(providers())


def get(name: str) -> ProviderSpec:
    """The provider called ``name``.

    Raises:
        ConfigError: no such provider in this install (the message lists those there are).
    """
    try:
        return providers()[name]
    except KeyError:
        known = ", ".join(names()) or "none"
        raise ConfigError(f"unknown provider {name!r}; this install has: {known}") from None


def resolve(path: str, *, hint: str = "") -> Any:
    """Import ``"package.module:attribute"`` and return the attribute.

    Raises:
        ProviderUnavailable: the module, the attribute or the SDK it needs is missing.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # the providers raise ImportError naming the extra when their SDK is absent
        raise ProviderUnavailable(f"{module_name} cannot load: {exc}" + (f" ({hint})" if hint else "")) from exc
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ProviderUnavailable(f"{module_name} defines no {attribute}") from None
