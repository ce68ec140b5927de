output "function_app_name" {
  description = "Name of the function app (target of the zip deployment)."
  value       = azurerm_function_app_flex_consumption.this.name
}

output "function_app_id" {
  description = "Resource id of the function app (`az ... --ids`: `polythumb deploy` and `verify` read its settings' names)."
  value       = azurerm_function_app_flex_consumption.this.id
}

output "function_app_hostname" {
  description = "Default host name of the function app."
  value       = azurerm_function_app_flex_consumption.this.default_hostname
}

output "images_account" {
  description = "Storage account holding the source and thumbnail containers."
  value       = azurerm_storage_account.images.name
}

output "source_container" {
  description = "Upload originals here."
  value       = azurerm_storage_container.source.name
}

output "dest_container" {
  description = "Thumbnails appear here."
  value       = azurerm_storage_container.dest.name
}

output "deadletter_container" {
  description = "Events Event Grid gave up delivering."
  value       = azurerm_storage_container.deadletter.name
}

output "deploy_command" {
  description = "Deploys the package built by `polythumb package azure` (remote build installs requirements.txt)."
  value       = "az functionapp deployment source config-zip --subscription ${data.azurerm_client_config.current.subscription_id} --resource-group ${azurerm_resource_group.this.name} --name ${azurerm_function_app_flex_consumption.this.name} --src ${abspath(local.package_path)} --build-remote true"
}

output "resource_group" {
  description = "Everything above lives in this resource group (`az group delete` removes it all)."
  value       = azurerm_resource_group.this.name
}

output "function_app" {
  description = "The function app (logs: `az webapp log tail`, or Application Insights)."
  value       = azurerm_function_app_flex_consumption.this.name
}

output "blob_endpoint" {
  description = "Blob endpoint of the images account (`polythumb verify azure` uploads there with your Entra ID login)."
  value       = azurerm_storage_account.images.primary_blob_endpoint
}

output "thumbs_environment" {
  description = "The THUMBS_* settings the app runs with (`polythumb verify` checks the thumbnails against them)."
  value       = { for name, value in local.function_app_settings : name => value if startswith(name, "THUMBS_") }
}
