# polythumb on Azure: Terraform root module. See providers/azure/README.md for the two-step deploy.

terraform {
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      # Schema-checked against 4.55.0 offline (tests/terraform_schema.py): the newest version with a CDKTF
      # binding to read the schema from. Other versions in this range are not checked.
      source  = "hashicorp/azurerm"
      version = "~> 4.30" # azurerm_function_app_flex_consumption with https_only and identity-based deployment storage
    }
    time = {
      # Schema-checked against 0.13.1 offline (tests/terraform_schema.py).
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0" # time_sleep: the wait for role assignments to apply (identity.tf)
    }
  }
}

provider "azurerm" {
  # azurerm 4.x needs the subscription: this variable, or ARM_SUBSCRIPTION_ID when it is null
  # (`export ARM_SUBSCRIPTION_ID=$(az account show --query id -o tsv)`).
  subscription_id = var.subscription_id

  features {
    storage {
      # Manage storage through Azure Resource Manager only. Otherwise the provider reads each account's
      # queue and blob service properties over the data plane, which needs a data-plane role (Storage
      # Queue/Blob Data ...) that an Owner or Contributor deployer does not have: the apply fails with 403.
      data_plane_available = false
    }
  }

  # Shared-key access is disabled on both storage accounts: any data-plane call left authenticates with
  # Entra ID, never with a key.
  storage_use_azuread = true
}
