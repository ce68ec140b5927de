locals {
  images_account  = "${var.name_prefix}img"
  runtime_account = "${var.name_prefix}fn"
  function_name   = "${var.name_prefix}-thumbs"

  # The connection name the code reads the images account from (THUMBS_STORAGE_CONNECTION): an
  # identity-based Functions connection, "<name>__blobServiceUri" + "<name>__credential".
  images_connection = "PolythumbImages"

  # The zip `polythumb package azure` writes, at the repository root.
  package_path = coalesce(var.package_path, "${path.module}/../../../dist/polythumb-azure.zip")
}

resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

# The subscription Terraform deploys into (var.subscription_id or ARM_SUBSCRIPTION_ID): the az commands it
# prints name it, so they act on this deployment whatever `az account set` last chose.
data "azurerm_client_config" "current" {}
