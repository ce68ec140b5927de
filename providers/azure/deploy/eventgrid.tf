# Blob events of the images account -> the function, filtered to the source container.
#
# Delivery is at least once. A failed invocation (a transient error raised by the code) makes the
# host answer with an error, and Event Grid retries with exponential back-off within the policy
# below, then dead-letters the event to the eventgrid-deadletter container. Permanent errors (not an
# image, a malformed event) are acknowledged by the code and never reach the dead-letter container.

locals {
  # What on_event_grid acts on (providers/azure/events.py). BlobRenamed and DirectoryDeleted come only from
  # Data Lake (hierarchical namespace) accounts: a rename moves the thumbnails, a recursive directory delete
  # removes those of every file under it. The blob trigger's endpoint takes creations only.
  event_grid_event_types = [
    "Microsoft.Storage.BlobCreated",
    "Microsoft.Storage.BlobDeleted",
    "Microsoft.Storage.BlobRenamed",
    "Microsoft.Storage.DirectoryDeleted",
  ]
  blob_trigger_event_types = ["Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"]
}

resource "azurerm_eventgrid_system_topic" "images" {
  name                   = "${local.function_name}-blob-events"
  resource_group_name    = azurerm_resource_group.this.name
  location               = azurerm_resource_group.this.location
  source_arm_resource_id = azurerm_storage_account.images.id
  topic_type             = "Microsoft.Storage.StorageAccounts"

  # Dead-lettering authenticates with this identity: no key or SAS for the dead-letter container.
  identity {
    type = "SystemAssigned"
  }

  tags = var.tags
}

resource "azurerm_role_assignment" "deadletter_writer" {
  scope                = azurerm_storage_container.deadletter.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_eventgrid_system_topic.images.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# The blob trigger's Event Grid endpoint is authorised by the blobs_extension system key.
data "azurerm_function_app_host_keys" "this" {
  count               = var.subscribe_events && var.trigger == "blob" ? 1 : 0
  name                = azurerm_function_app_flex_consumption.this.name
  resource_group_name = azurerm_resource_group.this.name
}

locals {
  # Named here: the automatic brake's settings (brake.tf) build the subscription's id from it.
  event_subscription_name = "polythumb-${replace(var.trigger, "_", "-")}"
}

resource "azurerm_eventgrid_system_topic_event_subscription" "thumbnails" {
  count               = var.subscribe_events ? 1 : 0
  name                = local.event_subscription_name
  system_topic        = azurerm_eventgrid_system_topic.images.name
  resource_group_name = azurerm_resource_group.this.name

  included_event_types  = var.trigger == "blob" ? local.blob_trigger_event_types : local.event_grid_event_types
  event_delivery_schema = var.trigger == "blob" ? "EventGridSchema" : var.event_delivery_schema

  # Only the source container: thumbnails written to the destination never come back as events.
  subject_filter {
    subject_begins_with = "/blobServices/default/containers/${azurerm_storage_container.source.name}/blobs/"
    case_sensitive      = true
  }

  dynamic "azure_function_endpoint" {
    for_each = var.trigger == "event_grid" ? [1] : []
    content {
      function_id = "${azurerm_function_app_flex_consumption.this.id}/functions/on_event_grid"
      # One event per request: a retry redelivers only the event that failed.
      max_events_per_batch              = 1
      preferred_batch_size_in_kilobytes = 64
    }
  }

  dynamic "webhook_endpoint" {
    for_each = var.trigger == "blob" ? [1] : []
    content {
      url                  = "https://${azurerm_function_app_flex_consumption.this.default_hostname}/runtime/webhooks/blobs?functionName=Host.Functions.on_blob&code=${data.azurerm_function_app_host_keys.this[0].blobs_extension_key}"
      max_events_per_batch = 1
    }
  }

  # 10 attempts with Event Grid's back-off (10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, ...)
  # cover a storage or platform incident of a few hours; after that, or after 24 h, dead-letter.
  retry_policy {
    max_delivery_attempts = 10
    event_time_to_live    = 1440
  }

  dead_letter_identity {
    type = "SystemAssigned"
  }

  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.images.id
    storage_blob_container_name = azurerm_storage_container.deadletter.name
  }

  depends_on = [azurerm_role_assignment.deadletter_writer]
}
