# Render on first request (serve = true; off by default: the HTTP trigger is then disabled). The function app's
# HTTP trigger serve_http (function_app.py, route thumbs/{*path}) answers GETs of output keys: a stored output
# is a redirect (a read-only user-delegation SAS of the thumbnail, or THUMBS_PUBLIC_BASE_URL's URL when
# thumbs_settings names a CDN in front of the container); a missing one is rendered through the same pipeline as
# the event functions (the same settings: it is the same app), stored, then redirected.
#
# Auth: anonymous (auth_level ANONYMOUS in function_app.py), so <img src> works in any browser. A function key
# would have to sit in every page's HTML, where it is no secret; what bounds the cost is that unsigned requests
# reach only the configured outputs, that the rest must carry a valid signature, and the cap below.
#
# The cap: the app's maximum_instance_count bounds every instance of the app (HTTP requests and events alike,
# Flex Consumption scales them in groups of their own but within that one maximum), and http_concurrency = 1
# makes each instance take one request at a time (one render: the memory/pixel table is per render).
# Identity: the app's own (there is one per app); it reads the source container and writes the destination
# container, as for the event functions, and with a signed redirect may ask for a user delegation key.

variable "serve" {
  description = "Render on first request: enable the app's HTTP trigger serve_http (<serve_url><output key>). Off by default."
  type        = bool
  default     = false
}

locals {
  serve = var.serve ? 1 : 0
  # The redirect target of a served output: a signed URL unless the user put a public base URL in thumbs_settings.
  serve_signs = var.serve && !contains(keys(var.thumbs_settings), "THUMBS_PUBLIC_BASE_URL")

  # Merged into the app settings (function.tf), where the trigger is switched on or off like the event triggers.
  serve_app_settings = merge(
    {},
  )
  # One HTTP request at a time per instance while serving (null: the platform's default, no HTTP traffic expected).
  serve_http_concurrency = var.serve ? 1 : null
}

# Signed redirects: generateUserDelegationKey is an account-level action; the key alone reads nothing (a SAS
# signed with it is bounded by the identity's container-scoped roles). The same role as signed_urls (notify.tf).
resource "azurerm_role_assignment" "serve_url_delegator" {
  count = local.serve_signs && !var.signed_urls ? 1 : 0

  scope                = azurerm_storage_account.images.id
  role_definition_name = "Storage Blob Delegator"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"
}

output "serve_url" {
  description = "Where thumbnails are requested (serve = true): <serve_url><output key>; null when serve is off."
  value       = var.serve ? "https://${azurerm_function_app_flex_consumption.this.default_hostname}/api/thumbs/" : null
}
