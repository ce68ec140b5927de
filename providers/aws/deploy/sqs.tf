# The SQS route: S3 -> queue -> Lambda with partial batch responses; poison messages go to the DLQ after
# max_receive_count deliveries. The dead-letter queue also takes failed asynchronous (direct) invocations.

locals {
  # AWS's rule for SQS event sources: a visibility timeout of at least six times the function timeout, so a
  # message is not handed to a second invocation while the first (with its retries) may still work on it.
  visibility_timeout = 6 * var.timeout
}

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = 14 * 24 * 3600 # the maximum: time to look at what failed and redrive it
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  count = var.event_route == "sqs" ? 1 : 0

  name                       = "${var.name}-events"
  visibility_timeout_seconds = local.visibility_timeout
  message_retention_seconds  = 14 * 24 * 3600 # the maximum: what waits while braked (brake.tf) is kept longest
  receive_wait_time_seconds  = 20             # long polling: fewer empty receives
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {
  count = var.event_route == "sqs" ? 1 : 0

  queue_url = aws_sqs_queue.dead_letters.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events[0].arn]
  })
}

# Only this bucket, in this account, may send to the queue.
data "aws_iam_policy_document" "events_queue" {
  count = var.event_route == "sqs" ? 1 : 0

  statement {
    sid       = "S3Notifications"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events[0].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.source.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  count = var.event_route == "sqs" ? 1 : 0

  queue_url = aws_sqs_queue.events[0].id
  policy    = data.aws_iam_policy_document.events_queue[0].json
}

resource "aws_lambda_event_source_mapping" "events" {
  count = var.event_route == "sqs" ? 1 : 0

  event_source_arn                   = aws_sqs_queue.events[0].arn
  function_name                      = aws_lambda_function.thumbnailer.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = 1
  # The handler returns {"batchItemFailures": [...]}: only the messages that hit a transient error come back.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    # The cost guard; never above a reservation, which would only throttle the surplus.
    maximum_concurrency = var.reserved_concurrency == null ? var.max_concurrency : max(2, min(var.max_concurrency, var.reserved_concurrency))
  }
}
