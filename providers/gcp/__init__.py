"""Everything polythumb needs on Google Cloud: the GCS adapter, the Cloud Functions entrypoints, packaging, Terraform.

Nothing here is imported by ``core``. google-cloud-storage is imported lazily
(on the first client), so ``import providers.gcp`` and the event parsers work
without it; a missing SDK raises an ImportError that names the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from core.registry import ProviderSpec
from core.settings import Setting, Url

INSTALL_HINT = "pip install '.[gcp]' (from a polythumb checkout)"


def import_storage() -> ModuleType:
    """Return the ``google.cloud.storage`` module, or fail with the extra to install.

    Raises:
        ImportError: google-cloud-storage is not installed.
    """
    try:
        return importlib.import_module("google.cloud.storage")
    except ImportError as exc:  # pragma: no cover - exercised only where the SDK is absent
        raise ImportError(f"the GCP provider needs google-cloud-storage: {INSTALL_HINT}") from exc


#: Where ``polythumb backfill --target gcp`` posts work when ``--sink-option url`` is not given.
BACKFILL_URL = Setting(
    "THUMBS_BACKFILL_URL",
    Url("the function that renders"),
    meaning="The function URL `polythumb backfill --target gcp` posts work items to when `--sink-option url` is "
    "not given (Terraform output `backfill_url`).",
)

#: This provider, as the core's registry sees it (:mod:`core.registry`); importing it loads no SDK.
PROVIDER = ProviderSpec(
    name="gcp",
    title="Google Cloud",
    extra="gcp",
    open_bucket="providers.gcp.storage:open_bucket",
    entrypoints={
        "function": "providers.gcp.main:handle_cloud_event",
        "legacy_function": "providers.gcp.main:handle_legacy_event",
        "serve": "providers.gcp.main:serve_http",
        "brake": "providers.gcp.brake_function:handle_brake_alert",
    },
    backfill_sink="providers.gcp.backfill:make_sink",
    packager="providers.gcp.packaging:main",
    operator_settings=(BACKFILL_URL,),
    # The repository tools' pieces (reports, never packaged): lazy paths, like the rest.
    reporting="providers.gcp.reporting:FACTS",
    pricing="providers.gcp.pricing",
    capacity="providers.gcp.capacity",
    terraform_facts="providers.gcp.reporting:TERRAFORM",
    deployer="providers.gcp.deploy_cli:DEPLOYER",
    brake="providers.gcp.brake:BRAKE",
    # The backfill posts to the function's URL; the brake pauses the triggers' subscriptions only.
    backfill_bypasses_brake=True,
    sdk_modules=("google.cloud.storage", "functions_framework"),
    notifiers={"pubsub": "providers.gcp.notify:PubSubNotifier"},
    url_signer="providers.gcp.notify:sign_url",
    observability="providers.gcp.observability",
)
