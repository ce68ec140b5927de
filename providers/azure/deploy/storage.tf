# Two accounts, so that the function's identity can own its runtime account (host locks, blob-trigger
# receipts, the deployment package) without gaining any right on the images beyond the two roles in
# identity.tf. Both refuse shared keys and anonymous access: every caller authenticates with Entra ID.

resource "azurerm_storage_account" "images" {
  #checkov:skip=CKV_AZURE_59:Event Grid delivery and a Flex app without VNet integration reach the account over its public endpoint; shared keys and anonymous access are off, so every request needs an Entra ID token and a data-plane role.
  #checkov:skip=CKV_AZURE_35:Same reason: a default-deny network rule would cut off the function app, which has no VNet integration in this deployment.
  #checkov:skip=CKV2_AZURE_33:Private endpoints need a VNet; this deployment relies on Entra ID-only access (see CKV_AZURE_59).
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys plus infrastructure (double) encryption; a customer-managed key needs a Key Vault this deployment does not create.
  #checkov:skip=CKV_AZURE_33:Classic Storage Analytics queue logging is superseded by Azure Monitor diagnostic settings; the backfill queue's requests are logged by one (backfill.tf).
  name                     = local.images_account
  resource_group_name      = azurerm_resource_group.this.name
  location                 = azurerm_resource_group.this.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = var.storage_replication

  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  allow_nested_items_to_be_public   = false
  public_network_access_enabled     = true
  local_user_enabled                = false
  cross_tenant_replication_enabled  = false
  infrastructure_encryption_enabled = true

  sas_policy {
    expiration_period = "00.01:00:00"
  }

  blob_properties {
    # Thumbnail writes are conditional on ETags; versioning would keep every superseded thumbnail.
    versioning_enabled = false

    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  tags = var.tags
}

resource "azurerm_storage_container" "source" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the account's diagnostic setting; Storage Insights would need an account key, and keys are disabled.
  name                  = var.source_container
  storage_account_id    = azurerm_storage_account.images.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "dest" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the account's diagnostic setting; Storage Insights would need an account key, and keys are disabled.
  name                  = var.dest_container
  storage_account_id    = azurerm_storage_account.images.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "deadletter" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the account's diagnostic setting; Storage Insights would need an account key, and keys are disabled.
  name                  = "eventgrid-deadletter"
  storage_account_id    = azurerm_storage_account.images.id
  container_access_type = "private"
}

resource "azurerm_storage_account" "runtime" {
  #checkov:skip=CKV_AZURE_59:The Functions host of a Flex app without VNet integration reaches its storage over the public endpoint; access is Entra ID-only (shared keys off).
  #checkov:skip=CKV_AZURE_35:Same reason: a default-deny network rule would cut off the Functions host.
  #checkov:skip=CKV2_AZURE_33:Private endpoints need a VNet; this deployment relies on Entra ID-only access.
  #checkov:skip=CKV2_AZURE_1:Holds only host state and the deployment package; Microsoft-managed keys plus infrastructure encryption.
  #checkov:skip=CKV_AZURE_206:Host state and the deployment package are reproducible from the repository; runtime_storage_replication chooses LRS or ZRS.
  #checkov:skip=CKV_AZURE_33:Host queues are internal to the Functions runtime; request logging goes through the diagnostic setting (monitoring.tf).
  name                     = local.runtime_account
  resource_group_name      = azurerm_resource_group.this.name
  location                 = azurerm_resource_group.this.location
  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = var.runtime_storage_replication

  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  allow_nested_items_to_be_public   = false
  public_network_access_enabled     = true
  local_user_enabled                = false
  cross_tenant_replication_enabled  = false
  infrastructure_encryption_enabled = true

  sas_policy {
    expiration_period = "00.01:00:00"
  }

  blob_properties {
    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  tags = var.tags
}

resource "azurerm_storage_container" "deployment" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the account's diagnostic setting; Storage Insights would need an account key, and keys are disabled.
  name                  = "app-package"
  storage_account_id    = azurerm_storage_account.runtime.id
  container_access_type = "private"
}
