"""What ``polythumb deploy aws`` and ``polythumb verify aws`` need to know about this provider's stack."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.ops.deploy import Target, standard_apply
from core.ops.verify import Check, settings_from
from core.ops.verify_serve import ServeFetch, fetch_from
from providers.aws.packaging import default_output


class AwsDeployer:
    """One ``terraform apply``; outputs name the buckets, the prefix and the function's settings."""

    #: The zip the Terraform's defaults (arm64, Python 3.12) expect; other builds go through ``--package``.
    package_name = default_output("arm64", "3.12").name
    apply = staticmethod(standard_apply)

    def package_argv(self, output: Path) -> list[str]:
        return ["--output", str(output)]

    def target(self, outputs: Mapping[str, Any]) -> Target:
        region = outputs.get("region")
        return Target(
            source_bucket=outputs["source_bucket"],
            dest_bucket=outputs["thumbnail_bucket"],
            prefix=outputs.get("source_prefix") or "",
            settings=settings_from(outputs.get("thumbs_environment") or {}),
            environment={"AWS_DEFAULT_REGION": region} if region else {},
        )

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """boto3 honours ``AWS_ENDPOINT_URL`` itself; an emulator takes any credentials, so dummies if none."""
        environment = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            environment |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        return environment

    def deployment_checks(self, outputs: Mapping[str, Any]) -> list[Check]:
        """None beyond the thumbnails: the function's settings are the outputs ``verify`` already reads."""
        return []

    def serve_fetch(self, outputs: Mapping[str, Any], *, base_url: str | None = None) -> ServeFetch | None:
        """The serve URL (``serve_url``: CloudFront, or the function URL); requests to an AWS_IAM function URL are
        signed with SigV4 (service ``lambda``) with your credentials, which need lambda:InvokeFunctionUrl and
        lambda:InvokeFunction on the serve function (``serve_invoker_policy_json``)."""
        url = base_url or outputs.get("serve_url")
        if not url:
            return None
        if outputs.get("serve_auth") == "aws_iam":
            return fetch_from(url, sign=sigv4_signer(outputs.get("region") or os.environ.get("AWS_DEFAULT_REGION")))
        return fetch_from(url)

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        """Emptying both versioned buckets of polythumb's versions, after asking about anything else."""
        from providers.aws.storage import make_client
        from providers.aws.teardown import empty_for_destroy

        return empty_for_destroy(
            make_client(region_name=outputs.get("region")),
            source_bucket=outputs["source_bucket"],
            source_prefix=outputs.get("source_prefix") or "",
            thumbnail_bucket=outputs["thumbnail_bucket"],
            confirm=confirm,
        )


def sigv4_signer(region: str | None) -> Callable[[str], dict[str, str]]:
    """Headers signing a GET of a URL with SigV4 for Lambda (a function URL with auth type AWS_IAM).

    Raises:
        OSError: no AWS credentials here (said when the step runs, as an unreachable URL is).
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from providers.aws import import_boto3

    def sign(url: str) -> dict[str, str]:
        credentials = import_boto3().session.Session().get_credentials()
        if credentials is None:
            raise OSError("no AWS credentials to sign the request to the serve function URL (auth type AWS_IAM)")
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", region or "us-east-1").add_auth(request)
        return dict(request.headers.items())

    return sign


DEPLOYER = AwsDeployer()
