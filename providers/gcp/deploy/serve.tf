# Render on first request (serve = true; off by default: nothing below exists otherwise). An HTTP Cloud Function
# (2nd gen) fronts the thumbnail path: for each GET of an output key it looks the output up in the thumbnail
# bucket and redirects to it when present; otherwise it renders it through the same pipeline as the event
# functions (same settings, same conditional create-only writes), stores it, then redirects. The redirect goes
# to a V4 signed URL (the thumbnail bucket stays private), or under THUMBS_PUBLIC_BASE_URL when thumbs_settings
# names a CDN or website in front of the bucket.
#
# Its own service account: reads originals, reads and writes thumbnails. Its own instance cap
# (serve_max_instance_count), apart from the event functions': a flood of first requests renders at most that
# many images at once (one per instance); requests beyond it wait briefly, then are answered 429.

variable "serve" {
  description = "Render on first request: an HTTP function in front of the thumbnail path (serve_url). Off by default."
  type        = bool
  default     = false
}

variable "serve_max_instance_count" {
  description = "The serve function's own cap: at most this many instances (one render each), apart from the event functions' max_instance_count; requests beyond it get 429."
  type        = number
  default     = 10

  validation {
    condition     = var.serve_max_instance_count >= 1 && var.serve_max_instance_count <= 1000
    error_message = "serve_max_instance_count must be 1..1000."
  }
}

variable "serve_timeout_seconds" {
  description = "Seconds one serve request may take (a render and its put)."
  type        = number
  default     = 60

  validation {
    condition     = var.serve_timeout_seconds >= 5 && var.serve_timeout_seconds <= 300
    error_message = "serve_timeout_seconds must be 5..300."
  }
}

variable "serve_invokers" {
  description = "Who may call the serve function: [\"allUsers\"] (default) for <img src> in any browser; IAM members (user:, group:, serviceAccount:) for a back end that sends ID tokens. An organisation policy of Domain Restricted Sharing refuses allUsers."
  type        = list(string)
  default     = ["allUsers"]

  validation {
    condition     = alltrue([for member in var.serve_invokers : member == "allUsers" || can(regex("^(user|group|serviceAccount):", member))])
    error_message = "serve_invokers: allUsers, or user:, group: or serviceAccount: members (never allAuthenticatedUsers or a domain)."
  }
}

variable "serve_adhoc" {
  description = "THUMBS_SERVE_ADHOC: sizes, fits and formats outside the profiles through URLs signed with the keys of serve_keys_secret (docs/serve.md). Off by default."
  type        = bool
  default     = false
}

variable "serve_keys_secret" {
  description = "Secret Manager secret (its id, projects/<p>/secrets/<name>, or its name in project_id), made and rotated outside this stack, whose latest version is THUMBS_SERVE_KEYS (kid:secret pairs): given to the functions as that environment variable. Needed by serve_adhoc."
  type        = string
  default     = null
}

locals {
  serve = var.serve ? 1 : 0
  # A served output is answered with a redirect to its URL: a V4 signed URL unless thumbs_settings names a public
  # base URL. On every function (notify.tf's signed_urls), so manifests and events are the same whoever rendered.
  serve_signs = var.serve && !contains(keys(var.thumbs_settings), "THUMBS_PUBLIC_BASE_URL")
  serve_keys  = var.serve && var.serve_keys_secret != null

  # Every function: the event functions delete a deleted original's ad-hoc outputs, so they know them too.
  serve_shared_settings = var.serve && var.serve_adhoc ? { THUMBS_SERVE_ADHOC = "true" } : {}
  # The serve function only: where the originals are.
  serve_settings = { THUMBS_SERVE_SOURCE_BUCKET = google_storage_bucket.originals.name }
  # The event functions' settings, so both render the same outputs, plus the serve function's own.
  serve_environment = merge(local.thumbs_environment, local.serve_settings)
}

resource "google_service_account" "serve" {
  count = local.serve

  account_id   = "${var.name_prefix}-serve"
  display_name = "polythumb serve function (reads originals, writes thumbnails)"
  depends_on   = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "serve_reads_originals" {
  count = local.serve

  bucket = google_storage_bucket.originals.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.serve[0].email}"
}

# objectUser: get, list, create, replace and delete objects (a source deleted while its output was being stored:
# the output is withdrawn), and no IAM rights of any kind.
resource "google_storage_bucket_iam_member" "serve_writes_thumbnails" {
  count = local.serve

  bucket = google_storage_bucket.thumbnails.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.serve[0].email}"
}

