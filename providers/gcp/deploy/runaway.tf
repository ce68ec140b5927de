# The runaway detector (issue 24; docs/brake.md): a loop or a duplicate fan-out shows as many deliveries per
# upload long before it shows on the bill. Every 5 minutes a Log Analytics SQL query over the functions' log
# bucket (logging.tf) counts the event lines (docs/logs.md) of the last 5 minutes: deliveries per source
# object (any status) and renders (status ok, kind created) per source revision. The alert fires when at
# least runaway_min_deliveries lines arrived and either figure exceeds runaway_threshold.
# tests/providers/gcp/test_runaway.py checks the fields it reads against the lines the functions write.

variable "runaway_threshold" {
  description = "Runaway alert: deliveries per uploaded object, or renders per source revision, in 5 minutes above this (a retried event counts 2)."
  type        = number
  default     = 3

  validation {
    condition     = var.runaway_threshold >= 1
    error_message = "runaway_threshold must be at least 1 (one delivery per upload is the normal case)."
  }
}

variable "runaway_min_deliveries" {
  description = "Runaway alert: only judge a 5-minute window with at least this many event lines (a few retries of a few uploads are no runaway)."
  type        = number
  default     = 50

  validation {
    condition     = var.runaway_min_deliveries >= 1
    error_message = "runaway_min_deliveries must be at least 1."
  }
}

locals {
  runaway_log_view = "${var.project_id}.${google_logging_project_bucket_config.functions.location}.${google_logging_project_bucket_config.functions.bucket_id}._AllLogs"
  runaway_query    = <<-SQL
    SELECT deliveries, objects, renders, revisions
    FROM (
      SELECT
        COUNT(*) AS deliveries,
        COUNT(DISTINCT CONCAT(JSON_VALUE(json_payload.bucket), '/', JSON_VALUE(json_payload.key))) AS objects,
        COUNTIF(JSON_VALUE(json_payload.status) = 'ok' AND JSON_VALUE(json_payload.kind) = 'created') AS renders,
        COUNT(DISTINCT IF(JSON_VALUE(json_payload.status) = 'ok' AND JSON_VALUE(json_payload.kind) = 'created',
          CONCAT(JSON_VALUE(json_payload.bucket), '/', JSON_VALUE(json_payload.key), '#', JSON_VALUE(json_payload.revision)),
          NULL)) AS revisions
      FROM `${local.runaway_log_view}`
      WHERE timestamp > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 5 MINUTE)
        AND JSON_VALUE(json_payload.status) IS NOT NULL
        AND JSON_VALUE(json_payload.key) IS NOT NULL
    )
    WHERE deliveries >= ${var.runaway_min_deliveries}
      AND (deliveries / objects > ${var.runaway_threshold} OR IFNULL(SAFE_DIVIDE(renders, revisions), 0) > ${var.runaway_threshold})
  SQL
}

resource "google_monitoring_alert_policy" "runaway" {
  display_name          = "${var.name_prefix}: runaway"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "deliveries per object or renders per revision above ${var.runaway_threshold} in 5 minutes"
    condition_sql {
      query = local.runaway_query
      minutes {
        periodicity = 5
      }
      row_count_test {
        comparison = "COMPARISON_GT"
        threshold  = 0
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "More than ${var.runaway_threshold} deliveries per uploaded object or renders per source revision in 5 minutes (at least ${var.runaway_min_deliveries} event lines): a loop, a duplicate trigger or a backfill gone wrong. Read the functions' logs; `polythumb brake gcp` stops rendering without losing an event (docs/brake.md)."
  }

  depends_on = [google_project_service.apis]
}
