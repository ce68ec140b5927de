# A monthly budget for this deployment, made on the billing account when both billing_account and
# budget_amount are set (off otherwise): Cloud Billing counts the cost of this project's resources labelled
# polythumb-deployment = <name_prefix> (every resource of this stack that takes labels carries it: the
# provider's default_labels, versions.tf) and notifies the alert channel (alerts.tf, the same as every
# alert) when the month's actual spend passes each of budget_thresholds, and when the forecast passes the
# whole amount. Pub/Sub, Eventarc and logging charges carry no resource label and are not counted.
#
# Making a budget needs billing.budgets.create on the billing account (Billing Account Administrator or
# Costs Manager), and, with user credentials, a quota project that has the Billing Budget API enabled
# (`gcloud auth application-default set-quota-project <project>`). A budget alerts; it stops nothing
# (`polythumb brake gcp` does).

variable "billing_account" {
  description = "Billing account id (012345-6789AB-CDEF01) the budget is made on; null (default) makes no budget."
  type        = string
  default     = null
}

variable "budget_amount" {
  description = "Monthly budget of this deployment in budget_currency; null (default) makes no budget."
  type        = number
  default     = null

  validation {
    condition     = var.budget_amount == null || try(var.budget_amount > 0, false)
    error_message = "budget_amount must be null (no budget) or a positive amount."
  }
}

variable "budget_currency" {
  description = "Currency of budget_amount: the billing account's own (Cloud Billing refuses another)."
  type        = string
  default     = "USD"
}

variable "budget_thresholds" {
  description = "Percentages of budget_amount at which the alert channel is told of the month's actual spend (the forecast is told at 100)."
  type        = list(number)
  default     = [50, 80, 100]

  validation {
    condition     = length(var.budget_thresholds) >= 1 && alltrue([for t in var.budget_thresholds : t > 0 && t <= 1000])
    error_message = "budget_thresholds: at least one percentage in (0, 1000]."
  }
}

locals {
  # The label every labelled resource of the stack carries (provider default_labels, versions.tf).
  cost_labels = { "polythumb-deployment" = var.name_prefix }
  budget      = var.billing_account != null && var.budget_amount != null
}

resource "google_project_service" "budgets" {
  count = local.budget ? 1 : 0

  service            = "billingbudgets.googleapis.com"
  disable_on_destroy = false
}

resource "google_billing_budget" "deployment" {
  count = local.budget ? 1 : 0

  billing_account = var.billing_account
  display_name    = "polythumb ${var.name_prefix}"

  budget_filter {
    projects        = ["projects/${data.google_project.this.number}"]
    labels          = local.cost_labels
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      currency_code = var.budget_currency
      units         = tostring(floor(var.budget_amount))
      nanos         = floor((var.budget_amount - floor(var.budget_amount)) * 1000000000)
    }
  }

  dynamic "threshold_rules" {
    for_each = toset(var.budget_thresholds)
    content {
      threshold_percent = threshold_rules.value / 100
      spend_basis       = "CURRENT_SPEND"
    }
  }

  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = local.notification_channels
  }

  depends_on = [google_project_service.budgets]
}

output "budget" {
  description = "The billing budget of this deployment (its resource name), or null without billing_account and budget_amount."
  value       = one(google_billing_budget.deployment[*].name)
}

output "cost_inputs" {
  description = "What `polythumb cost gcp` reads besides the logs: the billed size of the functions and their log bucket."
  value = {
    instance   = { memory = var.available_memory, cpu = var.available_cpu }
    project    = var.project_id
    log_bucket = google_logging_project_bucket_config.functions.bucket_id
  }
}
