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

resource "azurerm_monitor_metric_alert" "dead_letters" {
  name                = "${local.function_name}-dead-letters"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_eventgrid_system_topic.images.id]
  description         = "Event Grid dead-lettered blob events into ${azurerm_storage_container.deadletter.name}: their thumbnails are missing. Read the blobs there, fix, then queue them again (README: Backfill)."
  severity            = 1
  frequency           = "PT5M"
  window_size         = "PT5M"

  criteria {
    metric_namespace = "Microsoft.EventGrid/systemTopics"
    metric_name      = "DeadLetteredCount"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = 0
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts.id
  }

  tags = var.tags
}

resource "azurerm_monitor_metric_alert" "dropped_events" {
  name                = "${local.function_name}-dropped-events"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_eventgrid_system_topic.images.id]
  description         = "Event Grid dropped blob events (not even dead-lettered): thumbnails are missing; run a backfill."
  severity            = 1
  frequency           = "PT5M"
  window_size         = "PT5M"

  criteria {
    metric_namespace = "Microsoft.EventGrid/systemTopics"
    metric_name      = "DroppedEventCount"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = 0
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts.id
  }

  tags = var.tags
}

resource "azurerm_monitor_metric_alert" "function_failures" {
  name                = "${local.function_name}-failures"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_application_insights.this.id]
  description         = "Invocations of ${local.function_name} failed (a raised transient error, a crash, a failed cold start): Event Grid retries, someone should look."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT5M"

  criteria {
    metric_namespace = "microsoft.insights/components"
    metric_name      = "requests/failed"
    aggregation      = "Count"
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

  criteria {
    query                   = <<-KQL
      StorageQueueLogs
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
}
