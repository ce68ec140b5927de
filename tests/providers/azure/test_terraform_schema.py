"""The offline schema check can fail on the Azure stack: a copy with one thing broken reports exactly that problem.

Each case replaces the first match of a pattern in one file of a copy of ``providers/azure/deploy`` (see
``tests/terraform_schema.py``); the stack itself passing is ``tests/test_terraform_schema.py``.
"""

from __future__ import annotations

from tests.terraform_schema import REGENERATE, STACKS, load_extracts, mutations_test

STACK = STACKS["azure"]

MUTATIONS = {
    "missing required argument": (
        "function.tf", r"^\s*service_plan_id\s*=.*\n", "",
        ["function.tf: azurerm_function_app_flex_consumption.this: missing required argument service_plan_id"],
    ),
    "unknown nested block inside a dynamic block": (
        "eventgrid.tf", r"(function_id = .*\n)",
        r'\1      delivery_property {\n        header_name = "x"\n      }\n',
        ["eventgrid.tf: azurerm_eventgrid_system_topic_event_subscription.thumbnails: "
         'dynamic "azure_function_endpoint".content.delivery_property: unsupported block: '
         'azurerm_eventgrid_system_topic_event_subscription dynamic "azure_function_endpoint".content has no '
         "delivery_property"],
    ),
    "unknown block type of a dynamic block": (
        "alerts.tf", r'dynamic "email_receiver"', 'dynamic "email_reciever"',
        ['alerts.tf: azurerm_monitor_action_group.alerts: dynamic "email_reciever": no block type email_reciever '
         "in azurerm_monitor_action_group (did you mean email_receiver?)",
         # the iterator is named after the label: the content's email_receiver.value now names nothing
         'alerts.tf: azurerm_monitor_action_group.alerts: dynamic "email_reciever".content.email_address: '
         "reference to undeclared resource email_receiver.value in email_receiver.value"],
    ),
    "missing required argument in a dynamic block's content": (
        "alerts.tf", r"^\s*email_address\s*=.*\n", "",
        ['alerts.tf: azurerm_monitor_action_group.alerts: dynamic "email_receiver".content: '
         "missing required argument email_address"],
    ),
    "unknown attribute of a data source": (
        "eventgrid.tf", r"blobs_extension_key", "blob_extension_key",
        ["eventgrid.tf: azurerm_eventgrid_system_topic_event_subscription.thumbnails: "
         'dynamic "webhook_endpoint".content.url: data.azurerm_function_app_host_keys.this[0].blob_extension_key: '
         "azurerm_function_app_host_keys has no attribute or block blob_extension_key "
         "(did you mean blobs_extension_key?)"],
    ),
    "argument written as a block": (
        "main.tf", r"tags     = var\.tags", 'tags {\n    owner = "x"\n  }',
        ["main.tf: azurerm_resource_group.this: tags: is an argument: write tags = ..., not a tags { } block"],
    ),
    "unknown argument in a provider's nested block": (
        "versions.tf", r"data_plane_available =", "data_plane_availabe =",
        ["versions.tf: provider.azurerm: features.storage.data_plane_availabe: unsupported argument: "
         "azurerm features.storage has no data_plane_availabe (did you mean data_plane_available?)"],
    ),
    "missing required provider block": (
        "versions.tf", r"features \{", "feature {",
        ["versions.tf: provider.azurerm: feature: unsupported block: azurerm has no feature (did you mean features?)",
         "versions.tf: provider.azurerm: missing required block features"],
    ),
    "a provider without an extract": (
        "versions.tf", r"(required_providers \{\n)",
        r'\1    azapi = {\n      source  = "Azure/azapi"\n      version = "~> 2.0"\n    }\n',
        ["versions.tf: terraform: required_providers.azapi: Azure/azapi has no schema extract in "
         "tests/terraform_schemas: pin its CDKTF binding in PINS of tests/terraform_schemas/regenerate.py and run "
         f"`{REGENERATE}` (a provider with no binding on npm, such as Azure/azapi, needs a hand-checked extract, "
         "as terraform-builtin is checked against Terraform itself)"],
    ),
    "a range that excludes the checked version": (
        "versions.tf", r'version = "~> 4\.30"', 'version = "~> 4.30.0"',
        ["versions.tf: terraform: required_providers.azurerm: '~> 4.30.0' does not allow 4.55.0, the version "
         "the schema check uses"],
    ),
}  # fmt: skip


test_one_defect_in_a_copy_of_the_stack_is_reported_exactly = mutations_test(STACK, MUTATIONS)


def test_the_extract_names_every_type_of_the_provider_and_features_is_required() -> None:
    azurerm = load_extracts()["hashicorp/azurerm"]
    assert len(azurerm.resource_types) > 1000
    assert azurerm.provider["block_types"]["features"]["min_items"] == 1
