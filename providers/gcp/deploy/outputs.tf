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
