# Least privilege: two dedicated service accounts, object roles granted on single buckets (never on
# the project), and the project-level grants Eventarc storage triggers cannot do without.

# Identity of the function code: reads originals, writes and deletes thumbnails. Nothing else.
resource "google_service_account" "runtime" {
  account_id   = "${var.name_prefix}-runtime"
  display_name = "polythumb functions (reads originals, writes thumbnails)"
  depends_on   = [google_project_service.apis] # the IAM API must be on in a fresh project
}

# Identity Eventarc uses to push events to the functions.
resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}-trigger"
  display_name = "polythumb Eventarc triggers (invokes the functions)"
  depends_on   = [google_project_service.apis]
}

# Identity Cloud Build runs the function builds as. New projects (and organisations that disable the
# default grants) give the default compute account no roles, so builds fail; this account has exactly
# the roles Cloud Run functions documents for a custom build account (Logs Writer, Artifact Registry
# Writer, Storage Object Admin: https://cloud.google.com/functions/docs/securing/build-custom-sa).
# Made and granted only when build_service_account names none of the user's own.
resource "google_service_account" "build" {
  count = var.build_service_account == null ? 1 : 0

  account_id   = "${var.name_prefix}-build"
  display_name = "polythumb function builds (Cloud Build)"
  depends_on   = [google_project_service.apis]
}

locals {
  # The account builds run as: ours, or the user's (build_service_account: projects/<p>/serviceAccounts/<email>).
  build_account_email = var.build_service_account == null ? google_service_account.build[0].email : reverse(split("/", var.build_service_account))[0]
}

resource "google_project_iam_member" "build" {
  for_each = toset(var.build_service_account == null ? [
    "roles/logging.logWriter",       # build logs
    "roles/artifactregistry.writer", # the built image, in the gcf-artifacts repository Cloud Functions creates
  ] : [])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build[0].email}"
}

# The staged source and build cache live in buckets Cloud Functions creates itself on the first deploy
# (gcf-v2-sources-*, gcf-v2-uploads-*), so no bucket-level grant can name them beforehand: the role is
# granted on the project, but an IAM condition limits it to those buckets (never the images).
resource "google_project_iam_member" "build_storage" {
  count = var.build_service_account == null ? 1 : 0

  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = "serviceAccount:${google_service_account.build[0].email}"

  condition {
    title       = "Cloud Functions build buckets only"
    description = "gcf-v2-* buckets created by Cloud Functions for sources and build caches"
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-\")"
  }
}

# The archive itself: read from the code bucket, a bucket made here that no account of the user's can read
# yet -- so the user's own build account gets this one grant too.
resource "google_storage_bucket_iam_member" "build_reads_code" {
  bucket = google_storage_bucket.code.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${local.build_account_email}"
}

# Service agents, by project number (they exist once their API is on: see time_sleep.service_agents).
data "google_project" "this" {
  project_id = var.project_id
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Eventarc pushes through an authenticated Pub/Sub push subscription: the Pub/Sub service agent mints
# the trigger account's OIDC tokens. Projects whose agent predates April 2021 need this grant
# (https://cloud.google.com/eventarc/docs/run/create-trigger-storage-gcloud); granted on the trigger
# account only, never on the project.
resource "google_service_account_iam_member" "pubsub_mints_trigger_tokens" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
  depends_on         = [time_sleep.service_agents]
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
  project    = var.project_id
  role       = "roles/pubsub.publisher"
  member     = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
  depends_on = [time_sleep.service_agents]
}

# Eventarc requires the trigger's identity to hold eventReceiver on the project (no narrower scope exists).
resource "google_project_iam_member" "trigger_receives_events" {
  project    = var.project_id
  depends_on = [time_sleep.service_agents]
  role       = "roles/eventarc.eventReceiver"
  member     = "serviceAccount:${google_service_account.trigger.email}"
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

# IAM applies a new grant in about two minutes, sometimes more (https://cloud.google.com/iam/docs/access-change-propagation).
# The builds (build account), the triggers (service agents, trigger account) and the functions' first events
# (runtime account) use these grants right away, so the functions are made only after this wait, which
# follows the grants (never beside them) and starts again whenever they change.
resource "time_sleep" "iam_propagation" {
  create_duration = var.iam_propagation_wait

  triggers = {
    grants = join(",", sort(concat(
      [
        google_storage_bucket_iam_member.build_reads_code.id,
        google_service_account_iam_member.pubsub_mints_trigger_tokens.id,
        google_project_iam_member.gcs_publishes_events.id,
        google_project_iam_member.trigger_receives_events.id,
        google_storage_bucket_iam_member.runtime_reads_originals.id,
        google_storage_bucket_iam_member.runtime_writes_thumbnails.id,
        google_pubsub_topic_iam_member.agent_publishes_dead_letters.id,
      ],
      [for grant in google_project_iam_member.build : grant.id],
      google_project_iam_member.build_storage[*].id,
      google_pubsub_topic_iam_member.runtime_publishes[*].id,
      google_service_account_iam_member.runtime_signs_as_itself[*].id,
      # serve.tf (serve = true): the serve function's grants.
      google_storage_bucket_iam_member.serve_reads_originals[*].id,
      google_storage_bucket_iam_member.serve_writes_thumbnails[*].id,
      google_service_account_iam_member.serve_signs_as_itself[*].id,
      google_pubsub_topic_iam_member.serve_publishes[*].id,
      [for grant in google_secret_manager_secret_iam_member.reads_serve_keys : grant.id],
      # brake.tf (brake_on_runaway = true): the automatic brake's grants.
      google_project_iam_member.brake_pauses_subscriptions[*].id,
      google_storage_bucket_iam_member.brake_writes_records[*].id,
      google_pubsub_topic_iam_member.monitoring_publishes_alerts[*].id,
    )))
  }
}
