# The function: var.architecture, var.python_version, the zip from `polythumb package aws`, configuration in THUMBS_* variables.

locals {
  function_name = var.name
  package_path  = coalesce(var.package_path, "${path.module}/../../../dist/polythumb-aws-${var.architecture}-py${var.python_version}.zip")
  # THUMBS_MAX_PIXELS follows memory_size (memory.tf) unless thumbs_settings sets it; more is refused at plan.
  thumbs_defaults = {
    THUMBS_MAX_PIXELS = tostring(local.max_pixels_for_memory)
  }
  environment = merge(local.thumbs_defaults, local.completion_settings, var.thumbs_settings, {
    THUMBS_DEST_BUCKET  = aws_s3_bucket.thumbnails.bucket
    THUMBS_SIZES        = var.thumbs_sizes
    THUMBS_KEY_TEMPLATE = "${var.dest_prefix}{dir}/{stem}-{width}x{height}.{ext}"
    THUMBS_LOG_LEVEL    = var.thumbs_log_level
  })
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Log lines carry keys and outcomes, never image data or credentials; CloudWatch encrypts them at rest already.
  #checkov:skip=CKV_AWS_338:Operational per-image logs; 30 days by default (log_retention_days) keeps cost bounded. Raise it for audit needs.
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "thumbnailer" {
  #checkov:skip=CKV_AWS_117:The function talks only to S3, SQS and CloudWatch; a VPC would add NAT or endpoints and buy nothing.
  #checkov:skip=CKV_AWS_173:The variables hold settings, never secrets; Lambda encrypts them at rest with an AWS-managed key.
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly by CI (`polythumb package aws`); add an aws_signer profile where code signing is required.
  function_name = local.function_name
  role          = aws_iam_role.thumbnailer.arn
  handler       = "providers.aws.handler.handler"
  runtime       = "python${var.python_version}"
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = local.package_path
  source_code_hash = filebase64sha256(local.package_path)

  # null: unreserved (-1 is the provider's "no reservation"); the SQS route's cost guard is max_concurrency.
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "PassThrough"
  }

  # Asynchronous invocations (the direct S3 route) that still fail after Lambda's retries land here.
  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letters.arn
  }

  lifecycle {
    precondition {
      condition     = try(tonumber(local.environment["THUMBS_MAX_PIXELS"]), 0) <= local.max_pixels_for_memory
      error_message = "THUMBS_MAX_PIXELS in thumbs_settings is above what memory_size holds (memory.tf, the memory/pixel table in docs/deploy/index.md): raise memory_size or lower the limit."
    }
  }

  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.thumbnailer]
}

resource "aws_lambda_function_event_invoke_config" "direct" {
  count = var.event_route == "direct" ? 1 : 0

  function_name                = aws_lambda_function.thumbnailer.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 6 * 3600
}

resource "aws_lambda_permission" "s3" {
  count = var.event_route == "direct" ? 1 : 0

  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.thumbnailer.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.source.arn
  source_account = data.aws_caller_identity.current.account_id
}
