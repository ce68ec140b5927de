# The brake (`polythumb brake gcp`, `polythumb release gcp`; docs/brake.md): it pauses the Pub/Sub push
# subscription Eventarc made for each trigger (push -> pull, nobody pulls), so events wait there, kept
# 7 days from publication, and none is dead-lettered; release restores the push configuration it recorded
# in the code bucket. It works through gcloud: this output tells it which triggers and which bucket.

locals {
  # Event kind -> the function's Eventarc trigger: what both brakes (the command, the function below) act on.
  brake_triggers = { for kind, function in google_cloudfunctions2_function.thumbnails : kind => function.event_trigger[0].trigger }
}

output "brake" {
  description = "What `polythumb brake gcp` acts on: each trigger (by event kind) and the bucket its records go to."
  value = {
    triggers      = local.brake_triggers
    record_bucket = google_storage_bucket.code.name
  }
}

# -- the automatic brake (off by default) -------------------------------------------------------------
# With brake_on_runaway, the runaway detector's two alert policies (observability.tf, generated from the
# metric table, which names them once: local.runaway_policy_names) also notify a Pub/Sub notification
# channel; its topic triggers a small function from the same archive (brake_main.py), which puts the brake
# on -- exactly as `polythumb brake gcp` does -- when one of them opens an incident. It never releases: a
# person looks, then runs `polythumb release gcp`. Off, none of this exists and the policies notify exactly
# the channels they did (local.brake_channels is empty).

variable "brake_on_runaway" {
  description = "Put the brake on automatically when a runaway alert policy (\"<name_prefix>: runaway: renders per revision\" or \"...: invocations per upload\", observability.tf) opens an incident; release stays a person's `polythumb release gcp`."
  type        = bool
  default     = false
}

locals {
  brake_function = "${var.name_prefix}-brake"
  brake_channels = [for channel in google_monitoring_notification_channel.brake : channel.id]
  # Cloud Monitoring publishes Pub/Sub notifications as its notification service agent.
  monitoring_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "brake" {
  #checkov:skip=CKV_GCP_83:Alert notifications name a policy and an incident, never image data; Google-managed encryption applies.
  count = var.brake_on_runaway ? 1 : 0

  name       = "${local.brake_function}-alerts"
  depends_on = [google_project_service.apis]
}

resource "google_monitoring_notification_channel" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  display_name = "polythumb automatic brake (${var.name_prefix})"
  type         = "pubsub"
  labels = {
    topic = google_pubsub_topic.brake[0].id
  }
  depends_on = [google_project_service.apis]
}

# The agent exists once the project has a notification channel: granted after the channel, on this topic only.
resource "google_pubsub_topic_iam_member" "monitoring_publishes_alerts" {
  count = var.brake_on_runaway ? 1 : 0

  topic      = google_pubsub_topic.brake[0].id
  role       = "roles/pubsub.publisher"
  member     = local.monitoring_agent
  depends_on = [google_monitoring_notification_channel.brake]
}

# Identity of the brake function: reads the triggers, pauses their subscriptions, writes its records. Nothing else.
resource "google_service_account" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  account_id   = local.brake_function
  display_name = "polythumb automatic brake (pauses the event subscriptions)"
  depends_on   = [google_project_service.apis]
}

# Exactly the calls the brake makes: Eventarc triggers.get (trigger -> subscription), Pub/Sub subscriptions.get,
# and subscriptions.patch / modifyPushConfig (both pubsub.subscriptions.update). Granted on the project because
# no narrower scope can name these resources: Eventarc creates each trigger's subscription, under a name of its
# own choosing, after Terraform made the trigger (deadletter.tf reaches it through gcloud for the same reason),
# and a trigger has no IAM policy of its own. The role holds no create, delete, consume, publish or IAM right.
# Pausing sets an empty push configuration: unlike a release, it needs no actAs on the trigger's account.
resource "google_project_iam_custom_role" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_brake"
  title       = "polythumb automatic brake (${var.name_prefix})"
  description = "Read Eventarc triggers, read and pause their Pub/Sub subscriptions (brake.tf)."
  permissions = ["eventarc.triggers.get", "pubsub.subscriptions.get", "pubsub.subscriptions.update"]
}

resource "google_project_iam_member" "brake_pauses_subscriptions" {
  count = var.brake_on_runaway ? 1 : 0

  project = var.project_id
  role    = google_project_iam_custom_role.brake[0].id
  member  = "serviceAccount:${google_service_account.brake[0].email}"
}

# The records: create (and replace, which deletes the previous generation) objects under polythumb-brake/ of
# the code bucket only (an IAM condition on the object name; the bucket has uniform bucket-level access).
resource "google_project_iam_custom_role" "brake_records" {
  count = var.brake_on_runaway ? 1 : 0

  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_brake_records"
  title       = "polythumb automatic brake records (${var.name_prefix})"
  description = "Write the brake's records in the code bucket (brake.tf)."
  permissions = ["storage.objects.create", "storage.objects.delete"]
}

resource "google_storage_bucket_iam_member" "brake_writes_records" {
  count = var.brake_on_runaway ? 1 : 0

  bucket = google_storage_bucket.code.name
  role   = google_project_iam_custom_role.brake_records[0].id
  member = "serviceAccount:${google_service_account.brake[0].email}"

  condition {
    title       = "brake records only"
    description = "objects under polythumb-brake/ (providers/gcp/brake_steps.py RECORD_PREFIX)"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.code.name}/objects/polythumb-brake/\")"
  }
}

resource "google_cloudfunctions2_function" "brake" {
  count = var.brake_on_runaway ? 1 : 0

  name        = local.brake_function
  location    = var.region
  description = "polythumb: the automatic brake, on the runaway alert policies' incidents"

  build_config {
    runtime         = var.runtime
    entry_point     = "handle_brake_alert" # providers/gcp/brake_function.py, re-exported by the archive's brake_main.py
    service_account = coalesce(var.build_service_account, one(google_service_account.build[*].id))
    environment_variables = {
      GOOGLE_FUNCTION_SOURCE = "brake_main.py" # not main.py: the thumbnail functions never load the brake
    }

    source {
      storage_source {
        bucket = google_storage_bucket.code.name
        object = google_storage_bucket_object.package.name
      }
    }
  }

  service_config {
    min_instance_count             = 0
    max_instance_count             = 1 # one incident at a time; the brake is idempotent
    available_memory               = "256M"
    timeout_seconds                = 120
    ingress_settings               = "ALLOW_INTERNAL_ONLY" # Eventarc pushes count as internal traffic
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.brake[0].email
    environment_variables = {
      BRAKE_POLICIES      = jsonencode(local.runaway_policy_names)
      BRAKE_TRIGGERS      = jsonencode(local.brake_triggers)
      BRAKE_RECORD_BUCKET = google_storage_bucket.code.name
      THUMBS_LOG_LEVEL    = var.thumbs_log_level
    }
  }

  # A transient failure (an API throttling) answers 500 and is redelivered with backoff; the function
  # acknowledges what a retry cannot fix (providers/gcp/brake_function.py).
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.brake[0].id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [time_sleep.iam_propagation]
}

# The trigger's identity invokes the brake function's Cloud Run service only.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_brake" {
  count = var.brake_on_runaway ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.brake[0].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

output "runaway_policy_names" {
  description = "The runaway detector's alert policies (observability.tf): either one opening an incident puts the brake on when brake_on_runaway is true."
  value       = local.runaway_policy_names
}
