"""Everything polythumb needs on AWS: the S3 adapter, the Lambda entrypoint, packaging and Terraform.

Nothing here is imported by ``core``. boto3 is imported lazily (on the first
client), so ``import providers.aws`` works without it; a missing SDK raises an
ImportError that names the extra to install.
"""

from __future__ import annotations

from types import ModuleType

from core.registry import ProviderSpec, ReportModules, TerraformFacts
from core.settings import Setting, Url

INSTALL_HINT = "pip install '.[aws]' (from a polythumb checkout)"


def import_boto3() -> ModuleType:
    """Return the ``boto3`` module, or fail with the extra to install.

    Raises:
        ImportError: boto3 is not installed (the Lambda runtime ships it).
    """
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - exercised only where boto3 is absent
        raise ImportError(f"the AWS provider needs boto3: {INSTALL_HINT}") from exc
    module: ModuleType = boto3  # boto3 ships no type information
    return module


#: Where ``polythumb backfill --target aws`` sends work when ``--sink-option queue_url`` is not given.
BACKFILL_QUEUE_URL = Setting(
    "THUMBS_BACKFILL_QUEUE_URL",
    Url("the SQS queue the function consumes"),
    meaning="The queue `polythumb backfill --target aws` sends work items to when `--sink-option queue_url` is "
    "not given (Terraform output `events_queue_url`); its region is taken from the URL.",
)

#: This provider, as the core's registry sees it (:mod:`core.registry`); importing it loads no SDK.
PROVIDER = ProviderSpec(
    name="aws",
    title="AWS",
    extra="aws",
    open_bucket="providers.aws.storage:open_bucket",
    entrypoints={"function": "providers.aws.handler:handler"},
    backfill_sink="providers.aws.backfill:make_sink",
    packager="providers.aws.packaging:main",
    operator_settings=(BACKFILL_QUEUE_URL,),
    reports=ReportModules(
        capacity="providers.aws.capacity", pricing="providers.aws.pricing", reporting="providers.aws.reporting:FACTS"
    ),
    terraform=TerraformFacts(
        permission_pattern=r'"((?:s3|sqs|sns|logs|kms|lambda|events):[A-Za-z*]+)"',
        instance_variables={"memory_mb": "memory_size"},
    ),
    deployer="providers.aws.deploy_cli:DEPLOYER",
    sdk_modules=("boto3", "botocore"),
    notifiers={"sns": "providers.aws.notify:SnsNotifier", "eventbridge": "providers.aws.notify:EventBridgeNotifier"},
    url_signer="providers.aws.notify:sign_url",
)
