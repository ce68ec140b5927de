# Backfill (`polythumb backfill SRC --target azure`, see ../README.md): the work items go to a Storage
# Queue on the images account, read by the app's queue-triggered function on_backfill_queue through the
# images connection (function.tf sets its <connection>__queueServiceUri). A message that keeps failing
# moves to <queue>-poison after host.json's maxDequeueCount attempts; both queues are created here, so the
# function needs no right to create queues.

locals {
  # The default of THUMBS_BACKFILL_QUEUE, the name on_backfill_queue listens on when the setting is absent.
  backfill_queue = "polythumb-backfill"
}

variable "backfill_operator_principal_id" {
  description = "Object id of the user, group or service principal that runs `polythumb backfill --target azure`; null grants nothing."
  type        = string
  default     = null
}

variable "backfill_operator_principal_type" {
  description = "Kind of backfill_operator_principal_id: User, Group or ServicePrincipal."
  type        = string
  default     = "User"

  validation {
    condition     = contains(["User", "Group", "ServicePrincipal"], var.backfill_operator_principal_type)
    error_message = "backfill_operator_principal_type must be User, Group or ServicePrincipal."
  }
}

variable "backfill_operator_deletes_orphans" {
  description = "Let the backfill operator delete orphaned thumbnails (--delete-orphans): Blob Data Contributor on the destination container instead of Reader."
  type        = bool
  default     = false
}

resource "azurerm_storage_queue" "backfill" {
  name               = local.backfill_queue
  storage_account_id = azurerm_storage_account.images.id
}

resource "azurerm_storage_queue" "backfill_poison" {
  name               = "${local.backfill_queue}-poison" # the Functions host's naming: <queue>-poison
  storage_account_id = azurerm_storage_account.images.id
}

# The function: receive, process and delete the backfill queue's messages (Message Processor), and read
# the queue's properties, which the queue listener and the scale controller poll (Reader) -- the two roles
# Azure Functions documents for a queue trigger with an identity-based connection.
resource "azurerm_role_assignment" "backfill_queue_processor" {
  scope                = azurerm_storage_queue.backfill.id
  role_definition_name = "Storage Queue Data Message Processor"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "backfill_queue_reader" {
  scope                = azurerm_storage_queue.backfill.id
  role_definition_name = "Storage Queue Data Reader"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# ... and only add messages to the poison queue, when a message has failed maxDequeueCount times.
resource "azurerm_role_assignment" "backfill_poison_sender" {
  scope                = azurerm_storage_queue.backfill_poison.id
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# The operator: send work items (Message Sender on the backfill queue only) and plan, which lists and
# reads the properties of the source and destination containers.
resource "azurerm_role_assignment" "backfill_operator_sender" {
  count                = var.backfill_operator_principal_id == null ? 0 : 1
  scope                = azurerm_storage_queue.backfill.id
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = var.backfill_operator_principal_id
  principal_type       = var.backfill_operator_principal_type
}

resource "azurerm_role_assignment" "backfill_operator_source_reader" {
  count                = var.backfill_operator_principal_id == null ? 0 : 1
  scope                = azurerm_storage_container.source.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = var.backfill_operator_principal_id
  principal_type       = var.backfill_operator_principal_type
}

resource "azurerm_role_assignment" "backfill_operator_dest" {
  count                = var.backfill_operator_principal_id == null ? 0 : 1
  scope                = azurerm_storage_container.dest.id
  role_definition_name = var.backfill_operator_deletes_orphans ? "Storage Blob Data Contributor" : "Storage Blob Data Reader"
  principal_id         = var.backfill_operator_principal_id
  principal_type       = var.backfill_operator_principal_type
}

# Who added, read and deleted backfill messages (the images account's queue service).
resource "azurerm_monitor_diagnostic_setting" "images_queues" {
  name                       = "queue-requests"
  target_resource_id         = "${azurerm_storage_account.images.id}/queueServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}

output "backfill_queue_url" {
  description = "The queue `polythumb backfill --target azure` sends to (--sink-option queue_url=...)."
  value       = "${azurerm_storage_account.images.primary_queue_endpoint}${azurerm_storage_queue.backfill.name}"
}
