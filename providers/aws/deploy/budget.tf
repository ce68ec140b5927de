# A monthly budget for this deployment (off unless budget_amount is set): AWS Budgets counts the cost of the
# resources tagged polythumb-deployment = <name> (every resource of this stack carries it: versions.tf) and
# tells the alarm topic (alarms.tf, the same channel as every alarm) when the month's actual spend passes
# each of budget_thresholds, and when the forecast passes the whole amount.
#
# AWS counts a tag only once it is activated as a cost allocation tag: the key appears in the Billing
# console up to 24 hours after the first tagged resource; activate it once per account with
# `aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey=polythumb-deployment,Status=Active`.
# Until then the budget sees no cost. A budget alerts; it stops nothing (`polythumb brake aws` does).

variable "budget_amount" {
  description = "Monthly budget of this deployment in budget_currency (e.g. 50); null (default) makes no budget."
  type        = number
  default     = null

  validation {
    condition     = var.budget_amount == null || try(var.budget_amount > 0, false)
    error_message = "budget_amount must be null (no budget) or a positive amount."
  }
}

variable "budget_currency" {
  description = "Currency of budget_amount (AWS Budgets takes USD)."
  type        = string
  default     = "USD"
}

variable "budget_thresholds" {
  description = "Percentages of budget_amount at which the alarm topic is told of the month's actual spend (the forecast is told at 100)."
  type        = list(number)
  default     = [50, 80, 100]

  validation {
    condition     = length(var.budget_thresholds) >= 1 && length(var.budget_thresholds) <= 4 && alltrue([for t in var.budget_thresholds : t > 0 && t <= 1000])
    error_message = "budget_thresholds: 1 to 4 percentages in (0, 1000] (AWS Budgets allows 5 notifications; the forecast takes one)."
  }
}

locals {
  # The cost allocation tag every resource of the stack carries (provider default_tags, versions.tf).
  cost_tag = { "polythumb-deployment" = var.name }
}

resource "aws_budgets_budget" "deployment" {
  count = var.budget_amount == null ? 0 : 1

  name         = "${var.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.budget_amount)
  limit_unit   = var.budget_currency
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [for key, value in local.cost_tag : format("user:%s$%s", key, value)] # user:<key>$<value>
  }

  dynamic "notification" {
    for_each = toset(var.budget_thresholds)
    content {
      comparison_operator       = "GREATER_THAN"
      threshold                 = notification.value
      threshold_type            = "PERCENTAGE"
      notification_type         = "ACTUAL"
      subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
    }
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }

  depends_on = [aws_sns_topic_policy.alarms] # Budgets checks it may publish when the budget is made
}

# AWS Budgets publishes to the alarm topic as its service, for this account only (merged into the topic's
# policy in alarms.tf).
data "aws_iam_policy_document" "budget_publishes" {
  statement {
    sid       = "BudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

output "budget_name" {
  description = "The AWS Budgets budget of this deployment (null without budget_amount)."
  value       = one(aws_budgets_budget.deployment[*].name)
}

output "cost_inputs" {
  description = "What `polythumb cost aws` reads besides the logs: the billed size of the function and its log group."
  value = {
    instance  = { memory_mb = var.memory_size }
    log_group = aws_cloudwatch_log_group.function.name
  }
}
