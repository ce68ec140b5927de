# The brake (`polythumb brake gcp`, `polythumb release gcp`; docs/brake.md): it pauses the Pub/Sub push
# subscription Eventarc made for each trigger (push -> pull, nobody pulls), so events wait there, kept
# 7 days from publication, and none is dead-lettered; release restores the push configuration it recorded
# in the code bucket. It works through gcloud: this output tells it which triggers and which bucket.

output "brake" {
  description = "What `polythumb brake gcp` acts on: each trigger (by event kind) and the bucket its records go to."
  value = {
    triggers      = { for kind, function in google_cloudfunctions2_function.thumbnails : kind => function.event_trigger[0].trigger }
    record_bucket = google_storage_bucket.code.name
  }
}
