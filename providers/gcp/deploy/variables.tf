variable "project_id" {
  description = "Project that holds the buckets and the functions."
  type        = string
}

variable "region" {
  description = "Region of the functions, their Eventarc triggers and the buckets (a storage trigger must live where its bucket lives)."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, buckets)."
  type        = string
  default     = "polythumb"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,18}$", var.name_prefix))
    error_message = "name_prefix: 3-19 lower-case letters, digits or hyphens, starting with a letter (service account ids are short)."
  }
}

variable "source_bucket_name" {
  description = "Bucket the originals are uploaded to (created here). Default: <project>-<prefix>-originals."
  type        = string
  default     = null
}

variable "thumbnail_bucket_name" {
  description = "Bucket that receives the thumbnails (created here). Default: <project>-<prefix>-thumbnails."
  type        = string
  default     = null
}

variable "package_path" {
  description = "The archive built by `polythumb package gcp`. Default: dist/polythumb-gcp.zip at the repository root."
  type        = string
  default     = null
}

variable "runtime" {
  description = "Cloud Functions Python runtime; build the archive for the same version (`polythumb package gcp --python 3.11`)."
  type        = string
  default     = "python311"
}

variable "handle_deletes" {
  description = "Deploy the functions on object deletion (deleted, and archived for versioned buckets) that remove the thumbnails of deleted originals."
  type        = bool
  default     = true
}

variable "max_instance_count" {
  description = "Cost guard: at most this many instances per function, whatever the upload rate (events queue meanwhile)."
  type        = number
  default     = 10
}

variable "available_memory" {
  description = "Memory per instance, in the memory/pixel table of docs/deploy/index.md (512Mi, 1Gi, 2Gi, 4Gi): it sets THUMBS_MAX_PIXELS, so no image the function accepts can run it out of memory."
  type        = string
  default     = "2Gi"

  validation {
    condition     = contains(["512Mi", "1Gi", "2Gi", "4Gi"], var.available_memory)
    error_message = "available_memory must be 512Mi, 1Gi, 2Gi or 4Gi (a row of the memory/pixel table)."
  }
}

variable "available_cpu" {
  description = "vCPUs per instance."
  type        = string
  default     = "1"
}

variable "timeout_seconds" {
  description = "Invocation timeout; the storage client gives up retrying one call after 30 s, well before it."
  type        = number
  default     = 120
}

variable "build_service_account" {
  description = "Service account id (projects/<p>/serviceAccounts/<email>) Cloud Build uses to build the function; null (default) uses the dedicated <prefix>-build account created here with the roles a build needs."
  type        = string
  default     = null
}

variable "thumbs_sizes" {
  description = "THUMBS_SIZES: comma-separated boxes WIDTHxHEIGHT."
  type        = string
  default     = "256x256"
}

variable "thumbs_cache_control" {
  description = "THUMBS_CACHE_CONTROL: Cache-Control of every thumbnail."
  type        = string
  default     = "public, max-age=86400"
}

variable "thumbs_log_level" {
  description = "THUMBS_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"
}

variable "thumbs_settings" {
  description = "Further THUMBS_* settings passed to both functions (e.g. THUMBS_FORMAT = \"webp\"); a value here wins over thumbs_sizes, thumbs_cache_control and thumbs_log_level."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for name in keys(var.thumbs_settings) : contains([
      "THUMBS_SIZES", "THUMBS_KEY_TEMPLATE", "THUMBS_FORMAT", "THUMBS_QUALITY", "THUMBS_FIT", "THUMBS_INCLUDE",
      "THUMBS_EXCLUDE", "THUMBS_MAX_PIXELS", "THUMBS_MAX_BYTES", "THUMBS_CACHE_CONTROL", "THUMBS_STRIP_METADATA",
      "THUMBS_ON_DELETE", "THUMBS_LOG_LEVEL", "THUMBS_MANIFEST_KEY", "THUMBS_PUBLIC_BASE_URL",
    ], name)])
    error_message = "thumbs_settings: only polythumb settings (THUMBS_FORMAT, THUMBS_QUALITY, ...); THUMBS_DEST_BUCKET is set from thumbnail_bucket_name."
  }
}

variable "configure_dead_letter" {
  description = "Attach the dead-letter topic to each trigger's Eventarc subscription with gcloud (needs gcloud, authenticated, where terraform runs)."
  type        = bool
  default     = true
}

variable "service_agent_wait" {
  description = "How long to wait after enabling the APIs for their service agents to exist (Terraform duration)."
  type        = string
  default     = "60s"
}

variable "log_retention_days" {
  description = "Days the functions' logs are kept in their own log bucket (logging.tf)."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 3650
    error_message = "log_retention_days must be 1..3650."
  }
}

variable "alert_email" {
  description = "Email address that receives the alerts (alerts.tf); null creates the policies without a notification channel (they still show in Cloud Monitoring)."
  type        = string
  default     = null
}

variable "max_delivery_attempts" {
  description = "Deliveries of one event before Pub/Sub moves it to the dead-letter topic (5..100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be 5..100 (Pub/Sub's bounds)."
  }
}

variable "bucket_usage_logs" {
  description = "Write the buckets' usage and storage logs to an access-log bucket made here. Turn off where an organisation policy of Domain Restricted Sharing refuses the grant to cloud-storage-analytics@google.com."
  type        = bool
  default     = true
}

variable "iam_propagation_wait" {
  description = "How long the apply waits after the IAM grants, before the builds and triggers that use them (Terraform duration, 0s to 600s)."
  type        = string
  default     = "120s"

  validation {
    condition     = try(endswith(var.iam_propagation_wait, "s") && tonumber(trimsuffix(var.iam_propagation_wait, "s")) >= 0 && tonumber(trimsuffix(var.iam_propagation_wait, "s")) <= 600, false)
    error_message = "iam_propagation_wait must be a number of seconds between 0s and 600s, e.g. \"120s\"."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the originals and thumbnails buckets while they still hold objects (originals included!)."
  type        = bool
  default     = false
}

# Backfill (backfill.tf).
variable "backfill_invokers" {
  description = "IAM members that may run `polythumb backfill --target gcp` (\"user:ops@example.com\", \"serviceAccount:...\"): roles/run.invoker on the finalized function's service only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.backfill_invokers : can(regex("^(user|group|serviceAccount):", member))])
    error_message = "backfill_invokers: user:, group: or serviceAccount: members only (no public or domain-wide members)."
  }
}

# Completion (notify.tf): events, manifests, signed URLs; all off by default.
variable "completion_events" {
  description = "Publish completion events to a Pub/Sub topic made here."
  type        = bool
  default     = false
}

variable "manifest" {
  description = "THUMBS_MANIFEST: write a JSON manifest (outputs, BlurHash, dominant colour, LQIP) next to each source's thumbnails."
  type        = bool
  default     = false
}

variable "signed_urls" {
  description = "THUMBS_URL_MODE=signed: each output gets a V4 signed GET URL, signed by the runtime service account through IAM signBlob."
  type        = bool
  default     = false
}

variable "url_ttl" {
  description = "THUMBS_URL_TTL: seconds a signed URL stays valid (at most 604800, 7 days)."
  type        = number
  default     = 3600

  validation {
    condition     = var.url_ttl >= 1 && var.url_ttl <= 604800
    error_message = "url_ttl must be between 1 and 604800 seconds."
  }
}
