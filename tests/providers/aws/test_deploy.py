"""The Terraform in providers/aws/deploy parses, and agrees with the code it deploys."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from core.config import SETTINGS, load_config
from providers.aws import PROVIDER, packaging
from tests.terraform import as_list, block, blocks, load_module, variable_default

DEPLOY = Path(__file__).parents[3] / "providers" / "aws" / "deploy"
TF_FILES = sorted(DEPLOY.glob("*.tf"))


@pytest.fixture(scope="module")
def terraform() -> dict[str, list[Any]]:
    """Every top-level block of every .tf file, by block type."""
    return load_module(DEPLOY)


def resource(terraform: dict[str, list[Any]], kind: str, name: str) -> dict[str, Any]:
    return block(terraform, "resource", kind, name)


def data_source(terraform: dict[str, list[Any]], kind: str, name: str) -> dict[str, Any]:
    return block(terraform, "data", kind, name)


def local_value(terraform: dict[str, list[Any]], name: str) -> Any:
    for values in terraform["locals"]:
        if name in values:
            return values[name]
    raise AssertionError(f"no local {name}")


def test_every_file_parses(terraform: dict[str, list[Any]]) -> None:
    assert {p.name for p in TF_FILES} >= {"versions.tf", "variables.tf", "lambda.tf", "iam.tf", "sqs.tf", "s3.tf"}
    assert terraform["resource"] and terraform["variable"]


def test_handler_string_resolves_to_the_entrypoint(terraform: dict[str, list[Any]]) -> None:
    function = resource(terraform, "aws_lambda_function", "thumbnailer")
    module_name, _, attribute = function["handler"].rpartition(".")
    assert function["handler"] == "providers.aws.handler.handler"
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_function_matches_what_packaging_builds(terraform: dict[str, list[Any]]) -> None:
    # Changed by issue 13: architecture and runtime are variables, used by the function and the package path.
    function = resource(terraform, "aws_lambda_function", "thumbnailer")
    assert function["architectures"] == ["${var.architecture}"]
    assert function["runtime"] == "python${var.python_version}"
    package_path = local_value(terraform, "package_path")
    assert "/../../../dist/polythumb-aws-${var.architecture}-py${var.python_version}.zip" in package_path
    default = packaging.default_output(
        variable_default(terraform, "architecture"), variable_default(terraform, "python_version")
    )
    assert package_path.endswith(
        default.name.replace("arm64", "${var.architecture}").replace("3.12", "${var.python_version}") + '")}'
    )
    assert function["dead_letter_config"][0]["target_arn"] == "${aws_sqs_queue.dead_letters.arn}"


def test_thumbs_settings_in_terraform_are_settings_of_the_code(terraform: dict[str, list[Any]]) -> None:
    text = "\n".join(p.read_text() for p in TF_FILES)
    named = set(re.findall(r"\bTHUMBS_[A-Z_]+\b", text))
    assert named <= set(SETTINGS) | {setting.name for setting in PROVIDER.function_settings}, named - set(SETTINGS)
    environment = local_value(terraform, "environment")
    for name in ("THUMBS_DEST_BUCKET", "THUMBS_SIZES", "THUMBS_KEY_TEMPLATE", "THUMBS_LOG_LEVEL"):
        assert f"{name} = " in environment
    function = resource(terraform, "aws_lambda_function", "thumbnailer")
    assert function["environment"][0]["variables"] == "${local.environment}"


def test_default_settings_are_valid_for_the_code(terraform: dict[str, list[Any]]) -> None:
    dest_prefix = variable_default(terraform, "dest_prefix")
    environment = local_value(terraform, "environment")
    template = re.search(r'THUMBS_KEY_TEMPLATE = \\?"\$\{var\.dest_prefix\}([^"\\]+)', environment)
    assert template, "THUMBS_KEY_TEMPLATE must start with the destination prefix the IAM policy allows"
    config = load_config(
        {
            "THUMBS_DEST_BUCKET": "thumbs",
            "THUMBS_SIZES": variable_default(terraform, "thumbs_sizes"),
            "THUMBS_KEY_TEMPLATE": dest_prefix + template.group(1),
            "THUMBS_LOG_LEVEL": variable_default(terraform, "thumbs_log_level"),
        },
        require_dest=True,
    )
    assert all(o.key.startswith(dest_prefix) for o in config.profiles.outputs_for("uploads/a b/photo.jpg"))


def test_sqs_visibility_timeout_is_at_least_six_function_timeouts(terraform: dict[str, list[Any]]) -> None:
    queue = resource(terraform, "aws_sqs_queue", "events")
    assert queue["visibility_timeout_seconds"] == "${local.visibility_timeout}"
    match = re.fullmatch(r"\$\{(\d+) \* var\.timeout\}", local_value(terraform, "visibility_timeout"))
    assert match and int(match.group(1)) >= 6
    timeout = variable_default(terraform, "timeout")
    assert int(match.group(1)) * timeout <= 900  # SQS's maximum visibility timeout (12 h) is far; Lambda's 15 min
    assert "maxReceiveCount" in queue["redrive_policy"] and "dead_letters" in queue["redrive_policy"]
    mapping = resource(terraform, "aws_lambda_event_source_mapping", "events")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]


def test_notification_covers_creates_and_deletes_with_filters(terraform: dict[str, list[Any]]) -> None:
    notification = resource(terraform, "aws_s3_bucket_notification", "source")
    text = (DEPLOY / "notification.tf").read_text()
    assert '"s3:ObjectCreated:*", "s3:ObjectRemoved:*"' in text
    assert "filter_prefix" in text and "filter_suffix" in text
    assert notification["bucket"] == "${aws_s3_bucket.source.id}"


def test_function_policy_is_least_privilege(terraform: dict[str, list[Any]]) -> None:
    policy = data_source(terraform, "aws_iam_policy_document", "thumbnailer")
    statements = {s["sid"]: s for s in policy["statement"]}
    dynamic = policy.get("dynamic", [])
    dynamic_statements = [c for d in dynamic for c in d["statement"]["content"]]
    assert [s["sid"] for s in dynamic_statements] == ["ConsumeEvents"]
    for statement in [*statements.values(), *dynamic_statements]:
        assert all("*" not in action for action in statement["actions"]), statement
        assert all(resource != "*" for resource in statement["resources"]), statement
    assert statements["ReadOriginals"]["actions"] == ["s3:GetObject"]
    assert statements["ReadOriginals"]["resources"] == ["${aws_s3_bucket.source.arn}/${var.source_prefix}*"]
    assert set(statements["WriteThumbnails"]["actions"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert statements["WriteThumbnails"]["resources"] == ["${aws_s3_bucket.thumbnails.arn}/${var.dest_prefix}*"]
    assert statements["Logs"]["resources"] == ["${aws_cloudwatch_log_group.function.arn}:*"]
    writers = {s["sid"] for s in statements.values() if {"s3:PutObject", "s3:DeleteObject"} & set(s["actions"])}
    assert writers == {"WriteThumbnails"}  # nothing else may write or delete anywhere


def test_every_checkov_skip_gives_its_reason() -> None:
    for path in TF_FILES:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_AWS_\d+:\S.{20,}", line), f"{path.name}: {line.strip()}"


# -- least privilege ------------------------------------------------------------------------------


def _statements(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(as_list(body.get("statement", [])))
    for dynamic in as_list(body.get("dynamic", [])):
        for content in as_list(dynamic.get("statement", {}).get("content", [])):
            found.append(content)
    return found


def test_policy_allow_statements_have_no_wildcards_on_star() -> None:
    tf = load_module(DEPLOY)
    for name, body in blocks(tf, "data", "aws_iam_policy_document"):
        for statement in _statements(body):
            if statement.get("effect", "Allow") != "Allow":
                continue  # a Deny may be as broad as it likes (the TLS-only bucket policy is)
            actions, resources = as_list(statement.get("actions", [])), as_list(statement.get("resources", []))
            if not resources:  # a trust policy: who may act, not on what; never anyone
                identifiers = [i for p in as_list(statement.get("principals", [])) for i in as_list(p["identifiers"])]
                assert identifiers and "*" not in identifiers, f"{name}: trust policy for anyone"
            assert "*" not in resources, f"{name}/{statement.get('sid')}: Allow on resource *"
            wildcards = [a for a in actions if a == "*" or a.endswith(":*")]
            assert not wildcards, f"{name}/{statement.get('sid')}: wildcard actions {wildcards}"


def test_policy_function_reads_the_source_prefix_and_writes_only_the_destination_prefix() -> None:
    [(_, body)] = [
        (n, b) for n, b in blocks(load_module(DEPLOY), "data", "aws_iam_policy_document") if n == "thumbnailer"
    ]
    source, dest = "${aws_s3_bucket.source.arn}", "${aws_s3_bucket.thumbnails.arn}"
    for statement in _statements(body):
        actions = as_list(statement["actions"])
        resources = as_list(statement["resources"])
        s3 = [a for a in actions if a.startswith("s3:")]
        if not s3:
            assert all(r.startswith("${") and "*" not in r.split(":")[0] for r in resources), statement
            continue
        assert all(r.startswith((source, dest)) for r in resources), f"{statement.get('sid')}: {resources}"
        object_actions = [a for a in s3 if "Object" in a]
        if object_actions:
            for resource in resources:
                prefix = "${var.source_prefix}*" if resource.startswith(source) else "${var.dest_prefix}*"
                assert resource.endswith("/" + prefix), f"{statement.get('sid')}: {resource} is not prefix-scoped"
        writes = [a for a in s3 if a in ("s3:PutObject", "s3:DeleteObject")]
        if writes:
            assert all(r.startswith(dest) for r in resources), f"{statement.get('sid')} writes outside the destination"
        assert set(s3) <= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}, s3


# -- issue 13: what a fresh account needs, alarms, retention ------------------------------------------------


def variable(terraform: dict[str, list[Any]], name: str) -> dict[str, Any]:
    for declared in terraform["variable"]:
        if name in declared:
            return dict(declared[name])
    raise AssertionError(f"no variable {name}")


def validation_texts(terraform: dict[str, list[Any]], name: str) -> list[str]:
    return [f"{v['condition']} {v['error_message']}" for v in variable(terraform, name).get("validation", [])]


def test_reserved_concurrency_is_optional_so_low_quota_accounts_can_apply(terraform: dict[str, list[Any]]) -> None:
    assert variable_default(terraform, "reserved_concurrency") is None
    assert any(
        "var.reserved_concurrency == null" in text for text in validation_texts(terraform, "reserved_concurrency")
    )
    function = resource(terraform, "aws_lambda_function", "thumbnailer")
    assert (
        function["reserved_concurrent_executions"]
        == "${var.reserved_concurrency == null ? -1 : var.reserved_concurrency}"
    )
    # The cost guard stays, where it needs no account quota: the SQS event source's maximum concurrency.
    mapping = resource(terraform, "aws_lambda_event_source_mapping", "events")
    assert "var.max_concurrency" in mapping["scaling_config"][0]["maximum_concurrency"]
    assert variable_default(terraform, "max_concurrency") == 10


def test_architecture_and_runtime_are_the_choices_the_packager_offers(terraform: dict[str, list[Any]]) -> None:
    architectures = re.findall(r'"([a-z0-9_]+)"', validation_texts(terraform, "architecture")[0].split("],")[0])
    assert sorted(architectures) == sorted(packaging.PLATFORMS)
    versions = re.findall(r'"(3\.\d+)"', validation_texts(terraform, "python_version")[0])
    assert sorted(set(versions)) == sorted(packaging.PYTHON_VERSIONS)
    assert variable_default(terraform, "architecture") == "arm64"
    assert variable_default(terraform, "python_version") == "3.12"


def test_buckets_can_be_destroyed_only_on_explicit_opt_in(terraform: dict[str, list[Any]]) -> None:
    assert variable_default(terraform, "force_destroy") is False
    for name in ("source", "thumbnails"):
        assert resource(terraform, "aws_s3_bucket", name)["force_destroy"] == "${var.force_destroy}"


def test_thumbs_settings_cannot_silently_lose_to_the_dedicated_variables(terraform: dict[str, list[Any]]) -> None:
    names = ("THUMBS_DEST_BUCKET", "THUMBS_KEY_TEMPLATE", "THUMBS_SIZES", "THUMBS_LOG_LEVEL")
    conditions = [v["condition"] for v in variable(terraform, "thumbs_settings").get("validation", [])]
    assert any("setintersection" in c and all(f'"{name}"' in c for name in names) for c in conditions), conditions


def test_alarms_page_someone_through_one_topic(terraform: dict[str, list[Any]]) -> None:
    by_metric = {(a["namespace"], a["metric"]): a for a in local_value(terraform, "alarms").values()}
    assert by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]["dimensions"] == {
        "QueueName": "${aws_sqs_queue.dead_letters.name}"
    }
    assert by_metric[("AWS/SQS", "ApproximateAgeOfOldestMessage")]["dimensions"] == {
        "QueueName": "${one(aws_sqs_queue.events[*].name)}"
    }
    for metric in ("Errors", "Throttles"):
        assert by_metric[("AWS/Lambda", metric)]["dimensions"] == {
            "FunctionName": "${aws_lambda_function.thumbnailer.function_name}"
        }
    alarm = resource(terraform, "aws_cloudwatch_metric_alarm", "this")
    assert alarm["metric_name"] == "${each.value.metric}" and alarm["dimensions"] == "${each.value.dimensions}"
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
    assert alarm["treat_missing_data"] == "notBreaching" and alarm["comparison_operator"] == "GreaterThanThreshold"
    publishers = data_source(terraform, "aws_iam_policy_document", "alarm_topic")["statement"]
    assert [s["principals"][0]["identifiers"] for s in publishers] == [["cloudwatch.amazonaws.com"]]
    assert [s["actions"] for s in publishers] == [["sns:Publish"]]
    subscription = resource(terraform, "aws_sns_topic_subscription", "alarm_email")
    assert subscription["count"] == "${var.alarm_email == null ? 0 : 1}" and subscription["protocol"] == "email"
    assert variable_default(terraform, "alarm_email") is None


def test_log_retention_is_explicit_and_a_valid_cloudwatch_period(terraform: dict[str, list[Any]]) -> None:
    assert variable_default(terraform, "log_retention_days") == 30
    assert "30," in validation_texts(terraform, "log_retention_days")[0]
    assert (
        resource(terraform, "aws_cloudwatch_log_group", "function")["retention_in_days"] == "${var.log_retention_days}"
    )


def test_outputs_tell_verify_where_and_how_the_function_runs(terraform: dict[str, list[Any]]) -> None:
    outputs = {name for block in terraform["output"] for name in block}
    assert {
        "source_bucket",
        "thumbnail_bucket",
        "source_prefix",
        "thumbs_environment",
        "region",
        "alarm_topic_arn",
    } <= outputs


def test_an_sdk_without_conditional_writes_fails_at_client_creation_naming_the_floor() -> None:
    from types import SimpleNamespace

    from core.errors import ConfigError
    from providers.aws.storage import MIN_BOTOCORE, make_client, require_conditional_writes

    old = SimpleNamespace(input_shape=SimpleNamespace(members={"Bucket": 1, "Key": 1, "Body": 1}))
    client = SimpleNamespace(meta=SimpleNamespace(service_model=SimpleNamespace(operation_model=lambda name: old)))
    with pytest.raises(
        ConfigError, match=rf"boto3/botocore >= {re.escape(MIN_BOTOCORE)}.*IfMatch|IfMatch.*{re.escape(MIN_BOTOCORE)}"
    ):
        require_conditional_writes(client)
    require_conditional_writes(make_client(region_name="us-east-1"))  # the installed SDK has them


def test_pyproject_pins_the_conditional_write_floor() -> None:
    import tomllib

    from providers.aws.storage import MIN_BOTOCORE

    project = tomllib.loads((DEPLOY.parents[2] / "pyproject.toml").read_text())
    assert f"boto3>={MIN_BOTOCORE}" in project["project"]["optional-dependencies"]["aws"]


def test_the_lock_carries_every_platforms_release_checksums() -> None:
    """Issue 21: a lock with linux_amd64's checksum only failed `terraform init` on a Mac and on ARM Linux.

    zh: checksums are the SHA-256 of each platform's release zip, the ones HashiCorp signs; Terraform accepts a
    download that matches one: the release's SHA256SUMS list 15 zips for hashicorp/aws 5.100.0 (darwin and
    linux amd64/arm64 among them), as `terraform providers lock` records them. The linux_amd64 h1: is checked
    against the local plugin by test_deploy_apply.py (init with a readonly lock).
    """
    lock = (DEPLOY / ".terraform.lock.hcl").read_text()
    assert re.search(r'version\s*=\s*"5\.100\.0"', lock)
    zip_hashes = re.findall(r'"zh:([0-9a-f]{64})"', lock)
    assert len(set(zip_hashes)) == 15, "one zh: checksum per platform zip of the release"
    assert "h1:edXOJWE4ORX8Fm+dpVpICzMZJat4AX0VRCAy/xkcOc0=" in lock  # linux_amd64, the local plugin's
    constraints = re.search(r'constraints\s*=\s*"([^"]+)"', lock)
    assert constraints and constraints.group(1) == ">= 5.40.0, < 7.0.0"  # what versions.tf requires
