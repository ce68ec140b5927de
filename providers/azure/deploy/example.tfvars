# Copy to my.tfvars, edit, then: polythumb deploy azure --var-file my.tfvars
subscription_id     = "00000000-0000-0000-0000-000000000000" # az account show --query id -o tsv
resource_group_name = "rg-polythumb"
location            = "swedencentral" # a region with Flex Consumption
name_prefix         = "acmethumbs"    # 3-16 lower-case letters/digits; names the storage accounts

thumbs_sizes = "128x128,512x512"

instance_memory_mb          = 2048  # sets THUMBS_MAX_PIXELS (README: memory and the pixel limit)
maximum_instance_count      = 40    # cost guard
storage_replication         = "GRS" # images; LRS/ZRS where the region has no pair
runtime_storage_replication = "LRS"

alert_email        = "ops@example.com"
log_retention_days = 30

# Your own object id, so `polythumb verify azure` may upload test images (az ad signed-in-user show --query id -o tsv).
# verify_principal_id = "00000000-0000-0000-0000-000000000000"
