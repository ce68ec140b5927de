# Least privilege: two dedicated service accounts, object roles granted on single buckets (never on
# the project), and the project-level grants Eventarc storage triggers cannot do without.

# Identity of the function code: reads originals, writes and deletes thumbnails. Nothing else.
resource "google_service_account" "runtime" {
  account_id   = "${var.name_prefix}-runtime"
  display_name = "polythumb functions (reads originals, writes thumbnails)"
}

# Identity Eventarc uses to push events to the functions.
resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}-trigger"
  display_name = "polythumb Eventarc triggers (invokes the functions)"
}

resource "google_storage_bucket_iam_member" "runtime_reads_originals" {
  bucket = google_storage_bucket.originals.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

# objectAdmin, not objectCreator: replacing a thumbnail (a new generation) and removing the thumbnails
# of a deleted original both need storage.objects.delete.
resource "google_storage_bucket_iam_member" "runtime_writes_thumbnails" {
  bucket = google_storage_bucket.thumbnails.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

# Cloud Storage publishes its notifications to Pub/Sub (Eventarc's transport) as its own service
# agent, which needs the publisher role on the project: storage triggers fail to deliver without it.
data "google_storage_project_service_account" "gcs" {}

resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Eventarc requires the trigger's identity to hold eventReceiver on the project (no narrower scope exists).
resource "google_project_iam_member" "trigger_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.trigger.email}"
}

# ... and to invoke the functions: run.invoker on each function's Cloud Run service only.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes" {
  for_each = google_cloudfunctions2_function.thumbnails

  project  = var.project_id
  location = var.region
  name     = each.value.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}
