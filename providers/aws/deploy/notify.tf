# Completion events (THUMBS_NOTIFY), manifests (THUMBS_MANIFEST) and signed URLs (THUMBS_URL_MODE), all
# optional and off by default: no topic, no bus, no grant, no cost. The function may publish to the one
# topic or bus made here, and nothing else.

variable "completion_events" {
  description = "Where completion events go: \"none\", \"sns\" (a topic made here) or \"eventbridge\" (a custom bus made here)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "sns", "eventbridge"], var.completion_events)
    error_message = "completion_events must be none, sns or eventbridge."
  }
}

variable "manifest" {
  description = "THUMBS_MANIFEST: write a JSON manifest (outputs, BlurHash, dominant colour, LQIP) next to each source's thumbnails."
  type        = bool
  default     = false
}

variable "signed_urls" {
  description = "THUMBS_URL_MODE=signed: each output in events and manifests gets a pre-signed GET URL (valid url_ttl seconds, and no longer than the role session)."
  type        = bool
  default     = false
}

variable "url_ttl" {
  description = "THUMBS_URL_TTL: seconds a signed URL stays valid (at most 604800, 7 days)."
  type        = number
  default     = 3600

  validation {
    condition     = var.url_ttl >= 1 && var.url_ttl <= 604800
    error_message = "url_ttl must be between 1 and 604800 seconds."
  }
}

resource "aws_sns_topic" "completion" {
  count = var.completion_events == "sns" ? 1 : 0

  name              = "${var.name}-thumbnails"
  kms_master_key_id = "alias/aws/sns" # encrypted at rest; events carry keys and URLs, never image bytes
}

resource "aws_cloudwatch_event_bus" "completion" {
  count = var.completion_events == "eventbridge" ? 1 : 0

  name = "${var.name}-thumbnails"
}

locals {
  # Signed URLs when asked for, or for the serve path's redirects (serve.tf), on every function alike.
  signed_urls = var.signed_urls || local.serve_signs

  completion_target = {
    none        = null
    sns         = one(aws_sns_topic.completion[*].arn)
    eventbridge = one(aws_cloudwatch_event_bus.completion[*].name)
  }[var.completion_events]

  # Merged into the function's environment (lambda.tf).
  completion_settings = merge(
    var.completion_events == "none" ? {} : { THUMBS_NOTIFY = "${var.completion_events}:${local.completion_target}" },
    var.manifest ? { THUMBS_MANIFEST = "true" } : {},
    local.signed_urls ? { THUMBS_URL_MODE = "signed", THUMBS_URL_TTL = tostring(var.url_ttl) } : {},
  )
}

data "aws_iam_policy_document" "completion" {
  count = var.completion_events == "none" ? 0 : 1

  statement {
    sid       = "PublishCompletionEvents"
    actions   = var.completion_events == "sns" ? ["sns:Publish"] : ["events:PutEvents"]
    resources = [var.completion_events == "sns" ? aws_sns_topic.completion[0].arn : aws_cloudwatch_event_bus.completion[0].arn]
  }
}

resource "aws_iam_role_policy" "completion" {
  count = var.completion_events == "none" ? 0 : 1

  name   = "${var.name}-publish-completion"
  role   = aws_iam_role.thumbnailer.id
  policy = data.aws_iam_policy_document.completion[0].json
}

output "completion_target" {
  description = "The SNS topic ARN or EventBridge bus name completion events are published to (null when off)."
  value       = local.completion_target
}
