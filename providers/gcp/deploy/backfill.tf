# Backfill (`polythumb backfill SRC --target gcp`, see ../README.md): the CLI posts `finalized` CloudEvents
# to the finalized function's URL, the way Eventarc does, so nothing new runs. Whoever posts needs
# roles/run.invoker on that function's Cloud Run service only (an ID token of theirs authenticates each
# post), and must call from where the function's ingress lets it in: functions.tf keeps it internal-only,
# so run the backfill from a VM (or Cloud Run job) in a VPC network of this project.

resource "google_cloud_run_v2_service_iam_member" "backfill_invokes" {
  for_each = toset(var.backfill_invokers)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.thumbnails["finalized"].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

output "backfill_url" {
  description = "Where `polythumb backfill --target gcp` posts (--sink-option url=...): the finalized function's URL."
  value       = google_cloudfunctions2_function.thumbnails["finalized"].service_config[0].uri
}
