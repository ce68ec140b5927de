# Copy to my.tfvars, edit, then: polythumb deploy gcp --var-file my.tfvars
project_id   = "acme-photos-prod"
region       = "europe-west1"
name_prefix  = "polythumb"
thumbs_sizes = "128x128,512x512"

available_memory   = "2Gi" # sets THUMBS_MAX_PIXELS (README: memory and the pixel limit)
max_instance_count = 10    # cost guard

alert_email           = "ops@example.com"
log_retention_days    = 30
max_delivery_attempts = 10

# Any other THUMBS_* setting; these win over thumbs_sizes / thumbs_cache_control / thumbs_log_level.
thumbs_settings = {
  THUMBS_FORMAT = "webp"
}

# Sandboxes only: let `terraform destroy` delete the buckets with their contents.
# force_destroy = true
