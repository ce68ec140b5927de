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
        """Every message now visible (moto delivers notifications synchronously).

        A short poll (``WaitTimeSeconds=0``): a queue created with long polling (the stack's waits 20 s) would
        otherwise hold the last, empty receive for its whole wait before the messages are handed on.
        """
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30,
                WaitTimeSeconds=0,
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


#: What a function URL says of the caller when its auth type is AWS_IAM (CloudFront's origin access control signs
#: as the CloudFront service; a back end as its own role).
IAM_CALLER = {
    "accessKey": "ASIAPOLYTHUMBEXAMPLE",
    "accountId": "123456789012",
    "callerId": "AROAPOLYTHUMBEXAMPLE:cloudfront",
    "cognitoIdentity": None,
    "principalOrgId": None,
    "userArn": "arn:aws:sts::123456789012:assumed-role/polythumb-reader/cloudfront",
    "userId": "AROAPOLYTHUMBEXAMPLE:cloudfront",
}


def function_url_event(
    method: str, raw_path: str, query: str = "", headers: dict[str, str] | None = None, *, url_id: str = "abcdefghij"
) -> dict[str, Any]:
    """The event a Lambda function URL (payload format 2.0, auth type AWS_IAM) hands the function for a request.

    As AWS documents it (Lambda developer guide, "Invoking Lambda function URLs", request payload): ``rawPath`` and
    ``rawQueryString`` as sent, still percent-encoded; ``requestContext.http.path`` decoded; header names in lower
    case, repeated ones joined by commas; ``queryStringParameters`` decoded, repeated ones joined by commas and left
    out when there is no query; no ``body`` on a GET.
    """
    from urllib.parse import parse_qsl, unquote

    domain = f"{url_id}.lambda-url.{REGION}.on.aws"
    sent = {
        "host": domain,
        "x-amzn-tls-version": "TLSv1.3",
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-forwarded-for": "130.176.0.1",
        "x-amzn-trace-id": "Root=1-6700d163-5f302e550dcde3b12402207d",
        "user-agent": "Amazon CloudFront",
        "via": "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
        "x-amz-cf-id": "kFsK0pCdq1n9RgZmNyQYwHr1v2xVt7ebT1QwCQm9hXg5OvYxKjzVwA==",
    }
    sent.update({name.lower(): value for name, value in (headers or {}).items()})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": sent,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": url_id,
            "authorizer": {"iam": IAM_CALLER},
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": "130.176.0.1",
                "userAgent": sent["user-agent"],
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "07/Dec/2025:17:27:00 +0000",
            "timeEpoch": 1765128420000,
        },
        "isBase64Encoded": False,
    }
    if query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    return event
