"""serve.tf read offline (issue 23): what the moto apply cannot show (test_deploy_apply.py applies it with serve on).

moto's CloudFront refuses a cache behaviour that targets an origin group, so the apply overrides that one block;
here the committed stack is checked to target the group. And everything of the serve path hangs on ``serve``
(off by default), the function URL is never public, and the settings the functions get are valid for the code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from core import registry
from core.config import load_config
from core.serve_paths import ReverseIndex
from tests.terraform import accepts, block, blocks, evaluate, expression_of, load_module, variable_default

DEPLOY = Path(__file__).parents[3] / "providers" / "aws" / "deploy"
SERVE = DEPLOY / "serve.tf"


@pytest.fixture(scope="module")
def terraform() -> dict[str, list[Any]]:
    return load_module(DEPLOY)


def local_value(terraform: dict[str, list[Any]], name: str) -> Any:
    for values in terraform["locals"]:
        if name in values:
            return values[name]
    raise AssertionError(f"no local {name}")


def test_serve_is_off_by_default_and_everything_of_it_hangs_on_it(terraform: dict[str, list[Any]]) -> None:
    assert variable_default(terraform, "serve") is False
    text = SERVE.read_text(encoding="utf-8")
    declared = re.findall(r'^(resource|data) "(\w+)" "(\w+)"', text, re.MULTILINE)
    assert len(declared) >= 12
    for kind, type_, name in declared:
        body = block(terraform, kind, type_, name)
        switch = str(body.get("count", body.get("for_each", "")))
        assert re.search(r"local\.serve(_cdn)?\b|var\.serve\b", switch), f"{kind}.{type_}.{name}: {switch!r}"
    assert local_value(terraform, "serve") == "${var.serve ? 1 : 0}"
    assert local_value(terraform, "serve_cdn") == "${var.serve && var.serve_cdn ? 1 : 0}"


def test_the_serve_function_runs_the_registered_entrypoint_with_its_own_cap(terraform: dict[str, list[Any]]) -> None:
    function = block(terraform, "resource", "aws_lambda_function", "serve")
    module, _, attribute = registry.get("aws").entrypoints["serve"].partition(":")
    assert function["handler"] == f"{module}.{attribute}"
    assert function["reserved_concurrent_executions"] == (
        "${var.serve_reserved_concurrency == null ? -1 : var.serve_reserved_concurrency}"
    )
    assert variable_default(terraform, "serve_reserved_concurrency") == 10
    for value, valid in (("10", True), ("null", True), ("0", False), ("1001", False)):
        assert accepts(DEPLOY, "serve_reserved_concurrency", value) is valid, value
    assert function["environment"][0]["variables"] == "${local.serve_environment}"
    assert function["role"] == "${aws_iam_role.serve[0].arn}"  # its own role, not the event function's


def test_the_function_url_is_never_public(terraform: dict[str, list[Any]]) -> None:
    url = block(terraform, "resource", "aws_lambda_function_url", "serve")
    assert url["authorization_type"] == "AWS_IAM"
    assert '"NONE"' not in SERVE.read_text(encoding="utf-8")
    for name in ("cloudfront_invokes_url", "cloudfront_invokes"):
        permission = block(terraform, "resource", "aws_lambda_permission", name)
        assert permission["principal"] == "cloudfront.amazonaws.com"
        assert permission["source_arn"] == "${aws_cloudfront_distribution.serve[0].arn}"


def test_cloudfront_reads_the_bucket_first_and_fails_over_to_the_function(terraform: dict[str, list[Any]]) -> None:
    distribution = block(terraform, "resource", "aws_cloudfront_distribution", "serve")
    [group] = distribution["origin_group"]
    assert group["failover_criteria"][0]["status_codes"] == [403, 404]
    members = [member["origin_id"] for member in group["member"]]
    assert members == ["${local.thumbnails_origin}", "${local.serve_origin}"]
    [behaviour] = distribution["default_cache_behavior"]
    assert behaviour["target_origin_id"] == "${local.serve_group}"  # the group, not an origin
    assert group["origin_id"] == "${local.serve_group}"
    assert behaviour["allowed_methods"] == ["GET", "HEAD"]
    assert behaviour["forwarded_values"][0]["query_string"] is True
    assert behaviour["min_ttl"] == 0  # the function's no-store redirect is never kept


@pytest.mark.parametrize("cdn", [True, False])
def test_the_functions_settings_with_serve_on_are_valid_for_the_code(
    terraform: dict[str, list[Any]], cdn: bool
) -> None:
    """What the two functions start with when serve, serve_adhoc and a keys secret are on (the values Terraform
    computes at apply written out), and the serve function's cold start checks (a template it reads back)."""
    dest_prefix = variable_default(terraform, "dest_prefix")
    shared = {
        "THUMBS_DEST_BUCKET": "thumbs", "THUMBS_SIZES": variable_default(terraform, "thumbs_sizes"),
        "THUMBS_KEY_TEMPLATE": f"{dest_prefix}{{dir}}/{{stem}}-{{width}}x{{height}}.{{ext}}",
        "THUMBS_URL_MODE": "signed", "THUMBS_URL_TTL": "3600", "THUMBS_SERVE_ADHOC": "true",
        "THUMBS_SERVE_ADHOC_PREFIX": f"{dest_prefix}_polythumb/adhoc/",
        "THUMBS_SERVE_KEYS": "k1:" + "k" * 40,  # what THUMBS_SERVE_KEYS_SECRET holds, read at cold start
    }  # fmt: skip
    assert f'"{dest_prefix}"' not in local_value(terraform, "serve_shared_settings")  # under var.dest_prefix
    assert "${var.dest_prefix}_polythumb/adhoc/" in local_value(terraform, "serve_shared_settings")
    own = registry.get("aws").function_settings
    load_config(shared, require_dest=True, extra_settings=own)  # the event function
    serve = {**shared, "THUMBS_SERVE_SOURCE_BUCKET": "originals"}
    if cdn:
        serve["THUMBS_SERVE_INLINE_MAX"] = "4MiB"
    config = load_config(serve, require_dest=True, extra_settings=own)
    ReverseIndex(config.profiles, manifest_key=None)  # what prepare() checks at the serve function's cold start
    assert config.serve_inline_max == (4 * 2**20 if cdn else 0)
    # Inline answers stay under a buffered function URL response's 6 MB once base64-encoded.
    assert config.serve_inline_max * 4 / 3 < 6 * 10**6


