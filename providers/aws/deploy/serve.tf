# Render on first request (serve = true; off by default: nothing below exists otherwise). A second Lambda
# function, from the same zip with the serve handler (providers.aws.serve.handler), answers HTTP GETs of output
# keys through a function URL: a stored output is a redirect, a missing one is rendered through the same
# pipeline (same settings, same conditional create-only writes as the event function), stored, then redirected.
#
# * serve_cdn = true (default): CloudFront in front, the aws-samples/image-optimization shape. An origin group
#   reads the thumbnail bucket first (origin access control) and fails over to the function URL on 403/404; the
#   function answers with a redirect to the same path, which CloudFront then finds in the bucket. No image goes
#   through the function's response, so Lambda's 6 MB response limit never applies.
# * serve_cdn = false: the function URL alone, AWS_IAM auth: for back ends that sign their requests (SigV4,
#   service "lambda"); serve_invoker_policy_json is the policy such a caller needs.
#
# The function URL is never public: AWS_IAM auth, and only this distribution may call it (origin access control).
# Its concurrency is reserved (serve_reserved_concurrency), apart from the event function's: a flood of first
# requests renders at most that many images at once and is throttled beyond (CloudFront answers 5xx, the viewer
# retries), whatever the event function does.

variable "serve" {
  description = "Render on first request: a serve function behind a function URL (and CloudFront unless serve_cdn = false). Off by default."
  type        = bool
  default     = false
}

variable "serve_cdn" {
  description = "With serve: put CloudFront in front (thumbnail bucket first, the serve function on 403/404); false leaves the IAM-authenticated function URL alone, for back ends that sign requests."
  type        = bool
  default     = true
}

variable "serve_reserved_concurrency" {
  description = "The serve function's own concurrency cap (reserved concurrency), separate from the event function's: at most this many first requests render at once. Reserving needs an account quota of at least this + 10 unreserved; null lifts the cap (then only the account's quota bounds it)."
  type        = number
  default     = 10

  validation {
    condition     = var.serve_reserved_concurrency == null || try(var.serve_reserved_concurrency >= 1 && var.serve_reserved_concurrency <= 1000, false)
    error_message = "serve_reserved_concurrency must be 1..1000, or null (no cap but the account's quota)."
  }
}

variable "serve_timeout" {
  description = "Seconds one serve request may take (a render and its put); also CloudFront's read timeout of the function origin, whose default quota is 60 s."
  type        = number
  default     = 30

  validation {
    condition     = var.serve_timeout >= 5 && var.serve_timeout <= 60
    error_message = "serve_timeout must be 5..60 s (CloudFront's origin read timeout is at most 60 s without a quota increase)."
  }
}

variable "serve_adhoc" {
  description = "THUMBS_SERVE_ADHOC: sizes, fits and formats outside the profiles through URLs signed with the keys of serve_keys_secret_arn (docs/serve.md). Off by default."
  type        = bool
  default     = false
}

variable "serve_keys_secret_arn" {
  description = "ARN of a Secrets Manager secret (made and rotated outside this stack, so no key is in its state) whose value is THUMBS_SERVE_KEYS, kid:secret pairs; the functions read it at cold start. Needed by serve_adhoc."
  type        = string
  default     = null

  validation {
    condition     = var.serve_keys_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+", var.serve_keys_secret_arn))
    error_message = "serve_keys_secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)."
  }
}

