# Alerts, to one action group (an email when alert_email is set):
# * dead letters: Event Grid gave up on an event and wrote it to the eventgrid-deadletter container;
# * dropped events: Event Grid dropped an event it could not even dead-letter;
# * poison messages: a blob-trigger or backfill message failed maxDequeueCount times and moved to a
#   *-poison queue (from the queue request logs of both accounts, monitoring.tf and backfill.tf);
# * function failures: invocations that raised (transient errors retried by Event Grid, crashes).

resource "azurerm_monitor_action_group" "alerts" {
  name                = "${local.function_name}-alerts"
  resource_group_name = azurerm_resource_group.this.name
  short_name          = substr("pt${var.name_prefix}", 0, 12)

  dynamic "email_receiver" {
    for_each = var.alert_email == null ? [] : [var.alert_email]
    content {
      name                    = "operator"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }

  tags = var.tags
}

locals {
  # Metric alerts: any count above zero in a 5-minute window.
  metric_alerts = {
    dead-letters = {
      scope       = azurerm_eventgrid_system_topic.images.id
      namespace   = "Microsoft.EventGrid/systemTopics"
      metric      = "DeadLetteredCount"
      aggregation = "Total"
      severity    = 1
      description = "Event Grid dead-lettered blob events into ${azurerm_storage_container.deadletter.name}: their thumbnails are missing. Read the blobs there, fix, then queue them again (README: Backfill)."
    }
    dropped-events = {
      scope       = azurerm_eventgrid_system_topic.images.id
      namespace   = "Microsoft.EventGrid/systemTopics"
      metric      = "DroppedEventCount"
      aggregation = "Total"
      severity    = 1
      description = "Event Grid dropped blob events (not even dead-lettered): thumbnails are missing; run a backfill."
    }
    failures = {
      scope       = azurerm_application_insights.this.id
      namespace   = "microsoft.insights/components"
      metric      = "requests/failed"
      aggregation = "Count"
      severity    = 2
      description = "Invocations of ${local.function_name} failed (a raised transient error, a crash, a failed cold start): Event Grid retries, someone should look."
    }
  }
}

resource "azurerm_monitor_metric_alert" "this" {
  for_each = local.metric_alerts

  name                = "${local.function_name}-${each.key}"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [each.value.scope]
  description         = each.value.description
  severity            = each.value.severity
  frequency           = "PT5M"
  window_size         = "PT5M"

  criteria {
    metric_namespace = each.value.namespace
    metric_name      = each.value.metric
    aggregation      = each.value.aggregation
    operator         = "GreaterThan"
    threshold        = 0
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts.id
  }

  tags = var.tags
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "poison_messages" {
  name                 = "${local.function_name}-poison-messages"
  resource_group_name  = azurerm_resource_group.this.name
  location             = azurerm_resource_group.this.location
  scopes               = [azurerm_log_analytics_workspace.this.id]
  description          = "Messages moved to a *-poison queue after maxDequeueCount failed attempts (blob trigger or backfill): their thumbnails are missing."
  severity             = 1
  evaluation_frequency = "PT5M"
  window_duration      = "PT5M"

  # StorageQueueLogs exists in the workspace only once the first queue log has arrived, minutes after the
  # diagnostic settings are made in this same apply: a query naming it fails validation with SEM0100 (as
  # reported for StorageBlobLogs in Azure/bicep#11378). So the rule skips validation, the query reads the
  # table through a fuzzy union with an empty stand-in (a missing table counts nothing instead of failing
  # every evaluation), and the rule is made after the diagnostic settings that feed the table.
  skip_query_validation = true

  criteria {
    query                   = <<-KQL
      union isfuzzy=true
        (datatable(TimeGenerated: datetime, OperationName: string, Uri: string)[]),
        (StorageQueueLogs)
      | where OperationName == "PutMessage" and Uri has "-poison"
    KQL
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }

  tags = var.tags

  depends_on = [azurerm_monitor_diagnostic_setting.runtime_queues, azurerm_monitor_diagnostic_setting.images_queues]
}
