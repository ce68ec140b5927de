output "source_bucket" {
  description = "Upload originals here."
  value       = google_storage_bucket.originals.name
}

output "thumbnail_bucket" {
  description = "Thumbnails appear here."
  value       = google_storage_bucket.thumbnails.name
}

output "functions" {
  description = "Function name by event type."
  value       = { for kind, function in google_cloudfunctions2_function.thumbnails : kind => function.name }
}

output "runtime_service_account" {
  description = "The identity the function code runs as."
  value       = google_service_account.runtime.email
}

output "thumbs_environment" {
  description = "The THUMBS_* settings the functions run with (`polythumb verify` checks the thumbnails against them)."
  value       = local.thumbs_environment
}

output "dead_letter_subscription" {
  description = "Events that failed max_delivery_attempts times wait here (`gcloud pubsub subscriptions pull`)."
  value       = google_pubsub_subscription.dead_letters.id
}

output "log_bucket" {
  description = "The functions' logs (`gcloud logging read --bucket=<id> --location=global --view=_AllLogs`)."
  value       = google_logging_project_bucket_config.functions.bucket_id
}
