# Retention: the functions' logs (their Cloud Run services') are routed to a log bucket of their own,
# kept log_retention_days (30 by default) whatever the project's _Default bucket keeps.

resource "google_logging_project_bucket_config" "functions" {
  project        = var.project_id
  location       = "global"
  bucket_id      = "${var.name_prefix}-functions"
  retention_days = var.log_retention_days
  description    = "polythumb function logs"
  # Log Analytics (free on the bucket; no BigQuery dataset is linked): the runaway alert queries it in SQL
  # (runaway.tf).
  enable_analytics = true
  depends_on       = [google_project_service.apis]
}

# Log entries name the Cloud Run service by its short name (resource.labels.service_name = "<prefix>-finalized"),
# while service_config[0].service is its full path (projects/<p>/locations/<r>/services/<name>): the filter
# compares the last segment.
locals {
  function_services = [for f in google_cloudfunctions2_function.thumbnails : reverse(split("/", f.service_config[0].service))[0]]
}

resource "google_logging_project_sink" "functions" {
  name        = "${var.name_prefix}-functions"
  destination = "logging.googleapis.com/${google_logging_project_bucket_config.functions.id}"
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", [for name in local.function_services : "\"${name}\""])})"
}
