"""The Azure budget (deploy/budget.tf): off unless budget_amount is given, on the deployment's resource group from
the first of the month it was made, notifying the alerts' action group. Its schema is checked by
tests/test_terraform_schema.py.
"""

from __future__ import annotations

import pytest

from tests.budget_support import Stack
from tests.terraform import evaluate, expression_of

STACK = Stack("azure", "azurerm_consumption_budget_resource_group")


@pytest.mark.parametrize(("amount", "made"), [("null", 0), ("50", 1)])
def test_a_budget_is_made_only_when_an_amount_is_given(amount: str, made: int) -> None:
    assert STACK.made(budget_amount=amount) == made
    assert STACK.default("budget_amount") is None


def test_it_budgets_the_resource_group_from_the_first_of_the_month_it_was_made() -> None:
    budget = STACK.budget
    assert budget["resource_group_id"] == "${azurerm_resource_group.this.id}"
    start = expression_of(budget["time_period"][0]["start_date"], **{"time_static.budget_start[0].rfc3339": "local.t"})
    assert evaluate(start, locals_={"t": '"2026-03-17T10:11:12Z"'}) == "2026-03-01T00:00:00Z"


def test_it_notifies_the_alerts_action_group_on_actual_cost_and_on_the_forecast() -> None:
    budget = STACK.budget
    notifications = [*budget["notification"], *budget["dynamic"][0]["notification"]["content"]]
    assert {n["threshold_type"] for n in notifications} == {"Actual", "Forecasted"}
    assert all(n["contact_groups"] == ["${azurerm_monitor_action_group.alerts.id}"] for n in notifications)
    alerts = STACK.resource("azurerm_monitor_metric_alert", "this")
    assert alerts["action"][0]["action_group_id"] == "${azurerm_monitor_action_group.alerts.id}"


def test_thresholds_and_amounts_are_checked_at_plan() -> None:
    STACK.check_validations(notifications_limited=True)
