"""polythumb on Azure: Blob Storage adapter, Azure Functions entrypoint, packaging and Terraform.

Nothing here imports an Azure SDK at package import; the submodules that need one
(``storage``, ``connection`` when it builds a client, ``function_app``) import it themselves
and name the extra to install when it is missing.
"""

from __future__ import annotations

from core.registry import ProviderSpec
from providers.azure.settings import BACKFILL_QUEUE, SOURCE_CONTAINER, STORAGE_CONNECTION

#: What to tell a user whose environment lacks the Azure SDKs.
MISSING_SDK_HINT = "the Azure SDKs are not installed; from a polythumb checkout: pip install '.[azure]'"


#: This provider, as the core's registry sees it (:mod:`core.registry`); importing it loads no SDK.
PROVIDER = ProviderSpec(
    name="azure",
    title="Azure",
    extra="azure",
    open_bucket="providers.azure.backfill:open_bucket",
    entrypoints={"function_app": "providers.azure.function_app:app"},
    backfill_sink="providers.azure.backfill:make_sink",
    packager="providers.azure.packaging:main",
    # The backfill reads them too (the images connection, the queue): one declaration, the function's.
    function_settings=(SOURCE_CONTAINER, STORAGE_CONNECTION, BACKFILL_QUEUE),
    # The repository tools' pieces (reports, never packaged): lazy paths, like the rest.
    reporting="providers.azure.reporting:FACTS",
    pricing="providers.azure.pricing",
    capacity="providers.azure.capacity",
    terraform_facts="providers.azure.reporting:TERRAFORM",
    deployer="providers.azure.deploy_cli:DEPLOYER",
    brake="providers.azure.brake:BRAKE",
    sdk_modules=("azure.storage.blob", "azure.functions"),
    notifiers={"eventgrid": "providers.azure.notify:EventGridNotifier"},
    url_signer="providers.azure.notify:sign_url",
    observability="providers.azure.observability",
)
