# Completion events (THUMBS_NOTIFY=pubsub:...), manifests (THUMBS_MANIFEST) and V4 signed URLs
# (THUMBS_URL_MODE=signed), all optional and off by default. The runtime service account may publish
# to the one topic made here; with signed URLs it may sign blobs as itself (IAM signBlob), nothing more.
# The switches (completion_events, manifest, signed_urls, url_ttl) are in variables.tf.

resource "google_pubsub_topic" "completion" {
  #checkov:skip=CKV_GCP_83:Events carry keys, sizes and URLs, never image bytes; Google-managed encryption at rest is enough, and a CMEK key would be the only KMS key of this deployment.
  count = var.completion_events ? 1 : 0

  name                       = "${var.name_prefix}-thumbnails"
  message_retention_duration = "86400s"                      # a consumer that was down for a day still gets its events
  depends_on                 = [google_project_service.apis] # the Pub/Sub API must be on in a fresh project
}

# Publish to this topic only (not a project-wide role).
resource "google_pubsub_topic_iam_member" "runtime_publishes" {
  count = var.completion_events ? 1 : 0

  topic  = google_pubsub_topic.completion[0].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

# Signed URLs: the runtime account signs as itself (iam.serviceAccounts.signBlob on its own account only).
resource "google_service_account_iam_member" "runtime_signs_as_itself" {
  count = local.signed_urls ? 1 : 0

  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.runtime.email}"
}

locals {
  # Signed URLs when asked for, or for the serve function's redirects (serve.tf), on every function alike.
  signed_urls = var.signed_urls || local.serve_signs

  # Merged into both functions' environment (functions.tf).
  completion_settings = merge(
    var.completion_events ? { THUMBS_NOTIFY = "pubsub:${google_pubsub_topic.completion[0].id}" } : {},
    var.manifest ? { THUMBS_MANIFEST = "true" } : {},
    local.signed_urls ? { THUMBS_URL_MODE = "signed", THUMBS_URL_TTL = tostring(var.url_ttl) } : {},
  )
}

output "completion_topic" {
  description = "The Pub/Sub topic completion events are published to (null when off)."
  value       = one(google_pubsub_topic.completion[*].id)
}
