"""Lambda-shaped plumbing for the AWS end-to-end tests: the context object, SQS reads, log capture."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.providers.aws.emulator import REGION

#: The S3 events the Terraform subscribes to.
EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "polythumb-test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Queue:
    """An SQS queue on moto, read the way Lambda's event source mapping reads it."""

    sqs: Any
    url: str
    arn: str

    def receive(self) -> list[dict[str, Any]]:
        """Every message now visible (moto delivers notifications synchronously)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def lambda_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's SQS event source mapping builds from ``messages``."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def settle(self, messages: list[dict[str, Any]], response: dict[str, Any]) -> None:
        """What Lambda does with a partial batch response: delete the successes, release the failures now."""
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
