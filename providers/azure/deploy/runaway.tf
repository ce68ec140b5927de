# The runaway detector (issue 24; docs/brake.md): a loop or a duplicate fan-out shows as many deliveries per
# upload long before it shows on the bill. Every 5 minutes a query over the app's traces (the event lines of
# docs/logs.md, in the workspace's AppTraces table) counts deliveries per source object (any status) and
# renders (status ok, kind created) per source revision. The alert fires when at least runaway_min_deliveries
# lines arrived and either figure exceeds runaway_threshold.
# tests/providers/azure/test_runaway.py checks the fields it reads against the lines the function writes.

variable "runaway_threshold" {
  description = "Runaway alert: deliveries per uploaded object, or renders per source revision, in 5 minutes above this (a retried event counts 2)."
  type        = number
  default     = 3

  validation {
    condition     = var.runaway_threshold >= 1
    error_message = "runaway_threshold must be at least 1 (one delivery per upload is the normal case)."
  }
}

variable "runaway_min_deliveries" {
  description = "Runaway alert: only judge a 5-minute window with at least this many event lines (a few retries of a few uploads are no runaway)."
  type        = number
  default     = 50

  validation {
    condition     = var.runaway_min_deliveries >= 1
    error_message = "runaway_min_deliveries must be at least 1."
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "runaway" {
  name                 = "${local.function_name}-runaway"
  resource_group_name  = azurerm_resource_group.this.name
  location             = azurerm_resource_group.this.location
  scopes               = [azurerm_log_analytics_workspace.this.id]
  description          = "More than ${var.runaway_threshold} deliveries per uploaded object or renders per source revision in 5 minutes (at least ${var.runaway_min_deliveries} event lines): a loop, a duplicate subscription or a backfill gone wrong. Read the app's traces; `polythumb brake azure` stops rendering without losing an event (docs/brake.md)."
  severity             = 1
  evaluation_frequency = "PT5M"
  window_duration      = "PT5M"

  # AppTraces appears in the workspace with the app's first trace, after this apply: as for the poison
  # messages (alerts.tf), the rule skips validation and reads the table through a fuzzy union with an empty
  # stand-in. dcount's accuracy level 4 is exact far beyond a 5-minute window's objects.
  skip_query_validation = true

  criteria {
    query                   = <<-KQL
      union isfuzzy=true
        (datatable(TimeGenerated: datetime, Message: string)[]),
        (AppTraces)
      | where Message startswith "{"
      | extend line = parse_json(Message)
      | where isnotempty(tostring(line.status)) and isnotempty(tostring(line.key))
      | extend object = strcat(tostring(line.bucket), "/", tostring(line.key))
      | extend rendered = tostring(line.status) == "ok" and tostring(line.kind) == "created"
      | summarize deliveries = count(), objects = dcount(object, 4), renders = countif(rendered),
          revisions = dcountif(strcat(object, "#", tostring(line.revision)), rendered, 4)
      | where deliveries >= ${var.runaway_min_deliveries}
      | where todouble(deliveries) / objects > ${var.runaway_threshold}
          or (revisions > 0 and todouble(renders) / revisions > ${var.runaway_threshold})
    KQL
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }

  tags = var.tags
}
