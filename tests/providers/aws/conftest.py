"""Fixtures for the AWS end-to-end tests: queues, notification routes on moto, log capture."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from .helpers import EVENTS, Queue


@pytest.fixture
def new_queue(sqs_client: Any) -> Callable[[], Queue]:
    def make() -> Queue:
        url = sqs_client.create_queue(QueueName=f"pt-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Queue(sqs_client, url, arn)

    return make


@pytest.fixture
def notify_queue(s3_client: Any) -> Callable[[str, Queue], None]:
    """Point a bucket's S3 notifications (created and removed) at a queue, as the Terraform does."""

    def configure(bucket: str, queue: Queue) -> None:
        s3_client.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue.arn, "Events": EVENTS}]},
        )

    return configure


