# Least privilege: read the source prefix, write and delete the destination prefix, write its own logs,
# consume its own queue, park failures in its own dead-letter queue. No wildcard action, no "*" resource.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "thumbnailer" {
  name               = "${var.name}-function"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "thumbnailer" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  statement {
    sid       = "ReadOriginals"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.source.arn}/${var.source_prefix}*"]
  }

  statement {
    sid       = "WriteThumbnails"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.thumbnails.arn}/${var.dest_prefix}*"]
  }

  # Without s3:ListBucket, S3 answers 403 instead of 404 to a HEAD of a missing key, and polythumb (rightly)
  # never takes a 403 for "absent": a first render, or a delete that finds its original gone, would fail.
  # The grant is on the bucket with no s3:prefix condition because a HEAD carries no prefix to match.
  statement {
    sid       = "HonestNotFound"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.source.arn, aws_s3_bucket.thumbnails.arn]
  }

  dynamic "statement" {
    for_each = var.event_route == "sqs" ? [aws_sqs_queue.events[0].arn] : []
    content {
      sid       = "ConsumeEvents"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ParkFailures"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_role_policy" "thumbnailer" {
  name   = "${var.name}-least-privilege"
  role   = aws_iam_role.thumbnailer.id
  policy = data.aws_iam_policy_document.thumbnailer.json
}
