# Dead letters: an event Eventarc could not deliver after max_delivery_attempts (a function that keeps
# answering 500) is parked on a topic, held by a subscription for 7 days and raised by an alert
# (alerts.tf), instead of being retried for 24 hours and dropped without a trace.
#
# Eventarc creates and owns the Pub/Sub subscription of each Cloud Storage trigger; its API takes no
# dead-letter setting (hashicorp/terraform-provider-google#17697), and Google documents setting it on
# that subscription (https://cloud.google.com/eventarc/docs/retry-events#dead-letter-topics). So this
# file creates the topic, its subscription and the grants, and one gcloud call per trigger attaches
# the topic to Eventarc's subscription (needs gcloud where Terraform runs; configure_dead_letter=false
# skips it, and the README gives the command).

resource "google_pubsub_topic" "dead_letters" {
  #checkov:skip=CKV_GCP_83:Dead-lettered events hold bucket and object names only, never image data; Google-managed encryption applies.
  name                       = "${var.name_prefix}-dead-letters"
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.apis]
}

# A topic without a subscription drops what is published to it: this one keeps the parked events.
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${var.name_prefix}-dead-letters"
  topic                      = google_pubsub_topic.dead_letters.id
  message_retention_duration = "604800s" # 7 days to look, fix and replay
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = "" # never expires for inactivity: it is only read when something went wrong
  }
}

# Pub/Sub forwards dead letters as its service agent: publish on the dead-letter topic ...
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic      = google_pubsub_topic.dead_letters.id
  role       = "roles/pubsub.publisher"
  member     = local.pubsub_agent
  depends_on = [time_sleep.service_agents]
}

# ... and acknowledge the forwarded message on the trigger's subscription (granted by the gcloud call
# below on that subscription only, since Terraform cannot name it before Eventarc creates it).
resource "terraform_data" "attach_dead_letter" {
  for_each = var.configure_dead_letter ? google_cloudfunctions2_function.thumbnails : {}

  triggers_replace = [each.value.event_trigger[0].trigger, google_pubsub_topic.dead_letters.id, var.max_delivery_attempts]

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = <<-EOT
      set -eu
      subscription=$(gcloud eventarc triggers describe "$TRIGGER" --format='value(transport.pubsub.subscription)')
      gcloud pubsub subscriptions update "$subscription" --dead-letter-topic="$TOPIC" --max-delivery-attempts="$ATTEMPTS"
      gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --member="$AGENT" --role=roles/pubsub.subscriber >/dev/null
    EOT
    environment = {
      TRIGGER  = each.value.event_trigger[0].trigger
      TOPIC    = google_pubsub_topic.dead_letters.id
      ATTEMPTS = tostring(var.max_delivery_attempts)
      AGENT    = local.pubsub_agent
    }
  }

  depends_on = [google_pubsub_topic_iam_member.agent_publishes_dead_letters]
}
