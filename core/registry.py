"""The provider registry: which clouds this install has, found from their own descriptors.

Each provider declares one :class:`ProviderSpec`: lazy ``"module:attribute"`` paths to its storage factory,
entrypoints, backfill sink, packager and so on, its own settings, and what the reports need to know (like
fsspec's ``known_implementations`` table, but written by each provider about itself). Two places hold them:

* the built-in providers, ``providers/<cloud>/__init__.py``, each naming its spec ``PROVIDER``: deleting a
  folder removes the cloud;
* any installed distribution's entry point in the ``polythumb.providers`` group
  (``[project.entry-points."polythumb.providers"] minio = "polythumb_minio:PROVIDER"``), an out-of-tree
  provider: the name is the provider's, the object its :class:`ProviderSpec`.

The core reads the table here and nowhere else, so no core module names a cloud. Importing a descriptor must
not import the cloud's SDK: the paths are resolved only when a command asks for that piece (:func:`resolve`),
and a missing SDK then fails with what to install. A function's runtime asks for its own provider by name
(:func:`get`), which imports that descriptor alone and never reads the installed distributions' metadata.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import ConfigError, PermanentError
from core.settings import Setting

#: The package whose sub-packages are the built-in providers.
PROVIDERS_PACKAGE = "providers"
#: The name of the descriptor each built-in provider package defines.
DESCRIPTOR = "PROVIDER"
#: The entry-point group of out-of-tree providers: name -> ``"module:attribute"`` of a :class:`ProviderSpec`.
ENTRY_POINT_GROUP = "polythumb.providers"


class ProviderUnavailable(PermanentError):
    """A provider, or one piece of it, cannot be used by this install (folder, module or SDK missing)."""

    kind = "provider_unavailable"


@dataclass(frozen=True)
class ProviderSpec:
    """What one cloud offers, as lazy ``"module:attribute"`` paths, and the settings it reads.

    Attributes:
        name: The short name used on the command line and in reports (``--target <name>``).
        title: The name people use for the cloud.
        extra: The pyproject extra that installs its SDKs (a built-in provider).
        open_bucket: ``(bucket_name) -> Storage`` for this cloud's object store.
        entrypoints: What the platform calls, by role (e.g. ``{"function": "...handler:handler"}``).
        backfill_sink: ``(SinkRequest) -> WorkSink`` for ``polythumb backfill --target <name>``.
        packager: ``(argv) -> int``, the ``polythumb package <name>`` command.
        deploy_dir: The Terraform folder, relative to the provider's package folder.
        sdk_modules: The SDK modules that only this provider may import (isolation and cold-start checks).
        function_settings: Its own ``THUMBS_*`` settings that its entrypoints read besides the shared
            vocabulary (the runtime accepts and validates these, and no other provider's).
        operator_settings: Its own settings that only ``polythumb`` commands read (``backfill --target
            <name>``); the function refuses them.
        notifiers: ``THUMBS_NOTIFY`` scheme -> notifier class (``{"sns": "providers.aws.notify:SnsNotifier"}``).
        url_signer: The ``(store, key, ttl) -> url`` signer of ``THUMBS_URL_MODE=signed``.
        reporting: Its repository tools' facts, a mapping (:mod:`core.reports.facts`).
        pricing: The module with ``deployment`` and ``estimate`` (:mod:`core.reports.costs`).
        capacity: The module with its backfill capacity limits (:mod:`core.reports.capacity`).
        terraform_facts: What the lock-in report reads from its Terraform, a
            :class:`core.reports.concepts.TerraformFacts`. These four are the tools' (never packaged), and lazy
            like the rest: a function's cold start builds nothing of them.
        deployer: A :class:`core.ops.deploy.Deployer` for ``polythumb deploy|verify <name>``: its Terraform
            steps, how its outputs name the buckets, and how to reach an emulator instead of the cloud.
        metrics_encoder: ``(log fields) -> fields to add``: the platform's metric encoding, added to each delivery
            log line by the function (CloudWatch Embedded Metric Format); None where the cloud derives the
            metrics from the line itself (a log-based metric, a query). See :mod:`core.metrics`.
        observability: The module generating its dashboards, metric definitions and alerts from
            :mod:`core.metrics` into its Terraform (``python -m core.ops.observability``).
        brake: A :class:`core.ops.brake.Brake` for ``polythumb brake|release <name>``: what stops its
            rendering without losing an event, and what undoes it.
        backfill_bypasses_brake: Its backfill sink delivers to the function directly, past every control the
            brake turns (not through a queue or subscription the brake holds): ``polythumb backfill --target
            <name>`` then refuses to start while the deployment is braked.
        package: Its import package; empty: ``providers.<name>`` (a built-in provider).
        install: What to run when its SDK is missing; empty: the extra, from a polythumb checkout.
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
    function_settings: tuple[Setting, ...] = ()
    operator_settings: tuple[Setting, ...] = ()
    notifiers: Mapping[str, str] = field(default_factory=dict)
    url_signer: str | None = None
    reporting: str | None = None
    pricing: str | None = None
    capacity: str | None = None
    terraform_facts: str | None = None
    deployer: str | None = None
    metrics_encoder: str | None = None
    observability: str | None = None
    brake: str | None = None
    backfill_bypasses_brake: bool = False
    package: str = ""
    install: str = ""

    def __post_init__(self) -> None:
        if not self.package:
            object.__setattr__(self, "package", f"{PROVIDERS_PACKAGE}.{self.name}")

    @property
    def settings(self) -> tuple[Setting, ...]:
        """Every setting of its own: what the function reads, then what only the commands read."""
        return (*self.function_settings, *self.operator_settings)

    @property
    def folder(self) -> Path:
        """The provider's folder on disk."""
        module = importlib.import_module(self.package)
        return Path(module.__file__ or "").parent

    @property
    def deploy_folder(self) -> Path:
        """The provider's Terraform folder: where its commands run Terraform unless told ``--workdir``."""
        return self.folder / self.deploy_dir

    @property
    def install_hint(self) -> str:
        """What to run when the SDK is missing."""
        return self.install or f"pip install '.[{self.extra}]' (from a polythumb checkout)"

    def resolve(self, piece: str) -> Any:
        """Load one named piece of this provider (``"open_bucket"``, ``"packager"``, ``"backfill_sink"``).

        Raises:
            ProviderUnavailable: the provider does not offer ``piece``, or its module or SDK is missing.
        """
        path = getattr(self, piece, None)
        if not isinstance(path, str) or not path:
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
    """Every provider this install has, by name, in name order: the built-in ones and the installed ones.

    Raises:
        ConfigError: a descriptor is broken (a bug in that provider, raised rather than hidden), or two
            providers claim one name.
    """
    found = dict(builtin())
    for name, (spec, distribution) in installed().items():
        if name in found and found[name] is not spec:
            raise ConfigError(
                f"the distribution {distribution} registers a provider named {name!r} ({ENTRY_POINT_GROUP} entry "
                f"point), but polythumb has a built-in {found[name].title} provider of that name: rename one"
            )
        found[name] = spec
    return dict(sorted(found.items()))


@cache
def builtin() -> Mapping[str, ProviderSpec]:
    """The providers under ``providers/``, by name (a folder without a descriptor is not a provider).

    Raises:
        ConfigError: a descriptor's name is not its folder's.
    """
    try:
        package = importlib.import_module(PROVIDERS_PACKAGE)
    except ModuleNotFoundError:
        return {}
    found: dict[str, ProviderSpec] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            spec = _descriptor(info.name)
            if spec is not None:
                found[spec.name] = spec
    return found


@cache
def installed() -> Mapping[str, tuple[ProviderSpec, str]]:
    """The out-of-tree providers: each ``polythumb.providers`` entry point's spec and its distribution's name.

    Raises:
        ConfigError: an entry point does not load, is no :class:`ProviderSpec`, or names another provider;
            the message names the distribution to fix or remove.
    """
    from importlib.metadata import entry_points  # costs tens of ms: never on a function's cold start

    found: dict[str, tuple[ProviderSpec, str]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        distribution = f"{point.dist.name} {point.dist.version}" if point.dist is not None else "(unknown)"
        where = f"the {ENTRY_POINT_GROUP} entry point {point.name} = {point.value!r} of {distribution}"
        try:
            spec = point.load()
        except Exception as exc:  # any failure is that distribution's bug: report it, naming the distribution
            raise ConfigError(f"{where} does not load: {type(exc).__name__}: {exc}") from exc
        if not isinstance(spec, ProviderSpec):
            raise ConfigError(f"{where} is a {type(spec).__name__}, not a core.registry.ProviderSpec")
        if spec.name != point.name:
            raise ConfigError(f"{where} declares name={spec.name!r}: they must match")
        if point.name in found:
            raise ConfigError(f"{where}: the provider {point.name!r} is registered twice")
        found[point.name] = (spec, distribution)
    return found


def _descriptor(name: str) -> ProviderSpec | None:
    """The descriptor of the built-in provider ``name`` (None: no such folder, or no descriptor in it).

    Raises:
        ConfigError: its descriptor's name is not its folder's.
    """
    if not name.isidentifier():
        return None
    try:
        package = importlib.import_module(PROVIDERS_PACKAGE)
    except ModuleNotFoundError:
        return None
    # Looked for in the package's own folder only: an editable install's finder must not lend a folder
    # that this tree does not have.
    module_name = f"{PROVIDERS_PACKAGE}.{name}"
    if importlib.machinery.PathFinder.find_spec(module_name, list(package.__path__)) is None:
        return None
    spec = getattr(importlib.import_module(module_name), DESCRIPTOR, None)
    if not isinstance(spec, ProviderSpec):
        return None
    if spec.name != name:
        raise ConfigError(f"providers/{name}/__init__.py declares name={spec.name!r}: they must match")
    return spec


def names() -> tuple[str, ...]:
    """The names of the providers this install has."""
    return tuple(providers())


def get(name: str) -> ProviderSpec:
    """The provider called ``name``: a built-in one is found without listing the others.

    Raises:
        ConfigError: no such provider in this install (the message lists those there are).
    """
    spec = _descriptor(name)
    if spec is not None:
        return spec
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
