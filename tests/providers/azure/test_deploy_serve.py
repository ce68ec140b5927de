"""serve.tf on Azure read offline (issue 23): the HTTP trigger is the app's, off unless serve = true, reached at the
serve_url the stack prints, one request per instance while serving, and the signing keys a Key Vault reference.

No azurerm provider plugin is on this machine to apply it (test_deploy.py checks every name against the pinned
schema and the app identity's roles); the trigger itself runs through ``app.get_functions()`` on Azurite in
test_serve_http.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from providers.azure.serve import MOUNT, SERVE_ROUTE
from tests.terraform import block, load_module, variable_default

DEPLOY = Path(__file__).resolve().parents[3] / "providers" / "azure" / "deploy"
FUNCTION_APP = Path(__file__).resolve().parents[3] / "providers" / "azure" / "function_app.py"


@pytest.fixture(scope="module")
def terraform() -> dict[str, list[Any]]:
    return load_module(DEPLOY)


def local_value(terraform: dict[str, list[Any]], name: str) -> Any:
    for values in terraform["locals"]:
        if name in values:
            return values[name]
    raise AssertionError(f"no local {name}")


def test_the_trigger_is_off_unless_serve_and_everything_of_serve_hangs_on_it(terraform: dict[str, list[Any]]) -> None:
    assert variable_default(terraform, "serve") is False and variable_default(terraform, "serve_adhoc") is False
    assert local_value(terraform, "app_settings")["AzureWebJobs.serve_http.Disabled"] == (
        '${var.serve ? "false" : "true"}'
    )
    settings = local_value(terraform, "serve_app_settings")
    # Each of the merged maps is empty unless serve is on.
    conditions = re.findall(r"(?:\$\{merge\(|\} : \{\}, )([\w.]+)", settings)
    assert conditions == ["var.serve", "var.serve", "local.serve_keys"] and settings.endswith("} : {})}")
    assert "THUMBS_SERVE_SOURCE_BUCKET = azurerm_storage_container.source.name" in settings
    # The keys: a Key Vault reference the platform resolves with the app's identity, never the secret's value.
    assert 'THUMBS_SERVE_KEYS = "@Microsoft.KeyVault(SecretUri=${var.serve_keys_secret_uri})"' in settings
    assert block(terraform, "resource", "azurerm_role_assignment", "serve_keys_reader")["count"] == (
        "${local.serve_keys ? 1 : 0}"
    )
    assert local_value(terraform, "serve_keys") == "${var.serve && var.serve_keys_secret_uri != null}"


def test_one_render_per_instance_while_serving(terraform: dict[str, list[Any]]) -> None:
    app = block(terraform, "resource", "azurerm_function_app_flex_consumption", "this")
    assert app["http_concurrency"] == "${local.serve_http_concurrency}"
    assert local_value(terraform, "serve_http_concurrency") == "${var.serve ? 1 : null}"  # the default otherwise
    assert app["maximum_instance_count"] == "${var.maximum_instance_count}"


def test_serve_url_is_where_the_trigger_listens(terraform: dict[str, list[Any]]) -> None:
    outputs = {name: body for found in terraform["output"] for name, body in found.items()}
    assert outputs["serve_url"]["value"] == (
        '${var.serve ? "https://${azurerm_function_app_flex_consumption.this.default_hostname}'
        + MOUNT + '/" : null}'
    )
    source = FUNCTION_APP.read_text(encoding="utf-8")
    trigger = r'@app\.function_name\("serve_http"\)\n@app\.route\(route=SERVE_ROUTE, trigger_arg_name="request", '
    assert re.search(trigger + r"auth_level=func\.AuthLevel\.ANONYMOUS\)", source)  # anonymous: <img src> has no key
    assert "/api/" + SERVE_ROUTE.split("/")[0] == MOUNT
