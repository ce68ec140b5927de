variable "region" {
  description = "AWS region of the buckets, the function and the queues."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the function; also the prefix of the queues, role and log group."
  type        = string
  default     = "polythumb"
}

variable "source_bucket_name" {
  description = "Bucket the originals are uploaded to (created here)."
  type        = string
}

variable "dest_bucket_name" {
  description = "Bucket the thumbnails are written to (created here)."
  type        = string
}

variable "source_prefix" {
  description = "Only keys under this prefix notify the function, and the function may only read there."
  type        = string
  default     = "uploads/"
}

variable "source_suffixes" {
  description = "Notify only for keys ending in one of these (case-sensitive, S3 filter rules); [] for all keys (THUMBS_INCLUDE still filters, case-insensitively)."
  type        = list(string)
  default     = []
}

variable "dest_prefix" {
  description = "Thumbnails are written under this prefix (it leads THUMBS_KEY_TEMPLATE); the function may only write and delete there."
  type        = string
  default     = "thumbnails/"

  validation {
    condition     = var.dest_prefix != "" && endswith(var.dest_prefix, "/")
    error_message = "dest_prefix must be a non-empty prefix ending in \"/\"; the IAM policy is scoped to it."
  }
}

variable "event_route" {
  description = "How S3 events reach the function: \"sqs\" (S3 -> SQS -> Lambda, partial batch retries, DLQ) or \"direct\" (S3 -> Lambda asynchronous invoke, failures to the DLQ)."
  type        = string
  default     = "sqs"

  validation {
    condition     = contains(["sqs", "direct"], var.event_route)
    error_message = "event_route must be \"sqs\" or \"direct\"."
  }
}

variable "package_path" {
  description = "The zip built by `polythumb package aws` (default: dist/polythumb-aws-arm64-py3.12.zip at the repository root)."
  type        = string
  default     = null
}

variable "memory_size" {
  description = "MB. 2048 holds the largest source the default limits accept (measured 1.4 GB peak RSS for a 169 MP RGBA PNG) and gives a full vCPU (from 1769 MB); see providers/aws/README.md to go lower."
  type        = number
  default     = 2048
}

variable "timeout" {
  description = "Seconds per invocation. Measured renders take < 5 s at a full vCPU; 60 s leaves room for S3 retries and a batch of 10 messages."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout >= 10 && var.timeout <= 150
    error_message = "timeout must be 10..150 s (the SQS visibility timeout is 6x it and at most 900 s)."
  }
}

variable "reserved_concurrency" {
  description = "Cost guard: at most this many concurrent invocations (also the SQS event source's maximum concurrency)."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency >= 2 && var.reserved_concurrency <= 1000
    error_message = "reserved_concurrency must be 2..1000 (SQS maximum concurrency starts at 2)."
  }
}

variable "batch_size" {
  description = "SQS messages per invocation."
  type        = number
  default     = 10
}

variable "max_receive_count" {
  description = "Deliveries of one SQS message before it moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group."
  type        = number
  default     = 30
}

variable "thumbs_sizes" {
  description = "THUMBS_SIZES: comma-separated boxes WIDTHxHEIGHT."
  type        = string
  default     = "128x128,512x512"
}

variable "thumbs_log_level" {
  description = "THUMBS_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"
}

variable "thumbs_settings" {
  description = "Further THUMBS_* settings (e.g. THUMBS_FORMAT = \"webp\"); THUMBS_DEST_BUCKET, THUMBS_KEY_TEMPLATE, THUMBS_SIZES and THUMBS_LOG_LEVEL are set from the variables above."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.thumbs_settings) : startswith(name, "THUMBS_")])
    error_message = "thumbs_settings holds THUMBS_* settings only."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
