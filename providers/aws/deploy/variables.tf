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
  description = "The zip built by `polythumb package aws` (default: dist/polythumb-aws-<architecture>-py<python_version>.zip at the repository root)."
  type        = string
  default     = null
}

variable "memory_size" {
  description = "MB. Sets THUMBS_MAX_PIXELS through the memory/pixel table of docs/deploy/index.md (memory.tf): 2048 holds every image the default limit accepts and gives a full vCPU (from 1769 MB)."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory_size >= 512 && var.memory_size <= 10240
    error_message = "memory_size must be 512..10240 MB (below 512 no row of the memory/pixel table fits)."
  }
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
  description = "Concurrency reserved for the function (and withheld from the rest of the account); null (default) reserves none. Reserving needs an account quota of at least this + 10 unreserved, which new accounts (quota 10) do not have."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1 && var.reserved_concurrency <= 1000, false)
    error_message = "reserved_concurrency must be null (unreserved) or 1..1000."
  }
}

variable "max_concurrency" {
  description = "Cost guard of the SQS route: at most this many concurrent invocations drain the queue (the event source mapping's maximum concurrency; needs no account quota). Raise it for a large backfill."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 2 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be 2..1000 (the SQS event source's maximum concurrency)."
  }
}

variable "architecture" {
  description = "Lambda architecture; build the zip for the same one (`polythumb package aws --arch`)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "python_version" {
  description = "Lambda Python runtime (python<version>); build the zip for the same one (`polythumb package aws --python`)."
  type        = string
  default     = "3.12"

  validation {
    condition     = contains(["3.11", "3.12", "3.13"], var.python_version)
    error_message = "python_version must be 3.11, 3.12 or 3.13 (what `polythumb package aws --python` builds)."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete both buckets with everything in them (originals included!). For sandboxes only."
  type        = bool
  default     = false
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
  description = "Days the function's CloudWatch logs are kept."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's retention periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ... 3653)."
  }
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

  # These come from their own variables; accepting them here would let one silently override the other.
  validation {
    condition = length(setintersection(keys(var.thumbs_settings), [
      "THUMBS_DEST_BUCKET", "THUMBS_KEY_TEMPLATE", "THUMBS_SIZES", "THUMBS_LOG_LEVEL",
    ])) == 0
    error_message = "THUMBS_DEST_BUCKET, THUMBS_KEY_TEMPLATE, THUMBS_SIZES and THUMBS_LOG_LEVEL come from dest_bucket_name, dest_prefix, thumbs_sizes and thumbs_log_level, not thumbs_settings."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
