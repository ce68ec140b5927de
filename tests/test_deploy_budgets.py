"""Per-deployment budgets in every cloud's Terraform (budget.tf): off unless an amount is given, counting this
deployment only (its cost tag or label, its resource group), notifying the channel every alarm notifies.

Read with python-hcl2 and evaluated with ``terraform console`` (no provider involved). The GCP and Azure
resources are checked against their providers' schemas by tests/test_terraform_schema.py; AWS's budget is
planned against moto in tests/providers/aws/test_deploy_apply.py (moto cannot read a budget back, see there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.terraform import ROOT, accepts, block, evaluate, expression_of, load_module

DEPLOY = {cloud: ROOT / "providers" / cloud / "deploy" for cloud in ("aws", "gcp", "azure")}
BUDGET = {
    "aws": "aws_budgets_budget",
    "gcp": "google_billing_budget",
    "azure": "azurerm_consumption_budget_resource_group",
}


def budget(cloud: str) -> dict[str, Any]:
    return block(load_module(DEPLOY[cloud]), "resource", BUDGET[cloud], "deployment")


def local(cloud: str, name: str) -> str:
    """The HCL source of ``local.<name>`` in ``cloud``'s stack."""
    for found in load_module(DEPLOY[cloud]).get("locals", []):
        if name in found:
            return hcl(found[name])
    raise AssertionError(f"no local {name} in {cloud}")


