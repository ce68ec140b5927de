# Copy to my.tfvars, edit, then: polythumb deploy aws --var-file my.tfvars
region             = "eu-west-1"
source_bucket_name = "acme-photos"        # created here; globally unique
dest_bucket_name   = "acme-photos-thumbs" # created here; globally unique

source_prefix = "uploads/"    # only keys under this prefix are thumbnailed
dest_prefix   = "thumbnails/" # thumbnails are written under this prefix
thumbs_sizes  = "128x128,512x512"

# Cost guard: at most this many concurrent renders drain the queue. reserved_concurrency stays null
# (unreserved) unless your account's concurrency quota is well above 10.
max_concurrency = 10

alarm_email        = "ops@example.com" # confirm the subscription mail AWS sends
log_retention_days = 30

# Sandboxes only: let `terraform destroy` delete the buckets with their contents.
# force_destroy = true