variable "serve_price_class" {
  description = "CloudFront price class of the serve distribution: PriceClass_100 (North America, Europe), PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.serve_price_class)
    error_message = "serve_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

locals {
  serve     = var.serve ? 1 : 0
  serve_cdn = var.serve && var.serve_cdn ? 1 : 0

  # A served output is answered with a redirect to its URL: a pre-signed S3 URL unless thumbs_settings chose a URL
  # mode or a public base URL. On both functions (notify.tf's signed_urls), so manifests and completion events are
  # the same whichever path rendered them.
  serve_signs = var.serve && length(setintersection(keys(var.thumbs_settings), ["THUMBS_URL_MODE", "THUMBS_PUBLIC_BASE_URL"])) == 0

  # Both functions: the event function deletes a deleted original's ad-hoc outputs, so it knows them (and, since
  # the core verifies keys wherever ad-hoc outputs are on, reads the same keys; it signs and verifies nothing).
  serve_shared_settings = merge(
    var.serve && var.serve_adhoc ? {
      THUMBS_SERVE_ADHOC        = "true"
      THUMBS_SERVE_ADHOC_PREFIX = "${var.dest_prefix}_polythumb/adhoc/" # under dest_prefix, where the roles may write
    } : {},
    var.serve && var.serve_keys_secret_arn != null ? { THUMBS_SERVE_KEYS_SECRET = var.serve_keys_secret_arn } : {},
  )

  # The serve function only: where originals are read from; behind CloudFront, outputs up to 4 MiB are answered
  # with their bytes (cached by CloudFront; base64 keeps them under Lambda's 6 MB response limit), larger ones
  # with a redirect.
  serve_settings = merge(
    { THUMBS_SERVE_SOURCE_BUCKET = aws_s3_bucket.source.bucket },
    var.serve_cdn ? { THUMBS_SERVE_INLINE_MAX = "4MiB" } : {},
  )
  # The event function's settings, so both render the same outputs, plus the serve function's own.
  serve_environment = merge(local.environment, local.serve_settings)
}

resource "aws_cloudwatch_log_group" "serve" {
  #checkov:skip=CKV_AWS_158:Log lines carry keys, statuses and outcomes, never image data, credentials or signatures; CloudWatch encrypts them at rest already.
  #checkov:skip=CKV_AWS_338:Operational per-request logs; log_retention_days (30 by default) keeps cost bounded. Raise it for audit needs.
  count = local.serve

  name              = "/aws/lambda/${local.function_name}-serve"
  retention_in_days = var.log_retention_days
}

# Its own role: read the originals, read and write (and withdraw: a source deleted while its output was being
# stored) thumbnails, write its own logs. No queue, no dead-letter queue, no other bucket or prefix.
resource "aws_iam_role" "serve" {
  count = local.serve

  name               = "${var.name}-serve"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "serve" {
  count = local.serve

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.serve[0].arn}:*"]
  }

  statement {
    sid       = "ReadOriginals"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.source.arn}/${var.source_prefix}*"]
  }

  statement {
    sid       = "WriteThumbnails"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.thumbnails.arn}/${var.dest_prefix}*"]
  }

  # A request for a missing original must be a 404, not S3's 403 (see iam.tf's HonestNotFound); a miss also lists
  # the originals a requested key may be of (the default template drops the original's extension).
  statement {
    sid       = "ListOriginalsAndThumbnails"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.source.arn, aws_s3_bucket.thumbnails.arn]
  }
}

# The signing keys of ad-hoc URLs, read at cold start (providers/aws/secrets.py), by both functions.
data "aws_iam_policy_document" "read_serve_keys" {
  count = var.serve && var.serve_keys_secret_arn != null ? 1 : 0

  statement {
    sid       = "ReadServeKeys"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.serve_keys_secret_arn]
  }
}

resource "aws_iam_role_policy" "read_serve_keys" {
  for_each = var.serve && var.serve_keys_secret_arn != null ? { serve = aws_iam_role.serve[0].id, function = aws_iam_role.thumbnailer.id } : {}

  name   = "${var.name}-read-serve-keys"
  role   = each.value
  policy = data.aws_iam_policy_document.read_serve_keys[0].json
}

resource "aws_iam_role_policy" "serve" {
  count = local.serve

  name   = "${var.name}-serve-least-privilege"
  role   = aws_iam_role.serve[0].id
  policy = data.aws_iam_policy_document.serve[0].json
}

# A served output is announced like any other (THUMBS_NOTIFY): the same single grant as the event function's.
resource "aws_iam_role_policy" "serve_completion" {
  count = var.serve && var.completion_events != "none" ? 1 : 0

  name   = "${var.name}-serve-publish-completion"
  role   = aws_iam_role.serve[0].id
  policy = data.aws_iam_policy_document.completion[0].json
}

