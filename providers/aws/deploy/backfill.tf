# Backfill (`polythumb backfill SRC --target aws`, see ../README.md): nothing new runs for it. The work
# items are S3-shaped messages sent to the queue the function already consumes (event_route = "sqs"), so
# the event source mapping, its retries and the dead-letter queue apply unchanged. This file only states
# what the person or CI role running the backfill needs, as a policy document to attach to it.

variable "backfill_operator_deletes_orphans" {
  description = "Let the backfill operator's policy delete thumbnails under dest_prefix (needed for --delete-orphans)."
  type        = bool
  default     = false
}

data "aws_iam_policy_document" "backfill_operator" {
  count = var.event_route == "sqs" ? 1 : 0

  # SendMessageBatch is authorised as sqs:SendMessage; nothing else on SQS, and only on this queue.
  statement {
    sid       = "SendWorkItems"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events[0].arn]
  }

  # Planning lists both buckets (ListObjectsV2 is s3:ListBucket) ...
  statement {
    sid       = "ListOriginalsAndThumbnails"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.source.arn, aws_s3_bucket.thumbnails.arn]
  }

  # ... and HEADs thumbnails (S3 lists no metadata) and, now and then, originals: HEAD is s3:GetObject.
  statement {
    sid     = "HeadOriginalsAndThumbnails"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.source.arn}/${var.source_prefix}*",
      "${aws_s3_bucket.thumbnails.arn}/${var.dest_prefix}*",
    ]
  }

  dynamic "statement" {
    for_each = var.backfill_operator_deletes_orphans ? [1] : []
    content {
      sid       = "DeleteOrphans"
      actions   = ["s3:DeleteObject"]
      resources = ["${aws_s3_bucket.thumbnails.arn}/${var.dest_prefix}*"]
    }
  }
}

output "backfill_operator_policy_json" {
  description = "IAM policy for whoever runs `polythumb backfill --target aws` (sqs route only): send to the events queue, list and head the two buckets."
  value       = var.event_route == "sqs" ? data.aws_iam_policy_document.backfill_operator[0].json : null
}
