# The brake (`polythumb brake aws`, `polythumb release aws`; docs/brake.md): on the SQS route it disables the
# event source mapping, so uploads and backfill work items wait in the events queue (kept 14 days, sqs.tf)
# and nothing is dead-lettered; on the direct route it sets the function's reserved concurrency to 0. The
# brake records what it changed in the function's polythumb:brake tag, and release restores exactly that.
# A `terraform apply` restores the settings below (and drops the tag): it releases the brake.

output "event_source_mapping_id" {
  description = "UUID of the event source mapping the brake disables (sqs route only)."
  value       = one(aws_lambda_event_source_mapping.events[*].uuid)
}

# -- the automatic brake (off by default) -------------------------------------------------------------
# With brake_on_runaway, a small function from the same package subscribes to the alarm topic and puts the
# brake on -- exactly as `polythumb brake aws` does -- when either alarm of the runaway detector goes into
# ALARM. It never releases: a person looks, then runs `polythumb release aws`. The detector (renders per
# source revision, invocations per upload) is generated into observability.tf from the metric table
# (core/metrics.py, docs/observability.md), which names its alarms once: local.runaway_alarm_names.

variable "brake_on_runaway" {
  description = "Put the brake on automatically when a runaway alarm (\"<name>-renders-per-revision\" or \"<name>-invocations-per-upload\", observability.tf) goes into ALARM; release stays a person's `polythumb release aws`."
  type        = bool
  default     = false
}

locals {
  brake_function = "${var.name}-brake"
  mapping_arn    = one([for m in aws_lambda_event_source_mapping.events : "arn:${data.aws_partition.current.partition}:lambda:${var.region}:${data.aws_caller_identity.current.account_id}:event-source-mapping:${m.uuid}"])
}

resource "aws_cloudwatch_log_group" "brake" {
  #checkov:skip=CKV_AWS_158:The brake logs which alarm it acted on and the controls' states, no data; CloudWatch encrypts at rest already.
  #checkov:skip=CKV_AWS_338:Operational logs; log_retention_days (30 by default) keeps cost bounded, as for the function.
  count = var.brake_on_runaway ? 1 : 0

  name              = "/aws/lambda/${local.brake_function}"
  retention_in_days = var.log_retention_days
}

resource "aws_iam_role" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  name               = local.brake_function
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

# Exactly what the brake reads and turns: the thumbnailing function's tags, reserved concurrency and event
# invoke config, its event source mapping, the two queues' counts, and its own log stream.
data "aws_iam_policy_document" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.brake[0].arn}:*"]
  }

  statement {
    sid = "TurnTheFunction"
    actions = [
      "lambda:GetFunctionConfiguration", "lambda:ListTags", "lambda:TagResource",
      "lambda:GetFunctionConcurrency", "lambda:PutFunctionConcurrency", "lambda:GetFunctionEventInvokeConfig",
    ]
    resources = [aws_lambda_function.thumbnailer.arn]
  }

  dynamic "statement" {
    for_each = var.event_route == "sqs" ? [local.mapping_arn] : []
    content {
      sid       = "TurnTheMapping"
      actions   = ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "CountTheQueues"
    actions   = ["sqs:GetQueueAttributes"]
    resources = concat([aws_sqs_queue.dead_letters.arn], aws_sqs_queue.events[*].arn)
  }
}

resource "aws_iam_role_policy" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  name   = "${local.brake_function}-least-privilege"
  role   = aws_iam_role.brake[0].id
  policy = data.aws_iam_policy_document.brake[0].json
}

resource "aws_lambda_function" "brake" {
  #checkov:skip=CKV_AWS_117:The brake talks only to the Lambda and SQS APIs; a VPC would add NAT or endpoints and buy nothing.
  #checkov:skip=CKV_AWS_173:The variables name resources, never secrets; Lambda encrypts them at rest with an AWS-managed key.
  #checkov:skip=CKV_AWS_272:The zip is the thumbnailer's own, built reproducibly by CI (`polythumb package aws`).
  #checkov:skip=CKV_AWS_116:An alarm notification that fails is retried by SNS; a dead-letter queue would only hold alarm states.
  #checkov:skip=CKV_AWS_115:One invocation per alarm state change: it never needs a concurrency of its own reserved.
  #checkov:skip=CKV_AWS_50:X-Ray would trace a handful of API calls per alarm; its logs say what it did.
  count = var.brake_on_runaway ? 1 : 0

  function_name    = local.brake_function
  role             = aws_iam_role.brake[0].arn
  handler          = "providers.aws.brake_function.handler"
  runtime          = "python${var.python_version}"
  architectures    = [var.architecture]
  memory_size      = 256
  timeout          = 120 # waits, bounded, for the mapping to report Disabled
  filename         = local.package_path
  source_code_hash = filebase64sha256(local.package_path)

  environment {
    variables = {
      BRAKE_ALARMS                = join(",", local.runaway_alarm_names)
      BRAKE_FUNCTION              = aws_lambda_function.thumbnailer.function_name
      BRAKE_QUEUE_URL             = one(aws_sqs_queue.events[*].url)
      BRAKE_MAPPING               = one(aws_lambda_event_source_mapping.events[*].uuid)
      BRAKE_DEAD_LETTER_QUEUE_URL = aws_sqs_queue.dead_letters.url
    }
  }

  depends_on = [aws_cloudwatch_log_group.brake, aws_iam_role_policy.brake]
}

resource "aws_lambda_permission" "brake_from_alarms" {
  count = var.brake_on_runaway ? 1 : 0

  statement_id  = "AllowAlarmTopic"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.brake[0].function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.alarms.arn
}

# Only a runaway alarm going into ALARM reaches the brake (the topic carries every alarm and budget).
resource "aws_sns_topic_subscription" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  topic_arn           = aws_sns_topic.alarms.arn
  protocol            = "lambda"
  endpoint            = aws_lambda_function.brake[0].arn
  filter_policy_scope = "MessageBody"
  filter_policy       = jsonencode({ AlarmName = local.runaway_alarm_names, NewStateValue = ["ALARM"] })

  depends_on = [aws_lambda_permission.brake_from_alarms]
}

output "runaway_alarm_names" {
  description = "The runaway detector's alarms (observability.tf): either one in ALARM puts the brake on when brake_on_runaway is true."
  value       = local.runaway_alarm_names
}