resource "aws_lambda_function" "serve" {
  #checkov:skip=CKV_AWS_116:Function URL requests are synchronous: the caller gets the error, there is nothing to dead-letter.
  #checkov:skip=CKV_AWS_117:The function talks only to S3 and CloudWatch; a VPC would add NAT or endpoints and buy nothing.
  #checkov:skip=CKV_AWS_173:The variables hold settings, never secrets; Lambda encrypts them at rest with an AWS-managed key.
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly by CI (`polythumb package aws`); add an aws_signer profile where code signing is required.
  count = local.serve

  function_name = "${local.function_name}-serve"
  role          = aws_iam_role.serve[0].arn
  handler       = "providers.aws.serve.handler"
  runtime       = "python${var.python_version}"
  architectures = [var.architecture]
  memory_size   = var.memory_size # the same memory/pixel row as the event function: the same images accepted
  timeout       = var.serve_timeout

  filename         = local.package_path
  source_code_hash = filebase64sha256(local.package_path)

  # The serve path's own cap, apart from the event function's (-1: unreserved).
  reserved_concurrent_executions = var.serve_reserved_concurrency == null ? -1 : var.serve_reserved_concurrency

  environment {
    variables = local.serve_environment
  }

  tracing_config {
    mode = "PassThrough"
  }

  lifecycle {
    precondition {
      condition     = !var.serve_adhoc || var.serve_keys_secret_arn != null
      error_message = "serve_adhoc needs serve_keys_secret_arn: the secret holding the keys ad-hoc URLs are signed with (THUMBS_SERVE_KEYS)."
    }
    # Without output URLs every answer would carry the image itself, and Lambda refuses a response above 6 MB.
    precondition {
      condition     = lookup(var.thumbs_settings, "THUMBS_URL_MODE", "signed") != "none"
      error_message = "serve needs output URLs to redirect to: THUMBS_URL_MODE=none in thumbs_settings would answer every request with the image's bytes, and Lambda refuses a response above 6 MB. Leave it unset (signed URLs) or set signed or public."
    }
  }

  depends_on = [aws_cloudwatch_log_group.serve, aws_iam_role_policy.serve, aws_iam_role_policy.read_serve_keys]
}

resource "aws_lambda_function_url" "serve" {
  count = local.serve

  function_name      = aws_lambda_function.serve[0].function_name
  authorization_type = "AWS_IAM" # never public: CloudFront signs (origin access control), back ends sign (SigV4)
  invoke_mode        = "BUFFERED"
}

# What a back end calling the function URL itself needs (serve_cdn = false): since October 2025 a function URL
# call needs both actions.
data "aws_iam_policy_document" "serve_invoker" {
  count = local.serve

  statement {
    sid       = "InvokeServeFunctionUrl"
    actions   = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
    resources = [aws_lambda_function.serve[0].arn]
  }
}

# -- CloudFront ------------------------------------------------------------------------------------------------

