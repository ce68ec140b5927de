# `polythumb verify azure` runs as you (Entra ID, `az login`): shared keys are off, so it needs data-plane
# roles of its own. verify_principal_id grants them, on three containers only: upload and delete test
# originals in the source, read thumbnails in the destination, and read the dead letters (README, Watch).

variable "verify_principal_id" {
  description = "Object id of the user or service principal that runs `polythumb verify azure` and reads the dead letters; null grants nothing."
  type        = string
  default     = null
}

variable "verify_principal_type" {
  description = "Kind of verify_principal_id: User, Group or ServicePrincipal."
  type        = string
  default     = "User"

  validation {
    condition     = contains(["User", "Group", "ServicePrincipal"], var.verify_principal_type)
    error_message = "verify_principal_type must be User, Group or ServicePrincipal."
  }
}

resource "azurerm_role_assignment" "verify_source_writer" {
  count                = var.verify_principal_id == null ? 0 : 1
  scope                = azurerm_storage_container.source.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = var.verify_principal_id
  principal_type       = var.verify_principal_type
}

resource "azurerm_role_assignment" "verify_dest_reader" {
  count                = var.verify_principal_id == null ? 0 : 1
  scope                = azurerm_storage_container.dest.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = var.verify_principal_id
  principal_type       = var.verify_principal_type
}

# Reading what Event Grid dead-lettered (`az storage blob list --auth-mode login ... eventgrid-deadletter`):
# list and read that container, nothing else of the account.
resource "azurerm_role_assignment" "verify_deadletter_reader" {
  count                = var.verify_principal_id == null ? 0 : 1
  scope                = azurerm_storage_container.deadletter.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = var.verify_principal_id
  principal_type       = var.verify_principal_type
}
