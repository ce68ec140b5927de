output "function_name" {
  description = "The Lambda function."
  value       = aws_lambda_function.thumbnailer.function_name
}

output "source_bucket" {
  description = "Upload originals here, under source_prefix."
  value       = aws_s3_bucket.source.bucket
}

output "thumbnail_bucket" {
  description = "Thumbnails appear here, under dest_prefix."
  value       = aws_s3_bucket.thumbnails.bucket
}

output "events_queue_url" {
  description = "The SQS queue between S3 and the function (sqs route only)."
  value       = var.event_route == "sqs" ? aws_sqs_queue.events[0].url : null
}

output "dead_letter_queue_url" {
  description = "Messages and invocations that kept failing."
  value       = aws_sqs_queue.dead_letters.url
}

output "region" {
  description = "Region of everything above."
  value       = var.region
}

output "source_prefix" {
  description = "Only keys under this prefix are thumbnailed (`polythumb verify` uploads there)."
  value       = var.source_prefix
}

output "thumbs_environment" {
  description = "The THUMBS_* settings the function runs with (`polythumb verify` checks the thumbnails against them)."
  value       = local.environment
}

output "log_group" {
  description = "The function's CloudWatch log group (`aws logs tail <group> --follow`)."
  value       = aws_cloudwatch_log_group.function.name
}
