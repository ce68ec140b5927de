# The runaway detector (issue 24; docs/brake.md): a loop or a duplicate fan-out shows as many deliveries per
# upload long before it shows on the bill. Two CloudWatch Contributor Insights rules read the function's JSON
# log lines (docs/logs.md) over 5 minutes:
# * deliveries: every event line (any status), one contributor per source object (bucket, key);
# * renders: the lines that rendered (status ok, kind created), one contributor per source revision.
# The alarm "<name>-runaway" (local.runaway_alarm_name, brake.tf) fires when at least runaway_min_deliveries
# lines arrived and either deliveries per object or renders per revision exceeds runaway_threshold. It
# notifies the alarm topic (alarms.tf) and, with brake_on_runaway, puts the brake on.
# Cost: two rules at USD 0.50 a month each plus USD 0.02 per million log lines matched.

variable "runaway_threshold" {
  description = "Runaway alarm: deliveries per uploaded object, or renders per source revision, in 5 minutes above this (a retried event counts 2)."
  type        = number
  default     = 3

  validation {
    condition     = var.runaway_threshold >= 1
    error_message = "runaway_threshold must be at least 1 (one delivery per upload is the normal case)."
  }
}

variable "runaway_min_deliveries" {
  description = "Runaway alarm: only judge a 5-minute window with at least this many event lines (a few retries of a few uploads are no runaway)."
  type        = number
  default     = 50

  validation {
    condition     = var.runaway_min_deliveries >= 1
    error_message = "runaway_min_deliveries must be at least 1."
  }
}

locals {
  # Keys and filters name fields of the event line (docs/logs.md); tests/providers/aws/test_runaway.py
  # evaluates them over the lines core.logs.log_outcome writes.
  runaway_rules = {
    deliveries = {
      keys    = ["$.bucket", "$.key"]
      filters = [{ Match = "$.status", IsPresent = true }]
    }
    renders = {
      keys    = ["$.bucket", "$.key", "$.revision"]
      filters = [{ Match = "$.status", In = ["ok"] }, { Match = "$.kind", In = ["created"] }]
    }
  }
}

resource "aws_cloudwatch_contributor_insight_rule" "runaway" {
  for_each = local.runaway_rules

  rule_name  = "${var.name}-${each.key}-per-source"
  rule_state = "ENABLED"
  rule_definition = jsonencode({
    Schema        = { Name = "CloudWatchLogRule", Version = 1 }
    LogGroupNames = [aws_cloudwatch_log_group.function.name]
    LogFormat     = "JSON"
    Contribution  = { Keys = each.value.keys, Filters = each.value.filters }
    AggregateOn   = "Count"
  })
}

resource "aws_cloudwatch_metric_alarm" "runaway" {
  alarm_name          = local.runaway_alarm_name
  alarm_description   = "More than ${var.runaway_threshold} deliveries per uploaded object or renders per source revision in 5 minutes (at least ${var.runaway_min_deliveries} event lines): a loop, a duplicate notification or a backfill gone wrong. Look at the function's log; `polythumb brake aws` stops rendering without losing an event."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.runaway_threshold
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  # Sum: event lines matched (each contributor's count, summed); UniqueContributors: distinct objects/revisions.
  dynamic "metric_query" {
    for_each = {
      deliveries = ["deliveries", "Sum"], objects = ["deliveries", "UniqueContributors"],
      renders    = ["renders", "Sum"], revisions = ["renders", "UniqueContributors"]
    }
    content {
      id          = metric_query.key
      expression  = "INSIGHT_RULE_METRIC('${aws_cloudwatch_contributor_insight_rule.runaway[metric_query.value[0]].rule_name}', '${metric_query.value[1]}')"
      period      = 300
      return_data = false
    }
  }

  metric_query {
    id          = "runaway"
    label       = "deliveries per object or renders per revision"
    expression  = "IF(deliveries >= ${var.runaway_min_deliveries}, MAX([deliveries / objects, IF(revisions > 0, renders / revisions, 0)]), 0)"
    return_data = true
  }
}
