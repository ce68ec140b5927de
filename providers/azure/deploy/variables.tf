variable "resource_group_name" {
  description = "Resource group to create for polythumb."
  type        = string
}

variable "location" {
  description = "Azure region (one that offers the Flex Consumption plan)."
  type        = string
}

variable "name_prefix" {
  description = "Lower-case letters and digits, 3-16 characters; names the storage accounts (<prefix>img, <prefix>fn) and the function app."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,16}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lower-case letters or digits (storage account names are derived from it)."
  }
}

variable "source_container" {
  description = "Container of the originals (THUMBS_SOURCE_CONTAINER)."
  type        = string
  default     = "images"
}

variable "dest_container" {
  description = "Container that receives the thumbnails (THUMBS_DEST_BUCKET)."
  type        = string
  default     = "thumbnails"
}

variable "trigger" {
  description = "Which function Event Grid delivers to: event_grid (on_event_grid, creations and deletions) or blob (on_blob, creations only)."
  type        = string
  default     = "event_grid"

  validation {
    condition     = contains(["event_grid", "blob"], var.trigger)
    error_message = "trigger must be event_grid or blob."
  }
}

variable "event_delivery_schema" {
  description = "Event Grid delivery schema for the event_grid trigger: EventGridSchema or CloudEventSchemaV1_0 (the code reads both)."
  type        = string
  default     = "EventGridSchema"

  validation {
    condition     = contains(["EventGridSchema", "CloudEventSchemaV1_0"], var.event_delivery_schema)
    error_message = "event_delivery_schema must be EventGridSchema or CloudEventSchemaV1_0."
  }
}

variable "subscribe_events" {
  description = "Create the Event Grid subscription. Event Grid validates the endpoint when subscribing, so apply once with false, deploy the code, then apply with true."
  type        = bool
  default     = true
}

variable "python_version" {
  description = "Python runtime of the function app (the package's requirements.txt is pinned for it)."
  type        = string
  default     = "3.11"
}

variable "maximum_instance_count" {
  description = "Upper bound of Flex Consumption scale-out."
  type        = number
  default     = 40
}

variable "instance_memory_mb" {
  description = "Flex Consumption instance memory (512, 2048 or 4096): it sets THUMBS_MAX_PIXELS through the memory/pixel table of docs/deploy/index.md (memory.tf)."
  type        = number
  default     = 2048

  validation {
    condition     = contains([512, 2048, 4096], var.instance_memory_mb)
    error_message = "instance_memory_mb must be 512, 2048 or 4096 (Flex Consumption instance sizes)."
  }
}

variable "thumbs_sizes" {
  description = "THUMBS_SIZES: comma-separated boxes WIDTHxHEIGHT."
  type        = string
  default     = "128x128,512x512"
}

variable "thumbs_settings" {
  description = "Further THUMBS_* settings (THUMBS_FORMAT, THUMBS_QUALITY, THUMBS_CACHE_CONTROL, ...), validated by the app at start."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.thumbs_settings) : can(regex("^THUMBS_[A-Z_]+$", name))])
    error_message = "thumbs_settings keys must be THUMBS_* setting names."
  }

  validation {
    condition = length(setintersection(keys(var.thumbs_settings), [
      "THUMBS_DEST_BUCKET", "THUMBS_SOURCE_CONTAINER", "THUMBS_STORAGE_CONNECTION", "THUMBS_SIZES",
    ])) == 0
    error_message = "THUMBS_DEST_BUCKET, THUMBS_SOURCE_CONTAINER, THUMBS_STORAGE_CONNECTION and THUMBS_SIZES come from their own variables."
  }
}

variable "storage_replication" {
  description = "Replication of the images account. GRS (default) is offered in every region with a paired region; GZRS/RAGZRS only where zones exist; LRS/ZRS keep one region's copies only."
  type        = string
  default     = "GRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.storage_replication)
    error_message = "storage_replication must be LRS, ZRS, GRS, RAGRS, GZRS or RAGZRS."
  }
}

variable "runtime_storage_replication" {
  description = "Replication of the Functions runtime account (host state and the package, reproducible): LRS (default, every region) or ZRS (regions with availability zones)."
  type        = string
  default     = "LRS"

  validation {
    condition     = contains(["LRS", "ZRS"], var.runtime_storage_replication)
    error_message = "runtime_storage_replication must be LRS or ZRS."
  }
}

variable "log_retention_days" {
  description = "Days the Log Analytics workspace and Application Insights keep logs and telemetry."
  type        = number
  default     = 30

  validation {
    condition     = contains([30, 60, 90, 120, 180, 270, 365, 550, 730], var.log_retention_days)
    error_message = "log_retention_days must be one of 30, 60, 90, 120, 180, 270, 365, 550, 730 (Application Insights' retention periods)."
  }
}

variable "subscription_id" {
  description = "Azure subscription to deploy into; null reads ARM_SUBSCRIPTION_ID (azurerm 4.x requires one or the other)."
  type        = string
  default     = null
}

variable "package_path" {
  description = "The zip built by `polythumb package azure` (default: dist/polythumb-azure.zip at the repository root)."
  type        = string
  default     = null
}

variable "role_propagation_wait" {
  description = "How long the apply waits after making role assignments, for Azure RBAC to apply them before the app starts and the code is deployed (identity.tf): seconds, 0s to 600s."
  type        = string
  default     = "120s"

  validation {
    condition     = try(endswith(var.role_propagation_wait, "s") && tonumber(trimsuffix(var.role_propagation_wait, "s")) >= 0 && tonumber(trimsuffix(var.role_propagation_wait, "s")) <= 600, false)
    error_message = "role_propagation_wait must be a number of seconds between 0s and 600s, e.g. \"120s\"."
  }
}

variable "alert_email" {
  description = "Email address of the alerts' action group (alerts.tf); null creates the alerts without a receiver."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
