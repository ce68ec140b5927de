# Alarms: someone hears about it when thumbnails stop being made. Every alarm notifies one SNS topic
# (subscribe an email with alarm_email, or attach a chat/pager integration to alarm_topic_arn). Only
# CloudWatch alarms of this account may publish to it (aws_sns_topic_policy below).
#
# * dead letters: a message or an asynchronous invocation kept failing and was parked (any at all);
# * oldest event: the SQS route is falling behind (max_concurrency too low, or every render failing);
# * errors: the function raised (a bug, a bad setting at cold start, an outage the retries did not ride out);
# * throttles: invocations refused for want of concurrency (reserved_concurrency or the account quota).

variable "alarm_email" {
  description = "Email address subscribed to the alarm topic (AWS sends a confirmation mail first); null subscribes nobody."
  type        = string
  default     = null
}

variable "alarm_oldest_event_seconds" {
  description = "Alarm when the oldest S3 event waiting on the SQS queue is older than this."
  type        = number
  default     = 900
}

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:Alarm notifications carry alarm names and states, no data; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would add a key policy with wildcard resources and a monthly cost.
  name = "${var.name}-alarms"
}

data "aws_iam_policy_document" "alarm_topic" {
  source_policy_documents = [data.aws_iam_policy_document.budget_publishes.json] # budget.tf

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  # Every alarm fires on a value above its threshold in one 5-minute period, and says why in its description.
  alarms = {
    dead-letters = {
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.dead_letters.name }
      statistic   = "Maximum"
      threshold   = 0
      description = "Events parked in ${aws_sqs_queue.dead_letters.name} after every retry failed: thumbnails are missing. Read the function's logs, fix, then redrive the queue."
    }
    oldest-event = {
      namespace   = "AWS/SQS"
      metric      = "ApproximateAgeOfOldestMessage"
      dimensions  = { QueueName = one(aws_sqs_queue.events[*].name) }
      statistic   = "Maximum"
      threshold   = var.alarm_oldest_event_seconds
      description = "The oldest S3 event on the queue waits longer than ${var.alarm_oldest_event_seconds} s: the function is falling behind or failing."
    }
    errors = {
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.thumbnailer.function_name }
      statistic   = "Sum"
      threshold   = 0
      description = "The function raised: a failed cold start (bad THUMBS_* setting, old boto3), a bug, or an outage outlasting the S3 retries."
    }
    throttles = {
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      dimensions  = { FunctionName = aws_lambda_function.thumbnailer.function_name }
      statistic   = "Sum"
      threshold   = 0
      description = "The function was throttled: raise reserved_concurrency or the account's concurrency quota."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  # The queue-age alarm exists only on the SQS route, which has the queue.
  for_each = { for name, alarm in local.alarms : name => alarm if name != "oldest-event" || var.event_route == "sqs" }

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe more endpoints to it)."
  value       = aws_sns_topic.alarms.arn
}
