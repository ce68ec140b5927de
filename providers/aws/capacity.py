"""AWS in the backfill capacity model (:mod:`core.reports.capacity`): its limits and its two rows.

Repository tooling: read by ``python -m core.reports.capacity`` through the registry, never packaged.
Deploy values are those of ``deploy/`` (``memory_size`` 2048 MB, ``max_concurrency`` 10, the SQS event
source's maximum concurrency); ``tests/test_backfill_model.py`` checks them.
"""

from __future__ import annotations

from core.reports.capacity import Scenario, Source, thumbnails

SOURCES = {
    "lambda_concurrency": Source(
        "Lambda concurrent executions: 1,000 per Region by default",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    ),
    "lambda_cpu": Source(
        "Lambda CPU is proportional to memory; 1,769 MB = one vCPU",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html",
    ),
    "sqs_scaling": Source(
        "SQS event source: starts with 5 concurrent batches, adds up to 300 per minute, at most 1,000",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    ),
    "sqs_quotas": Source(
        "SQS: 10 messages per SendMessageBatch; standard queues take a nearly unlimited number of calls/s",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
    ),
    "s3_rates": Source(
        "S3: at least 3,500 PUT and 5,500 GET/HEAD requests/s per partitioned prefix",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
    ),
    "s3_list": Source(
        "S3 ListObjectsV2: up to 1,000 keys per request",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html",
    ),
}


def lambda_ramp_seconds(concurrency: int) -> float:
    """Seconds for the SQS event source to reach ``concurrency`` batches: 5 at first, +300 per minute."""
    return max(0.0, (concurrency - 5) / 300 * 60)


_LAMBDA_VCPUS = 2048 / 1769
_S3 = 3500 / thumbnails("128x128,512x512")  # thumbnail PUTs into one destination prefix

SCENARIOS = [
    Scenario("aws", "deploy defaults (max concurrency 10)", 10, 1, _LAMBDA_VCPUS, "128x128,512x512", "sqs",
             _S3, ramp_seconds=lambda_ramp_seconds(10),
             sources=("lambda_cpu", "sqs_scaling", "sqs_quotas", "s3_rates", "s3_list")),
    Scenario("aws", "account default (1,000 concurrent)", 1000, 1, _LAMBDA_VCPUS, "128x128,512x512", "sqs",
             _S3, ramp_seconds=lambda_ramp_seconds(1000),
             sources=("lambda_concurrency", "lambda_cpu", "sqs_scaling", "sqs_quotas", "s3_rates", "s3_list")),
]  # fmt: skip
