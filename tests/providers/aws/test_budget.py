"""The AWS budget (deploy/budget.tf): off unless budget_amount is given, counting the resources tagged with the
deployment's cost tag (which every resource carries), notifying the alarm topic, which lets Budgets publish.
The budget is also planned against the stack applied on moto (test_deploy_apply.py: moto cannot read one back).
"""

from __future__ import annotations

import pytest

from tests.budget_support import Stack
from tests.terraform import evaluate, expression_of

STACK = Stack("aws", "aws_budgets_budget")


@pytest.mark.parametrize(("amount", "made"), [("null", 0), ("50", 1)])
def test_a_budget_is_made_only_when_an_amount_is_given(amount: str, made: int) -> None:
    assert STACK.made(budget_amount=amount) == made
    assert STACK.default("budget_amount") is None


def test_it_counts_the_deployments_cost_tag_which_every_resource_carries() -> None:
    cost_tag = STACK.local("cost_tag")
    [cost_filter] = STACK.budget["cost_filter"]
    values = evaluate(expression_of(cost_filter["values"]), locals_={"cost_tag": cost_tag},
                      variables={"name": '"pt-photos"'})  # fmt: skip
    assert cost_filter["name"] == "TagKeyValue" and values == ["user:polythumb-deployment$pt-photos"]
    [default_tags] = STACK.provider("aws")["default_tags"]
    # Last in the merge: a user's tags cannot take the deployment's tag away.
    theirs = '{ "polythumb-deployment" = "other", team = "media" }'
    variables = {"name": '"pt-photos"', "tags": theirs}
    tags = evaluate(expression_of(default_tags["tags"]), locals_={"cost_tag": cost_tag}, variables=variables)
    assert tags == {"app": "polythumb", "team": "media", "polythumb-deployment": "pt-photos"}


def test_it_notifies_the_alarm_topic_which_lets_budgets_publish() -> None:
    budget = STACK.budget
    notifications = [*budget["notification"], *budget["dynamic"][0]["notification"]["content"]]
    assert {n["notification_type"] for n in notifications} == {"ACTUAL", "FORECASTED"}
    assert all(n["subscriber_sns_topic_arns"] == ["${aws_sns_topic.alarms.arn}"] for n in notifications)
    assert STACK.resource("aws_cloudwatch_metric_alarm", "this")["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    topic_policy = STACK.resource("aws_iam_policy_document", "alarm_topic", block_type="data")
    assert topic_policy["source_policy_documents"] == ["${data.aws_iam_policy_document.budget_publishes.json}"]
    [statement] = STACK.resource("aws_iam_policy_document", "budget_publishes", block_type="data")["statement"]
    assert statement["principals"][0]["identifiers"] == ["budgets.amazonaws.com"]
    assert statement["condition"][0]["variable"] == "aws:SourceAccount"


def test_thresholds_and_amounts_are_checked_at_plan() -> None:
    STACK.check_validations(notifications_limited=True)
