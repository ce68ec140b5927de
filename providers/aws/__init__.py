"""Everything polythumb needs on AWS: the S3 adapter, the Lambda entrypoint, packaging and Terraform.

Nothing here is imported by ``core``. boto3 is imported lazily (on the first
client), so ``import providers.aws`` works without it; a missing SDK raises an
ImportError that names the extra to install.
"""

from __future__ import annotations

from types import ModuleType

from core.registry import ProviderSpec
from core.settings import Setting, Text, Url

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

#: The secret the serve function's signing keys are read from (:mod:`providers.aws.secrets`).
SERVE_KEYS_SECRET = Setting(
    "THUMBS_SERVE_KEYS_SECRET",
    Text("the ARN (or name) of a Secrets Manager secret"),
    meaning="The Secrets Manager secret whose value is `THUMBS_SERVE_KEYS` (`kid:secret,...`): the serve function "
    "reads it once per container at cold start, so the keys never sit in the function's configuration "
    "(Terraform's `serve_keys_secret_arn`). `THUMBS_SERVE_KEYS` set as well wins.",
)

#: This provider, as the core's registry sees it (:mod:`core.registry`); importing it loads no SDK.
PROVIDER = ProviderSpec(
    name="aws",
    title="AWS",
    extra="aws",
    open_bucket="providers.aws.storage:open_bucket",
    # "brake": the automatic brake on the runaway alarms (deploy/brake.tf, brake_on_runaway), from the same package.
    entrypoints={
        "function": "providers.aws.handler:handler",
        "serve": "providers.aws.serve:handler",
        "brake": "providers.aws.brake_function:handler",
    },
    backfill_sink="providers.aws.backfill:make_sink",
    packager="providers.aws.packaging:main",
    function_settings=(SERVE_KEYS_SECRET,),
    operator_settings=(BACKFILL_QUEUE_URL,),
    # The repository tools' pieces (reports, never packaged): lazy paths, like the rest.
    reporting="providers.aws.reporting:FACTS",
    pricing="providers.aws.pricing",
    capacity="providers.aws.capacity",
    terraform_facts="providers.aws.reporting:TERRAFORM",
    deployer="providers.aws.deploy_cli:DEPLOYER",
    brake="providers.aws.brake:BRAKE",
    sdk_modules=("boto3", "botocore"),
    notifiers={"sns": "providers.aws.notify:SnsNotifier", "eventbridge": "providers.aws.notify:EventBridgeNotifier"},
    url_signer="providers.aws.notify:sign_url",
    metrics_encoder="providers.aws.metrics:emf_fields",
    observability="providers.aws.observability",
)
