# The host's own storage must stay identity-based (AzureWebJobsStorage__accountName + __credential,
# function.tf), but azurerm writes an "AzureWebJobsStorage" app setting on every create and update of a Flex
# Consumption app: a key-based connection string with an empty key, even with storage_authentication_type =
# "SystemAssignedIdentity" (function_app_flex_consumption_resource.go, create and update paths;
# hashicorp/terraform-provider-azurerm#29693 and #29149, fix proposed in #29910; Azure/azure-functions-host#11796).
# It hides that setting from state, so plans look clean. The host prefers the single connection string over
# the __ settings; shared keys are off, so host storage fails: no trigger runs, and the zip deployment's health
# check fails. Hence: after every apply that creates or updates the app, the setting is deleted with the Azure
# CLI (already needed for the zip deployment), and `polythumb deploy azure` / `polythumb verify azure` check
# that the app has none.

resource "terraform_data" "drop_host_storage_connection_string" {
  # A new hash whenever the app is created or updated (any of its attributes changes): exactly when the
  # provider may have written the setting again. A hash, so the app's sensitive attributes are not copied.
  triggers_replace = [sha256(jsonencode(azurerm_function_app_flex_consumption.this))]

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    # Only names are read (never the values), and the setting is deleted only when present: deleting a
    # setting restarts the app.
    command = <<-EOT
      set -eu
      present=$(az functionapp config appsettings list --ids "$APP_ID" --query "[?name=='AzureWebJobsStorage'].name" --output tsv)
      if [ -n "$present" ]; then
        az functionapp config appsettings delete --ids "$APP_ID" --setting-names AzureWebJobsStorage --output none
      fi
    EOT
    environment = {
      APP_ID = azurerm_function_app_flex_consumption.this.id
    }
  }

  # The restart this causes is the host's real first start: let the role assignments apply first.
  depends_on = [time_sleep.role_propagation]
}
