# The brake (`polythumb brake azure`, `polythumb release azure`; docs/brake.md). Event Grid cannot pause a
# subscription, and retries an undelivered event for 24 hours at most before dead-lettering it (or at once,
# for a refusal such as a stopped app's 403). So the brake points the subscription at the queue below, on
# the images account, where events are delivered (nothing retried or dead-lettered) and kept with no
# expiry, then stops the app; release starts the app, restores the recorded destination and moves the held
# events to the backfill queue, whose function renders them. The record is a label of the subscription.
# A `terraform apply` restores the subscription and starts the app: it releases the brake, leaving held
# events in the queue until `polythumb release azure` moves them.

resource "azurerm_storage_queue" "held" {
  name               = "polythumb-held"
  storage_account_id = azurerm_storage_account.images.id
}

# Event Grid writes to the held queue as the system topic (no account key: keys are off).
resource "azurerm_role_assignment" "held_sender" {
  scope                = azurerm_storage_queue.held.id
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = azurerm_eventgrid_system_topic.images.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

variable "brake_operator_principal_id" {
  description = "Object id of the user, group or service principal that runs `polythumb brake|release azure`; null grants nothing (an Owner or Contributor of the resource group needs only the data roles then)."
  type        = string
  default     = null
}

variable "brake_operator_principal_type" {
  description = "Kind of brake_operator_principal_id: User, Group or ServicePrincipal."
  type        = string
  default     = "User"

  validation {
    condition     = contains(["User", "Group", "ServicePrincipal"], var.brake_operator_principal_type)
    error_message = "brake_operator_principal_type must be User, Group or ServicePrincipal."
  }
}

locals {
  # What the operator needs, each on the narrowest scope: redirect and restore the subscription, stop and
  # start the app, move the held events (read and delete them, send them on) and count both queues.
  brake_operator_roles = var.brake_operator_principal_id == null ? {} : {
    subscription   = { scope = azurerm_eventgrid_system_topic.images.id, role = "EventGrid EventSubscription Contributor" }
    app            = { scope = azurerm_function_app_flex_consumption.this.id, role = "Website Contributor" }
    held_processor = { scope = azurerm_storage_queue.held.id, role = "Storage Queue Data Message Processor" }
    held_reader    = { scope = azurerm_storage_queue.held.id, role = "Storage Queue Data Reader" }
    backfill_send  = { scope = azurerm_storage_queue.backfill.id, role = "Storage Queue Data Message Sender" }
    backfill_read  = { scope = azurerm_storage_queue.backfill.id, role = "Storage Queue Data Reader" }
  }
}

resource "azurerm_role_assignment" "brake_operator" {
  for_each = local.brake_operator_roles

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = var.brake_operator_principal_id
  principal_type       = var.brake_operator_principal_type
}

output "brake" {
  description = "What `polythumb brake azure` acts on: the subscription it redirects, the app it stops, the queues."
  value = {
    function_app_id       = azurerm_function_app_flex_consumption.this.id
    event_subscription_id = one(azurerm_eventgrid_system_topic_event_subscription.thumbnails[*].id)
    images_account_id     = azurerm_storage_account.images.id
    queue_endpoint        = azurerm_storage_account.images.primary_queue_endpoint
    held_queue            = azurerm_storage_queue.held.name
    backfill_queue        = azurerm_storage_queue.backfill.name
  }
}