def test_every_serve_statement_names_its_resources(terraform: dict[str, list[Any]]) -> None:
    documents = {name: body for name, body in blocks(terraform, "data", "aws_iam_policy_document")}
    serve = documents["serve"]["statement"]
    actions = {action for statement in serve for action in statement["actions"]}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:PutObject",
                       "s3:DeleteObject", "s3:ListBucket"}  # fmt: skip
    assert not [s for s in serve if "*" in s["resources"]]
    assert documents["read_serve_keys"]["statement"][0]["resources"] == ["${var.serve_keys_secret_arn}"]


@pytest.mark.parametrize(
    ("settings", "accepted"),
    [("{}", True), ('{THUMBS_URL_MODE = "signed"}', True), ('{THUMBS_PUBLIC_BASE_URL = "https://cdn.example"}', True),
     ('{THUMBS_URL_MODE = "none"}', False)],
)  # fmt: skip
def test_serving_without_output_urls_is_refused_at_plan(
    terraform: dict[str, list[Any]], settings: str, accepted: bool
) -> None:
    """With no URL to redirect to, the core answers every request with the image's bytes, which a function URL
    cannot carry above 6 MB: a plan with serve and THUMBS_URL_MODE=none fails on the serve function's
    precondition."""
    function = block(terraform, "resource", "aws_lambda_function", "serve")
    [lifecycle] = function["lifecycle"]
    [guard] = [p for p in lifecycle["precondition"] if "THUMBS_URL_MODE" in p["condition"]]
    assert "6 MB" in guard["error_message"]
    assert evaluate(expression_of(guard["condition"]), variables={"thumbs_settings": settings}) is accepted
