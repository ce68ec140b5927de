"""The GCP budget (deploy/budget.tf): made on the billing account only when both billing_account and
budget_amount are given, counting the project's resources labelled with the deployment (the provider's
default_labels), notifying the alert channel. Its schema is checked by tests/test_terraform_schema.py.
"""

from __future__ import annotations

import pytest

from tests.budget_support import Stack
from tests.terraform import evaluate, expression_of

STACK = Stack("gcp", "google_billing_budget")
ACCOUNT = '"012345-6789AB-CDEF01"'


@pytest.mark.parametrize(("amount", "account", "made"), [("50", "null", 0), ("null", ACCOUNT, 0), ("50", ACCOUNT, 1)])
def test_a_budget_is_made_only_with_an_amount_and_a_billing_account(amount: str, account: str, made: int) -> None:
    assert STACK.made(budget_amount=amount, billing_account=account) == made
    assert STACK.default("budget_amount") is None and STACK.default("billing_account") is None


def test_it_counts_the_projects_resources_labelled_with_the_deployment() -> None:
    [budget_filter] = STACK.budget["budget_filter"]
    assert budget_filter["projects"] == ["projects/${data.google_project.this.number}"]
    assert budget_filter["labels"] == "${local.cost_labels}" == STACK.provider("google")["default_labels"]
    labels = evaluate(STACK.local("cost_labels"), variables={"name_prefix": '"ptphotos"'})
    assert labels == {"polythumb-deployment": "ptphotos"}


def test_the_amount_is_split_into_units_and_nanos() -> None:
    [amount] = STACK.budget["amount"][0]["specified_amount"]
    units, nanos = expression_of(amount["units"]), expression_of(amount["nanos"])
    money = evaluate(f"{{ units = {units}, nanos = {nanos} }}", variables={"budget_amount": "12.5"})
    assert money == {"units": "12", "nanos": 500000000}


def test_it_notifies_the_alert_channel_on_actual_spend_and_on_the_forecast() -> None:
    budget = STACK.budget
    assert budget["all_updates_rule"][0]["monitoring_notification_channels"] == "${local.notification_channels}"
    policy = STACK.resource("google_monitoring_alert_policy", "dead_letters")
    assert policy["notification_channels"] == "${local.notification_channels}"
    rules = [*budget["threshold_rules"], *budget["dynamic"][0]["threshold_rules"]["content"]]
    assert {rule["spend_basis"] for rule in rules} == {"CURRENT_SPEND", "FORECASTED_SPEND"}


def test_thresholds_and_amounts_are_checked_at_plan() -> None:
    STACK.check_validations(notifications_limited=False)
