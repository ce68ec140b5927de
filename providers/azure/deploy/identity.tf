# Data-plane roles of the function's system-assigned identity, each on the narrowest scope that works.
# No account keys anywhere: the app authenticates to both accounts and to Application Insights with
# this identity.

locals {
  function_principal = azurerm_function_app_flex_consumption.this.identity[0].principal_id
}

# Read the originals: the source container only.
resource "azurerm_role_assignment" "source_reader" {
  scope                = azurerm_storage_container.source.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# Write and delete thumbnails: the destination container only.
resource "azurerm_role_assignment" "dest_contributor" {
  scope                = azurerm_storage_container.dest.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# The Functions host on its own runtime account: blob leases and secrets, the deployment package,
# and the internal queues of the Event Grid-sourced blob trigger. Nothing of the images account.
resource "azurerm_role_assignment" "runtime_blob_owner" {
  scope                = azurerm_storage_account.runtime.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "runtime_queue_contributor" {
  scope                = azurerm_storage_account.runtime.id
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# The blob trigger (trigger = "blob") keeps its poison queue on the account of its connection, the
# images account; only that route gets queue rights there.
resource "azurerm_role_assignment" "images_queue_contributor" {
  count                = var.trigger == "blob" ? 1 : 0
  scope                = azurerm_storage_account.images.id
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# Telemetry with Entra ID (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), local auth is off.
resource "azurerm_role_assignment" "telemetry_publisher" {
  scope                = azurerm_application_insights.this.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# Azure RBAC applies a new role assignment minutes after it is made (Microsoft documents up to 10). The
# app's first start, the zip deployment right after the first apply (the platform writes the package to the
# runtime account with the app's identity: Blob Data Owner above) and `polythumb verify` all need these
# roles, so the apply waits once after they are made, and again whenever the set of assignments changes.
# `polythumb deploy azure` also retries the zip deployment a few times, for a slower propagation.
resource "time_sleep" "role_propagation" {
  create_duration = var.role_propagation_wait

  triggers = {
    role_assignments = join(",", sort(concat(
      [
        azurerm_role_assignment.source_reader.id,
        azurerm_role_assignment.dest_contributor.id,
        azurerm_role_assignment.runtime_blob_owner.id,
        azurerm_role_assignment.runtime_queue_contributor.id,
        azurerm_role_assignment.telemetry_publisher.id,
        azurerm_role_assignment.backfill_queue_processor.id,
        azurerm_role_assignment.backfill_queue_reader.id,
        azurerm_role_assignment.backfill_poison_sender.id,
        azurerm_role_assignment.deadletter_writer.id,
        azurerm_role_assignment.held_sender.id, # brake.tf
      ],
      azurerm_role_assignment.images_queue_contributor[*].id,
      azurerm_role_assignment.completion_sender[*].id,
      azurerm_role_assignment.url_delegator[*].id,
      azurerm_role_assignment.serve_keys_reader[*].id,
      azurerm_role_assignment.verify_source_writer[*].id,
      azurerm_role_assignment.verify_dest_reader[*].id,
      azurerm_role_assignment.verify_deadletter_reader[*].id,
      azurerm_role_assignment.backfill_operator_sender[*].id,
      azurerm_role_assignment.backfill_operator_source_reader[*].id,
      azurerm_role_assignment.backfill_operator_dest[*].id,
      [for assignment in azurerm_role_assignment.brake_operator : assignment.id],
      [for assignment in azurerm_role_assignment.brake_function : assignment.id], # brake.tf, brake_on_runaway
    )))
  }
}
