locals {
  # One function per Cloud Storage event type; all run the same entry point, which routes on the type.
  # "archived" is how a bucket with object versioning reports a delete (it sends no "deleted"); on a
  # bucket without versioning it never fires, so it costs nothing there.
  triggers = merge(
    { finalized = "google.cloud.storage.object.v1.finalized" },
    var.handle_deletes ? {
      deleted  = "google.cloud.storage.object.v1.deleted"
      archived = "google.cloud.storage.object.v1.archived"
    } : {},
  )

  # The THUMBS_* settings of core/config.py. The variables are defaults that thumbs_settings may
  # override (variables.tf refuses a THUMBS_DEST_BUCKET there); THUMBS_MAX_PIXELS follows the memory
  # (memory.tf) unless set, and a value above what the memory holds is refused by a check.
  thumbs_defaults = {
    THUMBS_SIZES         = var.thumbs_sizes
    THUMBS_CACHE_CONTROL = var.thumbs_cache_control
    THUMBS_LOG_LEVEL     = var.thumbs_log_level
    THUMBS_MAX_PIXELS    = tostring(local.max_pixels_for_memory)
  }
  thumbs_environment = merge(local.thumbs_defaults, local.completion_settings, var.thumbs_settings, {
    THUMBS_DEST_BUCKET = google_storage_bucket.thumbnails.name
  })
}

resource "google_project_service" "apis" {
  for_each = toset(concat([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project IAM bindings
    "eventarc.googleapis.com",
    "iam.googleapis.com", # service accounts
    "logging.googleapis.com",
    "monitoring.googleapis.com", # alert policies (alerts.tf)
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
    ],
    # Signed URLs: the function signs through IAM signBlob, an IAM Service Account Credentials API method.
    var.signed_urls ? ["iamcredentials.googleapis.com"] : [],
  ))

  service            = each.value
  disable_on_destroy = false
}

# Enabling an API creates its service agent (Pub/Sub, Eventarc, Cloud Storage) a little later; IAM
# bindings naming an agent fail with "does not exist" until then, and the first trigger with
# "permission denied" (https://cloud.google.com/eventarc/docs/troubleshooting). Wait once.
resource "time_sleep" "service_agents" {
  create_duration = var.service_agent_wait
  depends_on      = [google_project_service.apis]
}

resource "google_cloudfunctions2_function" "thumbnails" {
  for_each = local.triggers

  name        = "${var.name_prefix}-${each.key}"
  location    = var.region
  description = "polythumb: ${each.value} on gs://${google_storage_bucket.originals.name}"

  build_config {
    runtime         = var.runtime
    entry_point     = "handle_cloud_event" # providers/gcp/main.py, re-exported by the archive's main.py
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
    max_instance_count               = var.max_instance_count # cost guard
    max_instance_request_concurrency = 1                      # one image at a time per instance: CPU-bound work
    available_memory                 = var.available_memory
    available_cpu                    = var.available_cpu
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = "ALLOW_INTERNAL_ONLY" # Eventarc pushes count as internal traffic
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.runtime.email
    # FUNCTION_TIMEOUT_SEC (as 1st-gen runtimes set it) bounds completion-event publishing to the invocation.
    environment_variables            = merge(local.thumbs_environment, { FUNCTION_TIMEOUT_SEC = tostring(var.timeout_seconds) })
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = each.value
    retry_policy          = "RETRY_POLICY_RETRY" # transient errors answer 500; permanent ones are logged and acknowledged
    service_account_email = google_service_account.trigger.email

    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.originals.name
    }
  }

  lifecycle {
    precondition {
      condition     = try(tonumber(local.thumbs_environment["THUMBS_MAX_PIXELS"]), 0) <= local.max_pixels_for_memory
      error_message = "THUMBS_MAX_PIXELS in thumbs_settings is above what available_memory holds (memory.tf, the memory/pixel table in docs/deploy/index.md): raise available_memory or lower the limit."
    }
  }

  # After every grant it builds and runs with, and after IAM has had time to apply them (iam.tf).
  depends_on = [time_sleep.iam_propagation]
}
