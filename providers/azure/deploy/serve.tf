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

variable "serve_adhoc" {
  description = "THUMBS_SERVE_ADHOC: sizes, fits and formats outside the profiles through URLs signed with the keys of serve_keys_secret_uri (docs/serve.md). Off by default."
  type        = bool
  default     = false
}

variable "serve_keys_secret_uri" {
  description = "Key Vault secret (its versionless URI, https://<vault>.vault.azure.net/secrets/<name>), made and rotated outside this stack, whose value is THUMBS_SERVE_KEYS (kid:secret pairs): the app setting is a Key Vault reference to it, resolved by the platform. Needed by serve_adhoc; goes with serve_keys_key_vault_id."
  type        = string
  default     = null

  validation {
    condition     = var.serve_keys_secret_uri == null || can(regex("^https://[a-zA-Z0-9-]+\\.vault\\.[a-z.]+/secrets/[a-zA-Z0-9-]+/?$", var.serve_keys_secret_uri))
    error_message = "serve_keys_secret_uri must be a versionless Key Vault secret URI: https://<vault>.vault.azure.net/secrets/<name>."
  }
}

variable "serve_keys_key_vault_id" {
  description = "Resource id of the Key Vault (RBAC authorization) holding serve_keys_secret_uri: the app's identity gets Key Vault Secrets User on that one secret."
  type        = string
  default     = null
}

locals {
  serve = var.serve ? 1 : 0
  # A served output is answered with a redirect to its URL: a user-delegation SAS unless thumbs_settings names a
  # public base URL (notify.tf's signed_urls: the app's one setting, so every function agrees).
  serve_signs = var.serve && !contains(keys(var.thumbs_settings), "THUMBS_PUBLIC_BASE_URL")
  serve_keys  = var.serve && var.serve_keys_secret_uri != null

  # Merged into the app settings (function.tf), where the trigger is switched on or off like the event triggers.
  # They are every function's settings: the event functions delete a deleted original's ad-hoc outputs too.
  serve_app_settings = merge(
    var.serve ? { THUMBS_SERVE_SOURCE_BUCKET = azurerm_storage_container.source.name } : {},
    var.serve && var.serve_adhoc ? { THUMBS_SERVE_ADHOC = "true" } : {},
    local.serve_keys ? { THUMBS_SERVE_KEYS = "@Microsoft.KeyVault(SecretUri=${var.serve_keys_secret_uri})" } : {},
  )
  # One HTTP request at a time per instance while serving (null: the platform's default, no HTTP traffic expected).
  serve_http_concurrency = var.serve ? 1 : null
}

# The Key Vault reference is resolved with the app's identity: it may read that one secret.
resource "azurerm_role_assignment" "serve_keys_reader" {
  count = local.serve_keys ? 1 : 0

  scope                = "${var.serve_keys_key_vault_id}/secrets/${element(split("/", trimsuffix(var.serve_keys_secret_uri, "/")), 4)}"
  role_definition_name = "Key Vault Secrets User"
  principal_id         = local.function_principal
  principal_type       = "ServicePrincipal"

  lifecycle {
    precondition {
      condition     = var.serve_keys_key_vault_id != null
      error_message = "serve_keys_secret_uri goes with serve_keys_key_vault_id: the Key Vault's resource id, for the app's read grant."
    }
  }
}

output "serve_url" {
  description = "Where thumbnails are requested (serve = true): <serve_url><output key>; null when serve is off."
  value       = var.serve ? "https://${azurerm_function_app_flex_consumption.this.default_hostname}/api/thumbs/" : null
}
