# The brake (`polythumb brake aws`, `polythumb release aws`; docs/brake.md): on the SQS route it disables the
# event source mapping, so uploads and backfill work items wait in the events queue (kept 14 days, sqs.tf)
# and nothing is dead-lettered; on the direct route it sets the function's reserved concurrency to 0. The
# brake records what it changed in the function's polythumb:brake tag, and release restores exactly that.
# A `terraform apply` restores the settings below (and drops the tag): it releases the brake.

output "event_source_mapping_id" {
  description = "UUID of the event source mapping the brake disables (sqs route only)."
  value       = one(aws_lambda_event_source_mapping.events[*].uuid)
}