def hcl(value: Any) -> str:
    """HCL source of a value python-hcl2 read: an object literal back to ``{ "k" = v }``, else the expression."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{key}" = {hcl(item)}' for key, item in value.items()) + " }"
    return expression_of(value) if value.startswith("${") and value.endswith("}") else f'"{value}"'


def provider(cloud: str, name: str) -> dict[str, Any]:
    [body] = [found[name] for found in load_module(DEPLOY[cloud])["provider"] if name in found]
    return dict(body)


@pytest.mark.parametrize(
    ("cloud", "variables", "made"),
    [
        ("aws", {"budget_amount": "null"}, 0),
        ("aws", {"budget_amount": "50"}, 1),
        ("azure", {"budget_amount": "null"}, 0),
        ("azure", {"budget_amount": "50"}, 1),
        ("gcp", {"budget_amount": "50", "billing_account": "null"}, 0),
        ("gcp", {"budget_amount": "null", "billing_account": '"012345-6789AB-CDEF01"'}, 0),
        ("gcp", {"budget_amount": "50", "billing_account": '"012345-6789AB-CDEF01"'}, 1),
    ],
)
def test_a_budget_is_made_only_when_an_amount_is_given(cloud: str, variables: dict[str, str], made: int) -> None:
    count = expression_of(budget(cloud)["count"])
    locals_ = {"budget": local(cloud, "budget")} if "local.budget" in count else {}
    assert evaluate(count, locals_=locals_, variables=variables) == made
    assert load_module(DEPLOY[cloud]) and _default("budget_amount", cloud) is None  # off by default


def _default(name: str, cloud: str) -> Any:
    for found in load_module(DEPLOY[cloud]).get("variable", []):
        if name in found:
            return found[name].get("default")
    raise AssertionError(f"no variable {name}")


def test_aws_counts_the_deployments_cost_tag_which_every_resource_carries() -> None:
    cost_tag = local("aws", "cost_tag")
    [cost_filter] = budget("aws")["cost_filter"]
    values = evaluate(expression_of(cost_filter["values"]), locals_={"cost_tag": cost_tag},
                      variables={"name": '"pt-photos"'})  # fmt: skip
    assert cost_filter["name"] == "TagKeyValue" and values == ["user:polythumb-deployment$pt-photos"]
    [default_tags] = provider("aws", "aws")["default_tags"]
    # Last in the merge: a user's tags cannot take the deployment's tag away.
    theirs = '{ "polythumb-deployment" = "other", team = "media" }'
    variables = {"name": '"pt-photos"', "tags": theirs}
    tags = evaluate(expression_of(default_tags["tags"]), locals_={"cost_tag": cost_tag}, variables=variables)
    assert tags == {"app": "polythumb", "team": "media", "polythumb-deployment": "pt-photos"}


def test_gcp_counts_the_projects_resources_labelled_with_the_deployment() -> None:
    found = budget("gcp")
    [budget_filter] = found["budget_filter"]
    assert budget_filter["projects"] == ["projects/${data.google_project.this.number}"]
    assert budget_filter["labels"] == "${local.cost_labels}" == provider("gcp", "google")["default_labels"]
    assert evaluate(local("gcp", "cost_labels"), variables={"name_prefix": '"ptphotos"'}) == {
        "polythumb-deployment": "ptphotos"
    }
    [amount] = found["amount"][0]["specified_amount"]
    money = {"units": expression_of(amount["units"]), "nanos": expression_of(amount["nanos"])}
    assert evaluate(f"{{ units = {money['units']}, nanos = {money['nanos']} }}",
                    variables={"budget_amount": "12.5"}) == {"units": "12", "nanos": 500000000}  # fmt: skip


def test_azure_budgets_the_deployments_resource_group_from_the_first_of_the_month_it_was_made() -> None:
    found = budget("azure")
    assert found["resource_group_id"] == "${azurerm_resource_group.this.id}"
    start = expression_of(found["time_period"][0]["start_date"], **{"time_static.budget_start[0].rfc3339": "local.t"})
    assert evaluate(start, locals_={"t": '"2026-03-17T10:11:12Z"'}) == "2026-03-01T00:00:00Z"


def test_every_budget_notifies_the_channel_every_alarm_notifies() -> None:
    aws = budget("aws")
    notifications = [*aws["notification"], *aws["dynamic"][0]["notification"]["content"]]
    assert {n["notification_type"] for n in notifications} == {"ACTUAL", "FORECASTED"}
    assert all(n["subscriber_sns_topic_arns"] == ["${aws_sns_topic.alarms.arn}"] for n in notifications)
    alarms = block(load_module(DEPLOY["aws"]), "resource", "aws_cloudwatch_metric_alarm", "this")
    assert alarms["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    # Budgets may publish to that topic: its policy merges the budget's statement.
    topic_policy = block(load_module(DEPLOY["aws"]), "data", "aws_iam_policy_document", "alarm_topic")
    assert topic_policy["source_policy_documents"] == ["${data.aws_iam_policy_document.budget_publishes.json}"]
    [statement] = block(load_module(DEPLOY["aws"]), "data", "aws_iam_policy_document", "budget_publishes")["statement"]
    assert statement["principals"][0]["identifiers"] == ["budgets.amazonaws.com"]

    gcp = budget("gcp")
    assert gcp["all_updates_rule"][0]["monitoring_notification_channels"] == "${local.notification_channels}"
    policy = block(load_module(DEPLOY["gcp"]), "resource", "google_monitoring_alert_policy", "dead_letters")
    assert policy["notification_channels"] == "${local.notification_channels}"
    rules = [*gcp["threshold_rules"], *gcp["dynamic"][0]["threshold_rules"]["content"]]
    assert {rule["spend_basis"] for rule in rules} == {"CURRENT_SPEND", "FORECASTED_SPEND"}

    azure = budget("azure")
    notifications = [*azure["notification"], *azure["dynamic"][0]["notification"]["content"]]
    assert {n["threshold_type"] for n in notifications} == {"Actual", "Forecasted"}
    assert all(n["contact_groups"] == ["${azurerm_monitor_action_group.alerts.id}"] for n in notifications)
    alerts = block(load_module(DEPLOY["azure"]), "resource", "azurerm_monitor_metric_alert", "this")
    assert alerts["action"][0]["action_group_id"] == "${azurerm_monitor_action_group.alerts.id}"


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_thresholds_and_amounts_are_checked_at_plan(cloud: str) -> None:
    folder: Path = DEPLOY[cloud]
    assert accepts(folder, "budget_thresholds", "[50, 80, 100]")
    assert not accepts(folder, "budget_thresholds", "[]")
    assert not accepts(folder, "budget_thresholds", "[0]")
    assert accepts(folder, "budget_amount", "null") and accepts(folder, "budget_amount", "0.5")
    assert not accepts(folder, "budget_amount", "0") and not accepts(folder, "budget_amount", "-3")
    if cloud != "gcp":  # AWS Budgets and Azure budgets hold 5 notifications, one being the forecast's
        assert not accepts(folder, "budget_thresholds", "[10, 20, 30, 40, 50]")
