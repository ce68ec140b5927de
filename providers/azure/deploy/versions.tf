# polythumb on Azure: Terraform root module. See providers/azure/README.md for the two-step deploy.

terraform {
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.30" # azurerm_function_app_flex_consumption with https_only and identity-based deployment storage
    }
  }
}

provider "azurerm" {
  features {}

  # Shared-key access is disabled on both storage accounts, so the provider's own data-plane calls
  # (reading blob/queue service properties) must authenticate with Entra ID too.
  storage_use_azuread = true
}
