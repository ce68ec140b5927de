# Alerts, by email when alert_email is set (else visible in Cloud Monitoring only):
# * dead letters: an event was parked after max_delivery_attempts (deadletter.tf): thumbnails are missing;
# * function errors: the functions answer 5xx (a transient error raised for a retry, a crash, a failed
#   cold start such as a bad THUMBS_* setting): Eventarc retries, but someone should look.

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == null ? 0 : 1

  display_name = "polythumb alerts (${var.name_prefix})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
  depends_on = [google_project_service.apis]
}

locals {
  notification_channels = [for channel in google_monitoring_notification_channel.email : channel.id]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "${var.name_prefix}: events dead-lettered"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "undelivered messages on ${google_pubsub_subscription.dead_letters.name}"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letters.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Events were parked on ${google_pubsub_topic.dead_letters.name} after ${var.max_delivery_attempts} failed deliveries: their thumbnails are missing. Read the functions' logs (log bucket ${google_logging_project_bucket_config.functions.bucket_id}), fix, then re-run `polythumb backfill`."
  }
}

resource "google_monitoring_alert_policy" "function_errors" {
  display_name          = "${var.name_prefix}: function errors"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "5xx answers of the polythumb functions"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = starts_with(\"${var.name_prefix}-\") AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The polythumb functions answered 5xx: a transient storage error (Eventarc retries), a crash, or a failed cold start (a bad THUMBS_* setting). See the functions' logs."
  }

  depends_on = [google_project_service.apis]
}
