# Completion events (THUMBS_NOTIFY=eventgrid:...), manifests (THUMBS_MANIFEST) and user-delegation SAS
# URLs (THUMBS_URL_MODE=signed), all optional and off by default. The function's managed identity may
# send to the one topic made here (no access keys: local auth is off); with signed URLs it may ask the
# images account for a user delegation key, which grants nothing by itself (a SAS signed with it is
# bounded by the identity's own container-scoped roles).

variable "completion_events" {
  description = "Publish completion events to an Event Grid custom topic (CloudEvents 1.0 input schema) made here."
  type        = bool
  default     = false
}

variable "manifest" {
  description = "THUMBS_MANIFEST: write a JSON manifest (outputs, BlurHash, dominant colour, LQIP) next to each source's thumbnails."
  type        = bool
  default     = false
}

variable "signed_urls" {
  description = "THUMBS_URL_MODE=signed: each output gets a read-only user-delegation SAS URL."
  type        = bool
  default     = false
}

variable "url_ttl" {
  description = "THUMBS_URL_TTL: seconds a signed URL stays valid (at most 604800, 7 days: a user delegation key's lifetime)."
  type        = number
  default     = 3600

  validation {
    condition     = var.url_ttl >= 1 && var.url_ttl <= 604800
    error_message = "url_ttl must be between 1 and 604800 seconds."
  }
}

resource "azurerm_eventgrid_topic" "completion" {
  #checkov:skip=CKV_AZURE_193:Public endpoint, like the Functions app that publishes to it (Flex Consumption has no VNet here); local auth is off, so only Entra identities with EventGrid Data Sender can send.
  #checkov:skip=CKV_AZURE_106:See CKV_AZURE_193: no private endpoint in this deployment; access is by Entra role only.
  count = var.completion_events ? 1 : 0

  name                = "${local.function_name}-thumbnails"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  input_schema        = "CloudEventSchemaV1_0"
  local_auth_enabled  = false # no access keys: the managed identity's token only
  tags                = var.tags

  # No identity of its own: the topic only receives (the app's identity sends, EventGrid Data Sender
  # below); an identity would only matter for delivering to subscribers behind Entra ID, set up by them.
}

# Send events to this topic only.
resource "azurerm_role_assignment" "completion_sender" {
  count = var.completion_events ? 1 : 0

  scope                = azurerm_eventgrid_topic.completion[0].id
  role_definition_name = "EventGrid Data Sender"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

# Signed URLs: generateUserDelegationKey is an account-level action; the key alone reads nothing.
resource "azurerm_role_assignment" "url_delegator" {
  count = local.signed_urls ? 1 : 0

  scope                = azurerm_storage_account.images.id
  role_definition_name = "Storage Blob Delegator"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

locals {
  # Signed URLs when asked for, or for the serve trigger's redirects (serve.tf): the app's settings are its
  # functions' settings, so events, manifests and redirects agree.
  signed_urls = var.signed_urls || local.serve_signs

  # Merged into the app settings (function.tf).
  completion_settings = merge(
    var.completion_events ? { THUMBS_NOTIFY = "eventgrid:${azurerm_eventgrid_topic.completion[0].endpoint}" } : {},
    var.manifest ? { THUMBS_MANIFEST = "true" } : {},
    local.signed_urls ? { THUMBS_URL_MODE = "signed", THUMBS_URL_TTL = tostring(var.url_ttl) } : {},
  )
}

output "completion_topic_endpoint" {
  description = "The Event Grid topic endpoint completion events are sent to (null when off)."
  value       = one(azurerm_eventgrid_topic.completion[*].endpoint)
}
