# The two buckets: originals (notifying the function) and thumbnails. Both private, encrypted, versioned,
# with lifecycle rules that keep old versions and abandoned uploads from piling up.

locals {
  buckets = {
    source = aws_s3_bucket.source
    dest   = aws_s3_bucket.thumbnails
  }
  # Old versions: originals are kept a month after being replaced or deleted; thumbnails can be re-rendered.
  noncurrent_days = { source = 30, dest = 7 }
}

resource "aws_s3_bucket" "source" {
  #checkov:skip=CKV_AWS_18:Server access logs need a separate log bucket owned by the organisation; add it there.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice, not part of a thumbnailer.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is on by default; a customer-managed KMS key adds per-request cost and a key policy to run.
  bucket        = var.source_bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket" "thumbnails" {
  #checkov:skip=CKV_AWS_18:Server access logs need a separate log bucket owned by the organisation; add it there.
  #checkov:skip=CKV_AWS_144:Thumbnails are derived data: they are re-rendered from the originals, not replicated.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is on by default; a customer-managed KMS key adds per-request cost and a key policy to run.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to thumbnails; a notification here would only invite loops.
  bucket        = var.dest_bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: access is decided by IAM alone
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = each.value.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = local.noncurrent_days[each.key]
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

# HTTPS only, on both buckets.
data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets

  # serve.tf: with serve_cdn, CloudFront reads the thumbnails (a bucket has one policy).
  source_policy_documents = each.key == "dest" ? data.aws_iam_policy_document.cloudfront_reads_thumbnails[*].json : []

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = local.buckets

  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
