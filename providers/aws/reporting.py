"""What the repository's reports (:mod:`core.reports`) need to know about AWS.

Repository tooling: read through the registry (the descriptor's ``facts["reporting"]``), never packaged.
Keys: see :mod:`core.reports.facts`.
"""

from __future__ import annotations

from core.reports.concepts import TerraformFacts

FACTS = {
    "matrix_notes": {
        "e2e": "`aws` are moto's real S3 notifications read from SQS and given to the Lambda handler",
        "contract": "S3 on moto (`aws`)",
    },
    "colour": "#ff9900",
    "rigs": ("s3", "aws"),
    "sdk_families": ("boto3", "botocore", "s3transfer"),
    "coldstart": {
        "module": "providers.aws.handler",
        # AWS_LAMBDA_FUNCTION_NAME: the handler and its S3 client are built at import, as in Lambda.
        "settings": {
            "AWS_LAMBDA_FUNCTION_NAME": "polythumb-coldstart",
            "THUMBS_DEST_BUCKET": "coldstart-thumbs",
            # The serve function's (providers.aws.serve, the same package) cold start needs its source bucket.
            "THUMBS_SERVE_SOURCE_BUCKET": "coldstart-originals",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "coldstart",
            "AWS_SECRET_ACCESS_KEY": "coldstart",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        "clean_env": ("AWS_",),
    },
    "migration": {
        "old": "s3://OLD-ORIGINALS",
        "new": "s3://NEW-ORIGINALS",
        "download": "aws s3 sync {src} ./photos",
        "copy_in": {
            "local": "aws s3 sync {src} {dst}",
            "aws": "aws s3 sync {src} {dst}",
            "gcp": "gcloud storage rsync --recursive {src} {dst}   # gcloud reads AWS credentials for s3:// URLs",
            "*": "azcopy copy '{src}' ./staging --recursive && aws s3 sync ./staging {dst}",
        },
    },
}


#: What the lock-in report reads from the Terraform (:mod:`core.reports.concepts`).
TERRAFORM = TerraformFacts(
    permission_pattern=r'"((?:s3|sqs|sns|logs|kms|lambda|events):[A-Za-z*]+)"',
    instance_variables={"memory_mb": "memory_size"},
)
