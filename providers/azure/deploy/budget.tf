# A monthly consumption budget on this deployment's resource group (off unless budget_amount is set): Cost
# Management counts everything in the group and tells the alerts' action group (alerts.tf, the same as every
# alert) when the month's actual cost passes each of budget_thresholds, and when the forecast passes the
# whole amount. Amounts are in the billing account's currency. A budget alerts; it stops nothing
# (`polythumb brake azure` does).

variable "budget_amount" {
  description = "Monthly budget of the resource group, in the billing account's currency; null (default) makes no budget."
  type        = number
  default     = null

  validation {
    condition     = var.budget_amount == null || try(var.budget_amount > 0, false)
    error_message = "budget_amount must be null (no budget) or a positive amount."
  }
}

variable "budget_thresholds" {
  description = "Percentages of budget_amount at which the action group is told of the month's actual cost (the forecast is told at 100)."
  type        = list(number)
  default     = [50, 80, 100]

  validation {
    condition     = length(var.budget_thresholds) >= 1 && length(var.budget_thresholds) <= 4 && alltrue([for t in var.budget_thresholds : t > 0 && t <= 1000])
    error_message = "budget_thresholds: 1 to 4 percentages in (0, 1000] (a budget holds 5 notifications; the forecast takes one)."
  }
}

# A budget starts on the first of a month, and moving its start replaces it: the month of the first apply.
resource "time_static" "budget_start" {
  count = var.budget_amount == null ? 0 : 1
}

resource "azurerm_consumption_budget_resource_group" "deployment" {
  count = var.budget_amount == null ? 0 : 1

  name              = "${local.function_name}-monthly"
  resource_group_id = azurerm_resource_group.this.id
  amount            = var.budget_amount
  time_grain        = "Monthly"

  time_period {
    start_date = formatdate("YYYY-MM-01'T'00:00:00Z", time_static.budget_start[0].rfc3339)
  }

  dynamic "notification" {
    for_each = toset(var.budget_thresholds)
    content {
      enabled        = true
      threshold      = notification.value
      threshold_type = "Actual"
      operator       = "GreaterThan"
      contact_groups = [azurerm_monitor_action_group.alerts.id]
    }
  }

  notification {
    enabled        = true
    threshold      = 100
    threshold_type = "Forecasted"
    operator       = "GreaterThan"
    contact_groups = [azurerm_monitor_action_group.alerts.id]
  }
}

output "budget_id" {
  description = "The consumption budget of the resource group (null without budget_amount)."
  value       = one(azurerm_consumption_budget_resource_group.deployment[*].id)
}

output "cost_inputs" {
  description = "What `polythumb cost azure` reads besides the logs: the billed size of the instances and the Log Analytics workspace (its id for queries)."
  value = {
    instance  = { memory_mb = var.instance_memory_mb }
    workspace = azurerm_log_analytics_workspace.this.workspace_id
  }
}
