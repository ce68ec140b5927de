"""Fixtures for the AWS end-to-end tests: queues, notification routes on moto, log capture."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.logs import LOGGER_NAME

from .helpers import EVENTS, LogCapture, Queue


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


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """polythumb's log lines during the test (its logger does not propagate, so caplog cannot see them)."""
    capture = LogCapture()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
