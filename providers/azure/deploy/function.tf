resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_212:Flex Consumption (FC1) scales per event; there is no fixed worker count to raise.
  #checkov:skip=CKV_AZURE_225:Zone redundancy of a Flex Consumption plan is set by the platform, not by zone_balancing_enabled.
  name                = "${local.function_name}-plan"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = var.tags
}

locals {
  app_settings = {
    # Host storage, identity-based: the host reads the __ settings. No "AzureWebJobsStorage" entry here:
    # an empty one is dropped from state by the provider, so every plan showed a diff. The provider still
    # writes one of its own, key-based with an empty key, on every create and update of the app, which
    # the host would prefer over these: host_storage.tf deletes it after each such apply.
    "AzureWebJobsStorage__accountName" = azurerm_storage_account.runtime.name
    "AzureWebJobsStorage__credential"  = "managedidentity"

    # The images connection (THUMBS_STORAGE_CONNECTION names it), identity-based as well.
    "${local.images_connection}__blobServiceUri"  = azurerm_storage_account.images.primary_blob_endpoint
    "${local.images_connection}__queueServiceUri" = azurerm_storage_account.images.primary_queue_endpoint # backfill.tf
    "${local.images_connection}__credential"      = "managedidentity"

    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" = "Authorization=AAD"

    # One render at a time per worker: the memory/pixel table (memory.tf) is per render, and Flex
    # Consumption scales out with instances instead.
    "PYTHON_THREADPOOL_THREAD_COUNT" = "1"

    # Only the function Event Grid delivers to runs; the other is disabled, not deleted.
    "AzureWebJobs.on_event_grid.Disabled" = var.trigger == "event_grid" ? "false" : "true"
    "AzureWebJobs.on_blob.Disabled"       = var.trigger == "blob" ? "false" : "true"
    # The HTTP trigger that renders on first request runs only with serve = true (serve.tf).
    "AzureWebJobs.serve_http.Disabled" = var.serve ? "false" : "true"

    "THUMBS_STORAGE_CONNECTION" = local.images_connection
    "THUMBS_SOURCE_CONTAINER"   = azurerm_storage_container.source.name
    "THUMBS_DEST_BUCKET"        = azurerm_storage_container.dest.name
    "THUMBS_SIZES"              = var.thumbs_sizes
    # Follows instance_memory_mb (memory.tf) unless thumbs_settings sets it; more is refused at plan.
    "THUMBS_MAX_PIXELS" = tostring(local.max_pixels_for_memory)
  }

  # Every setting the app gets, in order of precedence: ours, the completion and serve switches (notify.tf,
  # serve.tf), the automatic brake's (brake.tf, none unless brake_on_runaway), then the user's thumbs_settings.
  # The thumbs_environment output (what `polythumb verify` checks) reads the same map.
  function_app_settings = merge(
    local.app_settings, local.completion_settings, local.serve_app_settings, local.brake_app_settings, var.thumbs_settings
  )
}

resource "azurerm_function_app_flex_consumption" "this" {
  name                = local.function_name
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  service_plan_id     = azurerm_service_plan.this.id

  runtime_name           = "python"
  runtime_version        = var.python_version
  maximum_instance_count = var.maximum_instance_count
  http_concurrency       = local.serve_http_concurrency # serve.tf
  instance_memory_in_mb  = var.instance_memory_mb

  # The deployment package lives in the runtime account; the app's own identity reads it.
  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.runtime.primary_blob_endpoint}${azurerm_storage_container.deployment.name}"
  storage_authentication_type = "SystemAssignedIdentity"

  https_only                                     = true
  public_network_access_enabled                  = true # Event Grid pushes to the function's endpoint
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type = "SystemAssigned"
  }

  site_config {
    minimum_tls_version                    = "1.2"
    http2_enabled                          = true
    application_insights_connection_string = azurerm_application_insights.this.connection_string
  }

  app_settings = local.function_app_settings

  lifecycle {
    precondition {
      condition     = try(tonumber(local.function_app_settings["THUMBS_MAX_PIXELS"]), 0) <= local.max_pixels_for_memory
      error_message = "THUMBS_MAX_PIXELS in thumbs_settings is above what instance_memory_mb holds (memory.tf, the memory/pixel table in docs/deploy/index.md): raise instance_memory_mb or lower the limit."
    }
    precondition {
      condition     = !(var.serve && var.serve_adhoc) || var.serve_keys_secret_uri != null
      error_message = "serve_adhoc needs serve_keys_secret_uri: the Key Vault secret holding the keys ad-hoc URLs are signed with (serve.tf)."
    }
  }

  tags = var.tags
}