resource "aws_cloudfront_origin_access_control" "thumbnails" {
  count = local.serve_cdn

  name                              = "${var.name}-thumbnails"
  description                       = "polythumb: CloudFront reads the thumbnail bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_origin_access_control" "serve" {
  count = local.serve_cdn

  name                              = "${var.name}-serve"
  description                       = "polythumb: CloudFront calls the serve function URL"
  origin_access_control_origin_type = "lambda"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

locals {
  thumbnails_origin = "thumbnail-bucket"
  serve_origin      = "serve-function"
  serve_group       = "thumbnail-bucket-then-serve"
}

resource "aws_cloudfront_distribution" "serve" {
  #checkov:skip=CKV_AWS_68:A WAF web ACL costs a monthly fee per ACL and rule; the serve function is capped by its reserved concurrency, and unsigned requests reach only configured outputs. Attach one with web_acl_id where needed.
  #checkov:skip=CKV2_AWS_47:Same: no WAF by default (Log4j rules are moot for a Python function that reads no headers).
  #checkov:skip=CKV_AWS_86:Standard logs need a log bucket owned by the organisation; the serve function logs every request it gets.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate fixes TLS 1.0 as the floor; a custom domain (aliases + ACM certificate) chooses its own.
  #checkov:skip=CKV2_AWS_42:A custom certificate needs a custom domain; the distribution's own domain is the serve URL.
  #checkov:skip=CKV2_AWS_32:Thumbnails carry their own Cache-Control; security headers are a page's concern, not an image's.
  #checkov:skip=CKV_AWS_374:Geo restriction is a business choice; images are served wherever the page that shows them is.
  count = local.serve_cdn

  enabled         = true
  comment         = "polythumb: ${aws_s3_bucket.thumbnails.bucket}, rendered on first request"
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.serve_price_class

  origin {
    origin_id                = local.thumbnails_origin
    domain_name              = aws_s3_bucket.thumbnails.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.thumbnails[0].id
  }

  origin {
    origin_id                = local.serve_origin
    domain_name              = split("/", aws_lambda_function_url.serve[0].function_url)[2]
    origin_access_control_id = aws_cloudfront_origin_access_control.serve[0].id

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
      origin_read_timeout    = var.serve_timeout
    }
  }

  # The bucket answers 403 for a missing key to a reader without s3:ListBucket (CloudFront here), 404 otherwise.
  origin_group {
    origin_id = local.serve_group

    failover_criteria {
      status_codes = [403, 404]
    }

    member {
      origin_id = local.thumbnails_origin
    }

    member {
      origin_id = local.serve_origin
    }
  }

  default_cache_behavior {
    target_origin_id       = local.serve_group
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"] # all an origin group takes; the function refuses the rest itself
    cached_methods         = ["GET", "HEAD"]
    compress               = false # images are compressed already

    # The query string reaches the function (signed ad-hoc outputs) and is part of the cache key; S3 ignores it.
    # No header is forwarded: origin access control signs the request for the origin's own Host.
    forwarded_values {
      query_string = true
      headers      = []

      cookies {
        forward = "none"
      }
    }

    # The origins' Cache-Control decides: the thumbnails' THUMBS_CACHE_CONTROL, the function's no-store redirect
    # and short-lived 404s. The default applies only where an origin sends none.
    min_ttl     = 0
    default_ttl = 3600
    max_ttl     = 31536000
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

# CloudFront may call the function URL for this distribution only (both actions: see serve_invoker above).
resource "aws_lambda_permission" "cloudfront_invokes_url" {
  count = local.serve_cdn

  statement_id           = "AllowCloudFrontInvokeFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.serve[0].function_name
  principal              = "cloudfront.amazonaws.com"
  source_arn             = aws_cloudfront_distribution.serve[0].arn
  function_url_auth_type = "AWS_IAM"
}

resource "aws_lambda_permission" "cloudfront_invokes" {
  count = local.serve_cdn

  statement_id  = "AllowCloudFrontInvokeFunction"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.serve[0].function_name
  principal     = "cloudfront.amazonaws.com"
  source_arn    = aws_cloudfront_distribution.serve[0].arn
}

# ... and read thumbnails (not list, not write) under dest_prefix, for this distribution only. Merged into the
# thumbnail bucket's policy (s3.tf), a bucket having one policy.
data "aws_iam_policy_document" "cloudfront_reads_thumbnails" {
  count = local.serve_cdn

  statement {
    sid       = "CloudFrontReadsThumbnails"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.thumbnails.arn}/${var.dest_prefix}*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.serve[0].arn]
    }
  }
}

output "serve_url" {
  description = "Where thumbnails are requested (serve = true): <serve_url><output key>. The CloudFront domain, or the IAM-authenticated function URL when serve_cdn = false; null when serve is off."
  value       = var.serve ? (var.serve_cdn ? "https://${aws_cloudfront_distribution.serve[0].domain_name}/" : "${trimsuffix(aws_lambda_function_url.serve[0].function_url, "/")}/") : null
}

output "serve_auth" {
  description = "What a request to serve_url needs: \"none\" (CloudFront), \"aws_iam\" (the function URL: SigV4-signed requests, see serve_invoker_policy_json); null when serve is off."
  value       = var.serve ? (var.serve_cdn ? "none" : "aws_iam") : null
}

output "serve_function_name" {
  description = "The serve function (its logs: /aws/lambda/<name>); null when serve is off."
  value       = one(aws_lambda_function.serve[*].function_name)
}

output "serve_function_url" {
  description = "The serve function's own URL (AWS_IAM auth: sign requests with SigV4, service lambda); null when serve is off."
  value       = one(aws_lambda_function_url.serve[*].function_url)
}

output "serve_environment" {
  description = "The THUMBS_* settings the serve function runs with; null when serve is off."
  value       = var.serve ? local.serve_environment : null
}

output "serve_invoker_policy_json" {
  description = "IAM policy for a back end that calls the function URL itself (serve_cdn = false); null when serve is off."
  value       = one(data.aws_iam_policy_document.serve_invoker[*].json)
}
