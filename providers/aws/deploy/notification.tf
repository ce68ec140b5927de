# S3 -> (SQS | Lambda) for created and removed objects under source_prefix, one rule per suffix.

locals {
  suffixes = length(var.source_suffixes) > 0 ? var.source_suffixes : [""]
  events   = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
}

resource "aws_s3_bucket_notification" "source" {
  bucket = aws_s3_bucket.source.id

  dynamic "queue" {
    for_each = var.event_route == "sqs" ? local.suffixes : []
    content {
      id            = "polythumb-${queue.key}"
      queue_arn     = aws_sqs_queue.events[0].arn
      events        = local.events
      filter_prefix = var.source_prefix == "" ? null : var.source_prefix
      filter_suffix = queue.value == "" ? null : queue.value
    }
  }

  dynamic "lambda_function" {
    for_each = var.event_route == "direct" ? local.suffixes : []
    content {
      id                  = "polythumb-${lambda_function.key}"
      lambda_function_arn = aws_lambda_function.thumbnailer.arn
      events              = local.events
      filter_prefix       = var.source_prefix == "" ? null : var.source_prefix
      filter_suffix       = lambda_function.value == "" ? null : lambda_function.value
    }
  }

  depends_on = [aws_sqs_queue_policy.events, aws_lambda_permission.s3]
}
