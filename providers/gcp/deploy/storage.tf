locals {
  source_bucket    = coalesce(var.source_bucket_name, "${var.project_id}-${var.name_prefix}-originals")
  thumbnail_bucket = coalesce(var.thumbnail_bucket_name, "${var.project_id}-${var.name_prefix}-thumbnails")
  package_path     = coalesce(var.package_path, "${path.module}/../../../dist/polythumb-gcp.zip")
}

# Originals. Versioning is off by default: noncurrent generations cost storage until a lifecycle rule
# removes them. polythumb supports it either way: with versioning on, a delete arrives as "archived"
# (no "deleted" is sent), which the "archived" trigger handles as a delete.
resource "google_storage_bucket" "originals" {
  #checkov:skip=CKV_GCP_78:noncurrent originals would cost storage without a lifecycle rule; polythumb syncs deletes either way (archived trigger)
  name                        = local.source_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = false
  }

  dynamic "logging" {
    for_each = google_storage_bucket.access_logs
    content {
      log_bucket = logging.value.name
    }
  }
}

# Thumbnails: derived data, rendered again from the originals at will. Versioning would keep every
# superseded thumbnail generation forever (each re-render replaces them).
resource "google_storage_bucket" "thumbnails" {
  #checkov:skip=CKV_GCP_78:thumbnails are derived from the originals; old generations are worthless and would only cost
  name                        = local.thumbnail_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = false
  }

  dynamic "logging" {
    for_each = google_storage_bucket.access_logs
    content {
      log_bucket = logging.value.name
    }
  }
}

# The function's source archives.
resource "google_storage_bucket" "code" {
  name                        = "${var.project_id}-${var.name_prefix}-code"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only build inputs live here

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  dynamic "logging" {
    for_each = google_storage_bucket.access_logs
    content {
      log_bucket = logging.value.name
    }
  }
}

# Usage and storage logs of the buckets above (bucket_usage_logs, on by default). Cloud Storage writes them
# all the time, so the bucket is never empty: destroy deletes them with it (they describe this deployment only).
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:this is the access-log sink itself; logging it would log into itself (CKV_GCP_63) or recurse
  count = var.bucket_usage_logs ? 1 : 0

  name                        = "${var.project_id}-${var.name_prefix}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }
}

# Cloud Storage writes usage logs as this Google group; it may only create objects in the log bucket. An
# organisation policy of Domain Restricted Sharing (iam.allowedPolicyMemberDomains) refuses this member:
# there, deploy with bucket_usage_logs = false (Cloud Audit Logs still record data access when enabled).
resource "google_storage_bucket_iam_member" "access_logs_writer" {
  count = var.bucket_usage_logs ? 1 : 0

  bucket = google_storage_bucket.access_logs[0].name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# Named by content: a new archive is a new object, which makes Terraform redeploy the functions.
resource "google_storage_bucket_object" "package" {
  name   = "polythumb-gcp-${filemd5(local.package_path)}.zip"
  bucket = google_storage_bucket.code.name
  source = local.package_path
}
