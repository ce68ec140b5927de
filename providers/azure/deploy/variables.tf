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
  description = "Instance memory: 2048 decodes photos up to ~50 MP comfortably; use 4096 for larger originals."
  type        = number
  default     = 2048
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
  description = "Replication of the images account (GRS, RAGRS, GZRS or RAGZRS: originals are user data)."
  type        = string
  default     = "GZRS"

  validation {
    condition     = contains(["GRS", "RAGRS", "GZRS", "RAGZRS"], var.storage_replication)
    error_message = "storage_replication must be GRS, RAGRS, GZRS or RAGZRS."
  }
}

variable "log_retention_days" {
  description = "Retention of the Log Analytics workspace behind Application Insights."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
