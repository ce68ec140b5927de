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

# -- the automatic brake (off by default) -------------------------------------------------------------
# With brake_on_runaway, the runaway detector's two log alert rules (observability.tf, named once in
# local.runaway_alert_names) also notify an action group of their own, which posts the alert (common alert
# schema) to the app's brake_on_runaway function (providers/azure/brake_function.py). When one of those rules
# fires, it puts the brake on -- exactly as `polythumb brake azure` does, through Resource Manager's REST API
# as the app's own identity -- and never releases: a person looks, then runs `polythumb release azure`. The
# app stops itself last; the action group's retry of an answer lost to that stop meets a stopped app, and the
# brake is complete already.

variable "brake_on_runaway" {
  description = "Put the brake on automatically when a runaway alert rule (\"<name>-thumbs-renders-per-revision\" or \"<name>-thumbs-invocations-per-upload\", observability.tf) fires; release stays a person's `polythumb release azure`."
  type        = bool
  default     = false
}

locals {
  # The runaway rules notify the alerts' action group and, with brake_on_runaway, the brake's (observability.tf).
  runaway_action_groups = concat([azurerm_monitor_action_group.alerts.id], azurerm_monitor_action_group.brake[*].id)

  # What the brake function acts on: the same map as the output brake below. The app's id and the event
  # subscription's are built from their parts: the resources themselves depend on the app these settings are of.
  brake_app_settings = var.brake_on_runaway ? {
    BRAKE_ALERTS = join(",", values(local.runaway_alert_names))
    BRAKE_DEPLOYMENT = jsonencode({
      function_app_id       = "${azurerm_resource_group.this.id}/providers/Microsoft.Web/sites/${local.function_name}"
      event_subscription_id = "${azurerm_eventgrid_system_topic.images.id}/eventSubscriptions/${local.event_subscription_name}"
      images_account_id     = azurerm_storage_account.images.id
      queue_endpoint        = azurerm_storage_account.images.primary_queue_endpoint
      held_queue            = azurerm_storage_queue.held.name
      backfill_queue        = azurerm_storage_queue.backfill.name
    })
  } : {}

  # Where the app's identity gets the brake's role: the one Event Grid subscription it redirects (not its system
  # topic, which could hold others) and the app it stops. Nothing of the queues: it never releases, and counts none.
  brake_function_scopes = var.brake_on_runaway && var.subscribe_events ? {
    subscription = one(azurerm_eventgrid_system_topic_event_subscription.thumbnails[*].id)
    app          = azurerm_function_app_flex_consumption.this.id
  } : {}
}

# Exactly what the brake calls: read and rewrite the subscription (getFullUrl: a webhook destination's URL, to
# record it without its key), read the app's state and stop it. It never starts the app nor lists its keys:
# release is a person's.
resource "azurerm_role_definition" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  # Unique in the tenant, as a role's name must be.
  name        = "polythumb brake ${local.function_name} in ${azurerm_resource_group.this.name} (${data.azurerm_client_config.current.subscription_id})"
  scope       = azurerm_resource_group.this.id
  description = "The automatic brake of ${local.function_name}: redirect its Event Grid subscription to the held queue, stop the app."

  permissions {
    actions = [
      "Microsoft.EventGrid/systemTopics/eventSubscriptions/read",
      "Microsoft.EventGrid/systemTopics/eventSubscriptions/write",
      "Microsoft.EventGrid/systemTopics/eventSubscriptions/getFullUrl/action",
      "Microsoft.Web/sites/read",
      "Microsoft.Web/sites/stop/action",
    ]
  }

  # Assignable in the deployment's resource group only; assigned below on two resources of it.
  assignable_scopes = [azurerm_resource_group.this.id]
}

resource "azurerm_role_assignment" "brake_function" {
  for_each = local.brake_function_scopes

  scope              = each.value
  role_definition_id = azurerm_role_definition.brake[0].role_definition_resource_id
  principal_id       = local.function_principal
  principal_type     = "ServicePrincipal"
}

# The function is authorised by a function key (AuthLevel.FUNCTION): the host's default key, which the action
# group keeps in the receiver's URL (Azure Monitor's Azure Function receiver needs the URL with its key).
data "azurerm_function_app_host_keys" "brake" {
  count               = var.brake_on_runaway ? 1 : 0
  name                = azurerm_function_app_flex_consumption.this.name
  resource_group_name = azurerm_resource_group.this.name
}

# Only the runaway rules notify this group (observability.tf: local.runaway_action_groups); the function checks
# the rule's name and condition again (BRAKE_ALERTS), so a notification of anything else changes nothing.
resource "azurerm_monitor_action_group" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  name                = "${local.function_name}-brake"
  resource_group_name = azurerm_resource_group.this.name
  short_name          = substr("ptbrk${var.name_prefix}", 0, 12)

  azure_function_receiver {
    name                     = "brake"
    function_app_resource_id = azurerm_function_app_flex_consumption.this.id
    function_name            = "brake_on_runaway"
    http_trigger_url         = "https://${azurerm_function_app_flex_consumption.this.default_hostname}/api/polythumb/brake?code=${data.azurerm_function_app_host_keys.brake[0].default_function_key}"
    use_common_alert_schema  = true
  }

  lifecycle {
    precondition {
      condition     = var.subscribe_events
      error_message = "brake_on_runaway needs subscribe_events: without the Event Grid subscription no event reaches the app that a brake could hold."
    }
  }

  tags = var.tags
}

output "runaway_alert_names" {
  description = "The runaway detector's alert rules (observability.tf): either one firing puts the brake on when brake_on_runaway is true."
  value       = values(local.runaway_alert_names)
}