# Signed redirects: the serve account signs as itself (iam.serviceAccounts.signBlob on its own account only).
resource "google_service_account_iam_member" "serve_signs_as_itself" {
  count = var.serve && local.signed_urls ? 1 : 0

  service_account_id = google_service_account.serve[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.serve[0].email}"
}

# A served output is announced like any other (THUMBS_NOTIFY): publish to the one topic.
resource "google_pubsub_topic_iam_member" "serve_publishes" {
  count = var.serve && var.completion_events ? 1 : 0

  topic  = google_pubsub_topic.completion[0].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.serve[0].email}"
}

# The signing keys: the one secret, read by the accounts the functions run as (the event functions delete ad-hoc
# outputs, and the core checks their keys wherever ad-hoc outputs are on).
resource "google_secret_manager_secret_iam_member" "reads_serve_keys" {
  for_each = local.serve_keys ? {
    serve   = google_service_account.serve[0].email
    runtime = google_service_account.runtime.email
  } : {}

  project   = var.project_id
  secret_id = var.serve_keys_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${each.value}"
}

resource "google_cloudfunctions2_function" "serve" {
  count = local.serve

  name        = "${var.name_prefix}-serve"
  location    = var.region
  description = "polythumb: thumbnails of gs://${google_storage_bucket.originals.name}, rendered on first request"

  build_config {
    runtime         = var.runtime
    entry_point     = "serve_http" # providers/gcp/main.py, re-exported by the archive's main.py
    service_account = coalesce(var.build_service_account, one(google_service_account.build[*].id))

    source {
      storage_source {
        bucket = google_storage_bucket.code.name
        object = google_storage_bucket_object.package.name
      }
    }
  }

  service_config {
    min_instance_count               = 0
    max_instance_count               = var.serve_max_instance_count # the serve path's own cap
    max_instance_request_concurrency = 1                            # one render at a time per instance: CPU-bound work
    available_memory                 = var.available_memory         # the same memory/pixel row: the same images accepted
    available_cpu                    = var.available_cpu
    timeout_seconds                  = var.serve_timeout_seconds
    ingress_settings                 = "ALLOW_ALL" # browsers and back ends; who may call is serve_invokers
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.serve[0].email
    environment_variables            = merge(local.serve_environment, { FUNCTION_TIMEOUT_SEC = tostring(var.serve_timeout_seconds) })

    # The signing keys of ad-hoc URLs, from Secret Manager: never in the function's configuration.
    dynamic "secret_environment_variables" {
      for_each = local.serve_keys ? [var.serve_keys_secret] : []
      content {
        key        = "THUMBS_SERVE_KEYS"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = try(tonumber(local.serve_environment["THUMBS_MAX_PIXELS"]), 0) <= local.max_pixels_for_memory
      error_message = "THUMBS_MAX_PIXELS in thumbs_settings is above what available_memory holds (memory.tf): raise available_memory or lower the limit."
    }
    precondition {
      condition     = !var.serve_adhoc || var.serve_keys_secret != null
      error_message = "serve_adhoc needs serve_keys_secret: the Secret Manager secret holding the keys ad-hoc URLs are signed with (THUMBS_SERVE_KEYS)."
    }
  }

  # After its grants have applied (iam.tf's time_sleep.iam_propagation waits for them too).
  depends_on = [time_sleep.iam_propagation]
}

resource "google_cloud_run_v2_service_iam_member" "serve_invokers" {
  for_each = var.serve ? toset(var.serve_invokers) : toset([])

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.serve[0].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

output "serve_url" {
  description = "Where thumbnails are requested (serve = true): <serve_url><output key>; null when serve is off."
  value       = var.serve ? "${google_cloudfunctions2_function.serve[0].service_config[0].uri}/" : null
}

output "serve_public" {
  description = "Whether anyone may call serve_url (serve_invokers holds allUsers); otherwise a request carries an ID token of an invoker. Null when serve is off."
  value       = var.serve ? contains(var.serve_invokers, "allUsers") : null
}

output "serve_function" {
  description = "The serve function's name; null when serve is off."
  value       = one(google_cloudfunctions2_function.serve[*].name)
}

output "serve_environment" {
  description = "The THUMBS_* settings the serve function runs with; null when serve is off."
  value       = var.serve ? local.serve_environment : null
}
