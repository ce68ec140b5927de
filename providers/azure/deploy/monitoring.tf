resource "azurerm_log_analytics_workspace" "this" {
  name                = "${local.function_name}-logs"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_application_insights" "this" {
  name                          = "${local.function_name}-insights"
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  workspace_id                  = azurerm_log_analytics_workspace.this.id
  application_type              = "other"
  local_authentication_disabled = true # ingestion needs an Entra ID token (Monitoring Metrics Publisher)
  retention_in_days             = var.log_retention_days
  tags                          = var.tags
}

# Who read, wrote and deleted what in the images account (replaces classic Storage Analytics logs).
resource "azurerm_monitor_diagnostic_setting" "images_blobs" {
  name                       = "blob-requests"
  target_resource_id         = "${azurerm_storage_account.images.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageRead"
  }

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}

resource "azurerm_monitor_diagnostic_setting" "runtime_queues" {
  name                       = "queue-requests"
  target_resource_id         = "${azurerm_storage_account.runtime.id}/queueServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}
