"""The AWS stack for real: ``terraform validate`` with the locked provider, and ``polythumb deploy aws`` applied
against moto's server, then ``polythumb verify aws`` through what the apply created.

The AWS provider build ships in a local plugin directory on this machine kind (``/opt/tf-plugins``, or
``POLYTHUMB_TF_PLUGIN_DIR``); nothing is downloaded. Without it (or without ``terraform``) these tests are
skipped with the reason, and fail when ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1`` (CI runs on the same machine
kind and must run them).

moto runs Lambda only with Docker, which CI does not have. So after the apply the test proves the wiring
the Terraform created -- bucket notification -> queue, event source mapping -> function, the role's
policy -- by reading it back from moto, and then plays the event source mapping itself: it receives the
S3 notifications from the *created* queue and invokes the real handler, configured with the
*created* function's environment, while ``polythumb verify aws`` uploads, waits and checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from providers.aws.handler import build_handler
from providers.aws.serve import build_handler as build_serve_handler
from tests.verify_support import Relay, ServeRelay, assert_served, assert_verified, run_verify

from .helpers import Queue
from .test_verify import batching_poller, function_url

pytestmark = [pytest.mark.aws, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "providers" / "aws" / "deploy"
PLUGIN_DIR = Path(os.environ.get("POLYTHUMB_TF_PLUGIN_DIR", "/opt/tf-plugins"))

#: Test-only wiring, dropped next to the copied module: every endpoint at moto, no real credential checks.
#: Two resources are left out, both checked offline in test_deploy.py / test_deploy_policy.py: moto does not
#: implement SQS's RedriveAllowPolicy attribute (the queue's own redrive policy is applied), and moto
#: enforces the buckets' HTTPS-only policy (aws:SecureTransport) against its plain-HTTP endpoint, which
#: would refuse every request of this test. And versioning stays off here: moto sends no
#: ObjectRemoved:DeleteMarkerCreated notification for a versioned bucket (S3 does), so delete sync could not
#: be observed through the created notification otherwise.
OVERRIDE = """
provider "aws" {{
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {{
  count = 0
}}

resource "aws_s3_bucket_policy" "tls_only" {{
  for_each = {{}}
}}

resource "aws_cloudfront_distribution" "serve" {{
  default_cache_behavior {{
    target_origin_id       = "thumbnail-bucket"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = false
    min_ttl                = 0
    default_ttl            = 3600
    max_ttl                = 31536000

    forwarded_values {{
      query_string = true
      headers      = []
      cookies {{
        forward = "none"
      }}
    }}
  }}
}}

resource "aws_s3_bucket_versioning" "this" {{
  versioning_configuration {{
    status = "Disabled"
  }}
}}
"""
#: moto's CloudFront accepts an origin group but not a cache behaviour that targets one (NoSuchOrigin): the override
#: above points the default behaviour at the bucket origin instead (the origin group itself is created and read back;
#: the behaviour's real target is checked offline in test_deploy_serve.py). It comes before the versioning override,
#: which the teardown test cuts off.
SERVICES = (
    "budgets", "cloudfront", "cloudwatch", "iam", "kms", "lambda", "logs", "s3", "secretsmanager", "sns", "sqs", "sts"
)


@pytest.fixture(scope="module", autouse=True)
def moto_tags_insight_rules() -> Iterator[None]:
    """moto's CloudWatch TagResource knows alarms only, so a second apply fails reconciling the default tags (``app``,
    the budget's ``polythumb-deployment``) of the runaway detector's Contributor Insights rules (404): here it tags an
    existing rule too (moto runs in-process), so every default tag is applied as on AWS."""
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.tag_resource

    def tag_resource(self: Any, arn: str, tags: dict[str, str]) -> None:
        if ":insight-rule/" in arn and arn.rsplit("/", 1)[1] in self.insight_rules:
            self.tagger.tag_resource(arn, self.tagger.convert_dict_to_tags_input(tags))
            return
        original(self, arn, tags)

    CloudWatchBackend.tag_resource = tag_resource  # type: ignore[method-assign]
    yield
    CloudWatchBackend.tag_resource = original  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def terraform_env() -> dict[str, str]:
    """The environment terraform runs with: the local plugin directory, no CLI config, no telemetry."""
    missing = []
    if shutil.which("terraform") is None:
        missing.append("the terraform CLI")
    if not any(PLUGIN_DIR.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*")):
        missing.append(f"the AWS provider in {PLUGIN_DIR} (POLYTHUMB_TF_PLUGIN_DIR)")
    if missing:
        message = f"cannot run Terraform offline: {' and '.join(missing)} not found"
        if os.environ.get("POLYTHUMB_REQUIRE_ALL_PROVIDERS") == "1":
            pytest.fail(message + " (required: POLYTHUMB_REQUIRE_ALL_PROVIDERS=1)")
        pytest.skip(message)
    return {
        **os.environ,
        "TF_CLI_ARGS_init": f"-plugin-dir={PLUGIN_DIR}",
        "TF_CLI_CONFIG_FILE": os.devnull,
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }


def terraform(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["terraform", f"-chdir={workdir}", *args, "-no-color"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"terraform {args[0]}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def copy_module(workdir: Path) -> None:
    for path in DEPLOY.iterdir():
        if path.suffix == ".tf" or path.name == ".terraform.lock.hcl":
            shutil.copy2(path, workdir / path.name)


def test_terraform_validate_with_the_committed_lock(tmp_path: Path, terraform_env: dict[str, str]) -> None:
    lock = (DEPLOY / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock and "h1:" in lock
    copy_module(tmp_path)
    # -lockfile=readonly: init fails if the plugin does not match the committed checksums.
    terraform(tmp_path, terraform_env, "init", "-backend=false", "-input=false", "-lockfile=readonly")
    assert "Success!" in terraform(tmp_path, terraform_env, "validate").stdout
    terraform(tmp_path, terraform_env, "fmt", "-check", "-recursive")


#: The linux_amd64 checksum of hashicorp/aws 5.100.0: the package of the local plugin directory.
LINUX_AMD64 = "h1:edXOJWE4ORX8Fm+dpVpICzMZJat4AX0VRCAy/xkcOc0="
#: A lock as `terraform init` writes it on a Mac from a plugin cache: darwin_arm64's checksum only.
DARWIN_ONLY_LOCK = """
provider "registry.terraform.io/hashicorp/aws" {
  version     = "5.100.0"
  constraints = ">= 5.90.0, < 7.0.0"
  hashes = [
    "h1:Ijt7pOlB7Tr7maGQIqtsLFbl7pSMIj06TVdkoSBcYOw=",
  ]
}
"""


def test_deploy_init_completes_a_lock_recorded_on_another_platform(
    tmp_path: Path, terraform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: the lock of one platform made `terraform init` fail on every other; deploy's init adds this one.

    `terraform providers lock` reads the local plugin directory here (TF_CLI_ARGS_providers_lock) where a
    workstation asks the registry.
    """
    from core.ops.deploy import Terraform

    if Terraform(tmp_path).platform() != "linux_amd64":
        pytest.skip("the local plugin directory holds the linux_amd64 provider only")
    copy_module(tmp_path)
    (tmp_path / ".terraform.lock.hcl").write_text(DARWIN_ONLY_LOCK)
    plain = subprocess.run(["terraform", f"-chdir={tmp_path}", "init", "-input=false", "-no-color"],
                           env=terraform_env, capture_output=True, text=True, check=False)  # fmt: skip
    assert plain.returncode == 1 and "doesn't match any of the" in plain.stderr  # what a Mac met with the old lock
    for name, value in terraform_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TF_CLI_ARGS_providers_lock", f"-fs-mirror={PLUGIN_DIR}")
    Terraform(tmp_path).init()
    lock = (tmp_path / ".terraform.lock.hcl").read_text()
    assert LINUX_AMD64 in lock and "h1:Ijt7pOlB7Tr7maGQIqtsLFbl7pSMIj06TVdkoSBcYOw=" in lock
    assert 'version     = "5.100.0"' in lock  # the locked version, not a newer one
    installed = tmp_path / ".terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"
    assert any(installed.glob("terraform-provider-aws*"))


#: The signing keys of ad-hoc URLs, in the secret the stack names (serve_keys_secret_arn).
SERVE_KEYS = "k1:" + "polythumb-apply-test-signing-key-0123456789"


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], moto_endpoint: str,
    aws_client: Callable[..., Any],
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``polythumb deploy aws`` into a working copy whose override points every endpoint at moto."""
    workdir = tmp_path_factory.mktemp("aws-stack")
    endpoints = "\n".join(f'    {service:<10} = "{moto_endpoint}"' for service in SERVICES)
    (workdir / "moto_override.tf").write_text(OVERRIDE.format(endpoints=endpoints))
    package = workdir / "function.zip"  # moto stores the code; the handler runs in this process (see above)
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("providers/aws/handler.py", "")
    suffix = uuid.uuid4().hex[:8]
    # In the working copy, where every later terraform command of the tests reads them too (teardown).
    # Serving on first request too (issue 23), with CloudFront in front and signed ad-hoc URLs whose keys are in a
    # Secrets Manager secret made outside the stack, as a user makes it.
    keys = aws_client("secretsmanager").create_secret(Name=f"pt-serve-keys-{suffix}", SecretString=SERVE_KEYS)["ARN"]
    (workdir / "moto.auto.tfvars").write_text(
        f'source_bucket_name = "pt-src-{suffix}"\ndest_bucket_name = "pt-dst-{suffix}"\n'
        'alarm_email = "ops@example.com"\nbrake_on_runaway = true\n'
        f'serve = true\nserve_adhoc = true\nserve_keys_secret_arn = "{keys}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "core.ops.cli", "deploy", "aws", "--workdir", str(workdir), "--package", str(package),
         "--auto-approve"],
        cwd=ROOT, env={**terraform_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=False,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, f"polythumb deploy aws:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "next: polythumb verify aws" in result.stdout
    raw = json.loads(terraform(workdir, terraform_env, "output", "-json").stdout)
    yield workdir, {name: entry["value"] for name, entry in raw.items()}


def test_the_apply_wires_notification_queue_mapping_and_role(
    deployed: tuple[Path, dict[str, Any]], aws_client: Callable[..., Any]
) -> None:
    _, outputs = deployed
    s3, sqs, awslambda, iam = (aws_client(s) for s in ("s3", "sqs", "lambda", "iam"))
    queue_url = outputs["events_queue_url"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dead_url = outputs["dead_letter_queue_url"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    [rule] = s3.get_bucket_notification_configuration(Bucket=outputs["source_bucket"])["QueueConfigurations"]
    assert rule["QueueArn"] == queue_arn
    assert set(rule["Events"]) == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    rules = [(r["Name"].lower(), r["Value"]) for r in rule["Filter"]["Key"]["FilterRules"]]
    assert rules == [("prefix", "uploads/")]  # moto spells the name in lower case, S3 capitalised

    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"] == dead_arn and int(redrive["maxReceiveCount"]) == 5

    function = awslambda.get_function_configuration(FunctionName=outputs["function_name"])
    mappings = awslambda.list_event_source_mappings()["EventSourceMappings"]  # moto ignores FunctionName=<name>
    [mapping] = [m for m in mappings if m["FunctionArn"] == function["FunctionArn"]]
    assert mapping["EventSourceArn"] == queue_arn and mapping["FunctionArn"] == function["FunctionArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert function["Handler"] == "providers.aws.handler.handler"
    assert function["Runtime"] == "python3.12" and function["Architectures"] == ["arm64"]
    assert function["Environment"]["Variables"] == outputs["thumbs_environment"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 10}  # the cost guard, with no reserved concurrency

    role = function["Role"].rsplit("/", 1)[1]
    # The least-privilege policy, and (issue 23: serve_keys_secret_arn) the read of the signing keys' secret.
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == [
        "polythumb-least-privilege", "polythumb-read-serve-keys"
    ]
    document = iam.get_role_policy(RoleName=role, PolicyName="polythumb-least-privilege")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    grants = {s["Sid"]: s for s in document["Statement"]}
    source, dest = f"arn:aws:s3:::{outputs['source_bucket']}", f"arn:aws:s3:::{outputs['thumbnail_bucket']}"
    assert (
        grants["ReadOriginals"]["Action"] == "s3:GetObject"
        and grants["ReadOriginals"]["Resource"] == f"{source}/uploads/*"
    )
    assert set(grants["WriteThumbnails"]["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert grants["WriteThumbnails"]["Resource"] == f"{dest}/thumbnails/*"
    assert grants["ConsumeEvents"]["Resource"] == queue_arn and grants["ParkFailures"]["Resource"] == dead_arn
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Action"]) for s in document["Statement"])

    alarms = aws_client("cloudwatch").describe_alarms(AlarmNamePrefix="polythumb-")["MetricAlarms"]
    assert {a.get("MetricName") for a in alarms} >= {  # metric-math alarms (observability.tf) have none
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
    }
    assert all(a["AlarmActions"] == [outputs["alarm_topic_arn"]] for a in alarms)
    subscriptions = aws_client("sns").list_subscriptions_by_topic(TopicArn=outputs["alarm_topic_arn"])["Subscriptions"]
    # The email, and (brake_on_runaway in this stack) the automatic brake's function.
    assert sorted(s["Protocol"] for s in subscriptions) == ["email", "lambda"]
    groups = aws_client("logs").describe_log_groups(logGroupNamePrefix=outputs["log_group"])["logGroups"]
    assert groups[0]["retentionInDays"] == 30


def test_the_apply_creates_the_dashboard_alarms_and_runaway_rules(
    deployed: tuple[Path, dict[str, Any]], aws_client: Callable[..., Any]
) -> None:
    """observability.tf, generated from the metric table, applied: the dashboard reads every metric, the alarms
    (failure rate, upload-to-ready p95, the runaway detector on its Contributor Insights rules) notify the topic."""
    from core.metrics import METRICS

    _, outputs = deployed
    cloudwatch = aws_client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="polythumb-")["MetricAlarms"]}
    names = ("failure-rate", "upload-to-ready-p95", "renders-per-revision", "invocations-per-upload")
    for name in names:
        assert alarms[f"polythumb-{name}"]["AlarmActions"] == [outputs["alarm_topic_arn"]], name
    assert alarms["polythumb-upload-to-ready-p95"]["ExtendedStatistic"] == "p95"
    queries = {q["Id"]: q for q in alarms["polythumb-failure-rate"]["Metrics"]}
    assert queries["failed"]["MetricStat"]["Metric"]["MetricName"] == "polythumb.renders"
    assert queries["rate"]["ReturnData"]
    rules = {r["Name"]: r for r in cloudwatch.describe_insight_rules()["InsightRules"]}
    for name in ("renders-per-revision", "invocations-per-upload"):
        rule = json.loads(rules[f"polythumb-{name}"]["Definition"])
        assert rule["LogGroupNames"] == [outputs["log_group"]]
        # The worst source's lines, read as 0 below the minimum volume (every line the rule matched).
        queries = {q["Id"]: q for q in alarms[f"polythumb-{name}"]["Metrics"]}
        assert queries["worst"]["Expression"] == f"INSIGHT_RULE_METRIC('polythumb-{name}', 'MaxContributorValue')"
        assert queries["volume"]["Expression"] == f"INSIGHT_RULE_METRIC('polythumb-{name}', 'SampleCount')"
        assert queries["runaway"]["Expression"] == "IF(volume >= 20, worst, 0)"
        assert [q for q in queries.values() if q.get("ReturnData")] == [queries["runaway"]]
    body = cloudwatch.get_dashboard(DashboardName="polythumb-thumbnails")["DashboardBody"]
    assert all(f'"{metric.name}' in body or f'\\"{metric.name}\\"' in body for metric in METRICS)


def test_the_serve_apply_wires_its_own_function_url_cloudfront_and_role(
    deployed: tuple[Path, dict[str, Any]], aws_client: Callable[..., Any], terraform_env: dict[str, str]
) -> None:
    """Issue 23 (serve = true): a second function from the same zip with the serve handler and its own reserved
    concurrency, an IAM-only function URL that only this distribution may call, CloudFront reading the thumbnail
    bucket first and failing over to the function on 403/404, and a role that reads originals and writes
    thumbnails only."""
    workdir, outputs = deployed
    awslambda, iam, cloudfront = aws_client("lambda"), aws_client("iam"), aws_client("cloudfront")
    thumbnailer = awslambda.get_function_configuration(FunctionName=outputs["function_name"])
    serve = awslambda.get_function(FunctionName=outputs["serve_function_name"])
    config = serve["Configuration"]
    assert config["Handler"] == "providers.aws.serve.handler"
    assert (config["Runtime"], config["Architectures"], config["MemorySize"]) == (
        thumbnailer["Runtime"], thumbnailer["Architectures"], thumbnailer["MemorySize"]
    )
    assert config["CodeSha256"] == thumbnailer["CodeSha256"]  # the same package
    assert serve["Concurrency"] == {"ReservedConcurrentExecutions": 10}  # its own cap; the event function has none
    assert "Concurrency" not in awslambda.get_function(FunctionName=outputs["function_name"])
    environment = config["Environment"]["Variables"]
    assert environment == outputs["serve_environment"]
    assert {name: environment[name] for name in thumbnailer["Environment"]["Variables"]} == thumbnailer[
        "Environment"]["Variables"]  # fmt: skip  (the event function's settings, and the serve ones besides)
    assert environment["THUMBS_SERVE_SOURCE_BUCKET"] == outputs["source_bucket"]
    assert environment["THUMBS_URL_MODE"] == thumbnailer["Environment"]["Variables"]["THUMBS_URL_MODE"] == "signed"
    assert environment["THUMBS_SERVE_ADHOC_PREFIX"] == "thumbnails/_polythumb/adhoc/"
    assert environment["THUMBS_SERVE_KEYS_SECRET"].startswith("arn:aws:secretsmanager:")
    assert not [value for value in environment.values() if SERVE_KEYS in value]  # the keys themselves: never

    url = awslambda.get_function_url_config(FunctionName=outputs["serve_function_name"])
    assert url["AuthType"] == "AWS_IAM" and url["FunctionUrl"].rstrip("/") == outputs["serve_function_url"].rstrip("/")
    distribution_id = outputs["serve_url"].split("//")[1].split(".")[0]
    [summary] = [d for d in cloudfront.list_distributions()["DistributionList"]["Items"]
                 if d["DomainName"] == outputs["serve_url"].split("//")[1].rstrip("/")]  # fmt: skip
    distribution = cloudfront.get_distribution_config(Id=summary["Id"])["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in distribution["Origins"]["Items"]}
    assert origins["thumbnail-bucket"]["DomainName"] == f"{outputs['thumbnail_bucket']}.s3.us-east-1.amazonaws.com"
    assert origins["serve-function"]["DomainName"] == url["FunctionUrl"].split("//")[1].rstrip("/")
    assert origins["serve-function"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    controls = {c["Id"]: c for c in cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]}
    kinds = {origin_id: controls[origins[origin_id]["OriginAccessControlId"]]["OriginAccessControlOriginType"]
             for origin_id in origins}  # fmt: skip
    assert kinds == {"thumbnail-bucket": "s3", "serve-function": "lambda"}
    [group] = distribution["OriginGroups"]["Items"]
    assert sorted(group["FailoverCriteria"]["StatusCodes"]["Items"]) == [403, 404]
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["thumbnail-bucket", "serve-function"]
    assert distribution["DefaultCacheBehavior"]["ForwardedValues"]["QueryString"] is True
    assert distribution_id  # the domain names the distribution

    policy = json.loads(awslambda.get_policy(FunctionName=outputs["serve_function_name"])["Policy"])
    granted = {(s["Action"], s["Principal"]["Service"], s["Condition"]["ArnLike"]["AWS:SourceArn"])
               for s in policy["Statement"]}  # fmt: skip
    assert granted == {("lambda:InvokeFunctionUrl", "cloudfront.amazonaws.com", summary["ARN"]),
                       ("lambda:InvokeFunction", "cloudfront.amazonaws.com", summary["ARN"])}  # fmt: skip

    role = config["Role"].rsplit("/", 1)[1]
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == [
        "polythumb-read-serve-keys", "polythumb-serve-least-privilege"
    ]
    document = iam.get_role_policy(RoleName=role, PolicyName="polythumb-serve-least-privilege")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    grants = {s["Sid"]: s for s in document["Statement"]}
    source, dest = f"arn:aws:s3:::{outputs['source_bucket']}", f"arn:aws:s3:::{outputs['thumbnail_bucket']}"
    assert set(grants) == {"Logs", "ReadOriginals", "WriteThumbnails", "ListOriginalsAndThumbnails"}
    assert (grants["ReadOriginals"]["Action"], grants["ReadOriginals"]["Resource"]) == ("s3:GetObject",
                                                                                          f"{source}/uploads/*")
    assert grants["WriteThumbnails"]["Resource"] == f"{dest}/thumbnails/*"
    keys = iam.get_role_policy(RoleName=role, PolicyName="polythumb-read-serve-keys")["PolicyDocument"]
    keys = json.loads(keys) if isinstance(keys, str) else keys
    [statement] = keys["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("secretsmanager:GetSecretValue",
                                                           environment["THUMBS_SERVE_KEYS_SECRET"])  # fmt: skip

    # The thumbnail bucket's policy lets this distribution read thumbnails (moto's run leaves the bucket policy out,
    # see OVERRIDE: it is read from the state, as the apply computed it).
    state = json.loads(terraform(workdir, terraform_env, "show", "-json").stdout)
    [read] = [r for r in state["values"]["root_module"]["resources"]
              if r["address"] == 'data.aws_iam_policy_document.tls_only["dest"]']  # fmt: skip
    statements = {s["Sid"]: s for s in json.loads(read["values"]["json"])["Statement"]}
    cdn = statements["CloudFrontReadsThumbnails"]
    assert (cdn["Action"], cdn["Resource"], cdn["Principal"]) == (
        "s3:GetObject", f"{dest}/thumbnails/*", {"Service": "cloudfront.amazonaws.com"}
    )
    assert cdn["Condition"] == {"StringEquals": {"AWS:SourceArn": summary["ARN"]}}
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"


def test_brake_and_release_turn_the_created_mapping_through_the_outputs(
    deployed: tuple[Path, dict[str, Any]], terraform_env: dict[str, str], aws_client: Callable[..., Any],
    moto_endpoint: str,
) -> None:  # fmt: skip
    """Issue 24: `polythumb brake aws` finds the mapping by the stack's own output and records the setting on
    the created function; release puts it back. (Messages kept and delivered: tests/providers/aws/test_brake.py.)
    """
    workdir, outputs = deployed
    awslambda = aws_client("lambda")
    mapping = outputs["event_source_mapping_id"]
    function_arn = awslambda.get_function_configuration(FunctionName=outputs["function_name"])["FunctionArn"]

    def polythumb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core.ops.cli", *args, "aws", "--workdir", str(workdir),
             "--endpoint", moto_endpoint],
            cwd=ROOT, env={**terraform_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=False,
            timeout=300,
        )  # fmt: skip

    before = awslambda.get_event_source_mapping(UUID=mapping)["State"]
    braked = polythumb("brake")
    assert braked.returncode == 0, braked.stderr[-3000:]
    assert awslambda.get_event_source_mapping(UUID=mapping)["State"] == "Disabled"
    assert awslambda.list_tags(Resource=function_arn)["Tags"]["polythumb:brake"].split()[1:] == [
        "control=mapping", f"previous={'enabled' if before == 'Enabled' else 'disabled'}",
    ]  # fmt: skip
    status = polythumb("brake", "--status", "--json")
    assert json.loads(status.stdout)["controls"] == [f"event source mapping {mapping}: Disabled"]
    assert "kept 14 days" in json.loads(status.stdout)["waiting"][0]  # the queue's retention, as applied
    released = polythumb("release")
    assert released.returncode == 0, released.stderr[-3000:]
    assert awslambda.get_event_source_mapping(UUID=mapping)["State"] == before
    assert "polythumb:brake" not in awslambda.list_tags(Resource=function_arn)["Tags"]


def test_the_runaway_alarms_reach_the_created_automatic_brake_which_brakes_as_the_command_does(
    deployed: tuple[Path, dict[str, Any]], aws_client: Callable[..., Any]
) -> None:
    """Issue 24: with brake_on_runaway, a function from the same package subscribes to the alarm topic, filtered
    to the runaway detector's alarms going into ALARM, allowed to turn exactly the function's controls. moto cannot
    run it (Docker), so its handler runs here with the created function's own settings, on moto's Lambda API.
    """
    from providers.aws.brake_function import build_handler as build_brake

    from .test_brake import alarm_event

    _, outputs = deployed
    sns, awslambda, iam = aws_client("sns"), aws_client("lambda"), aws_client("iam")
    brake_name = f"{outputs['function_name']}-brake"
    function = awslambda.get_function_configuration(FunctionName=brake_name)
    assert function["Handler"] == "providers.aws.brake_function.handler"
    settings = function["Environment"]["Variables"]
    # The runaway detector's alarms (observability.tf, generated from the metric table), named once there.
    runaway = ["polythumb-renders-per-revision", "polythumb-invocations-per-upload"]
    assert outputs["runaway_alarm_names"] == runaway
    assert settings["BRAKE_ALARMS"] == ",".join(runaway)
    assert settings["BRAKE_MAPPING"] == outputs["event_source_mapping_id"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=outputs["alarm_topic_arn"])["Subscriptions"]
    [subscription] = [s for s in subscriptions if s["Protocol"] == "lambda"]
    assert subscription["Endpoint"] == function["FunctionArn"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert attributes["FilterPolicyScope"] == "MessageBody"
    assert json.loads(attributes["FilterPolicy"]) == {"AlarmName": runaway, "NewStateValue": ["ALARM"]}
    role = function["Role"].rsplit("/", 1)[1]
    [policy_name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    grants = {s["Sid"]: s for s in (json.loads(document) if isinstance(document, str) else document)["Statement"]}
    thumbnailer = awslambda.get_function_configuration(FunctionName=outputs["function_name"])["FunctionArn"]
    assert grants["TurnTheFunction"]["Resource"] == thumbnailer
    assert grants["TurnTheMapping"]["Resource"].endswith(f":event-source-mapping:{outputs['event_source_mapping_id']}")

    # The alarms it listens to exist and notify the topic it is subscribed to (their rules and queries:
    # test_the_apply_creates_the_dashboard_alarms_and_runaway_rules).
    alarms = aws_client("cloudwatch").describe_alarms(AlarmNames=runaway)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(runaway)
    assert all(a["AlarmActions"] == [outputs["alarm_topic_arn"]] for a in alarms)

    mapping = outputs["event_source_mapping_id"]
    before = awslambda.get_event_source_mapping(UUID=mapping)["State"]
    brake = build_brake({**settings, "AWS_REGION": "us-east-1"}, lambda_client=awslambda, sqs_client=aws_client("sqs"))
    assert brake(alarm_event("polythumb-invocations-per-upload"), None) == {"braked": True}
    assert awslambda.get_event_source_mapping(UUID=mapping)["State"] == "Disabled"
    from providers.aws.brake import LambdaBrake, Stack

    LambdaBrake(Stack.from_outputs(outputs), lambda_client=awslambda, sqs_client=aws_client("sqs")).release()
    assert awslambda.get_event_source_mapping(UUID=mapping)["State"] == before


def test_a_budget_is_planned_on_the_deployments_cost_tag_and_may_notify_the_alarm_topic(
    deployed: tuple[Path, dict[str, Any]], terraform_env: dict[str, str], aws_client: Callable[..., Any]
) -> None:
    """Issue 24: moto makes a budget but cannot read one back (no DescribeSubscribersForNotification, no
    ListTagsForResource for budgets), so the budget is planned against the applied stack, and what the apply
    already did for it is read back: the cost tag on the resources and the topic policy letting Budgets publish.
    """
    workdir, outputs = deployed
    package = workdir / "function.zip"

    def planned(name: str, *variables: str) -> dict[str, Any]:
        """Address -> change of what a plan with ``variables`` would change (moto's drift included)."""
        plan = workdir / f"budget-{name}.tfplan"
        # -lock=false: the two plans run side by side, and a plan only reads the state.
        terraform(workdir, terraform_env, "plan", "-input=false", "-lock=false", f"-var=package_path={package}",
                  *variables, f"-out={plan}")  # fmt: skip
        shown = json.loads(terraform(workdir, terraform_env, "show", "-json", str(plan)).stdout)
        return {c["address"]: c for c in shown["resource_changes"] if c["change"]["actions"] != ["no-op"]}

    with ThreadPoolExecutor(max_workers=2) as pool:  # each plan mostly waits on the provider and moto
        plans = pool.submit(planned, "without"), pool.submit(planned, "with", "-var=budget_amount=25")
        without, changes = (plan.result() for plan in plans)
    assert set(changes) - set(without) == {"aws_budgets_budget.deployment[0]"}  # the budget, and nothing else
    assert changes["aws_budgets_budget.deployment[0]"]["change"]["actions"] == ["create"]
    budget = changes["aws_budgets_budget.deployment[0]"]["change"]["after"]
    assert (budget["limit_amount"], budget["limit_unit"], budget["time_unit"]) == ("25", "USD", "MONTHLY")
    assert budget["cost_filter"] == [{"name": "TagKeyValue", "values": ["user:polythumb-deployment$polythumb"]}]
    assert sorted((n["notification_type"], n["threshold"]) for n in budget["notification"]) == [
        ("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100),
    ]  # fmt: skip
    assert all(n["subscriber_sns_topic_arns"] == [outputs["alarm_topic_arn"]] for n in budget["notification"])
    function = aws_client("lambda").get_function_configuration(FunctionName=outputs["function_name"])
    tags = aws_client("lambda").list_tags(Resource=function["FunctionArn"])["Tags"]
    assert tags["polythumb-deployment"] == "polythumb"
    policy = json.loads(
        aws_client("sns").get_topic_attributes(TopicArn=outputs["alarm_topic_arn"])["Attributes"]["Policy"]
    )
    [budgets] = [s for s in policy["Statement"] if s.get("Sid") == "BudgetsPublish"]
    assert budgets["Principal"] == {"Service": "budgets.amazonaws.com"} and budgets["Action"] == "sns:Publish"


def test_verify_passes_through_the_created_notification_and_queue(
    deployed: tuple[Path, dict[str, Any]], aws_client: Callable[..., Any], s3_client: Any, moto_endpoint: str
) -> None:
    workdir, outputs = deployed
    sqs, awslambda = aws_client("sqs"), aws_client("lambda")
    queue_url = outputs["events_queue_url"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = Queue(sqs, queue_url, queue_arn)
    environment = awslambda.get_function_configuration(FunctionName=outputs["function_name"])["Environment"][
        "Variables"
    ]
    secrets = aws_client("secretsmanager")
    handler = build_handler(environment, s3_client=s3_client, secrets_client=secrets)  # the created function's own
    # moto would try to run the function in Docker for every message (and fail, after a while): this test is
    # the event source mapping instead, so moto's is paused once its wiring has been checked above.
    mappings = awslambda.list_event_source_mappings()["EventSourceMappings"]
    [mapping] = [m for m in mappings if m["EventSourceArn"] == queue_arn]
    awslambda.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    # The serve function (issue 23), with the created one's settings and keys, behind a stand-in for CloudFront's
    # failover to its function URL (moto runs no Lambda and no CloudFront).
    served = awslambda.get_function_configuration(FunctionName=outputs["serve_function_name"])
    serve = build_serve_handler(served["Environment"]["Variables"], s3_client=s3_client, secrets_client=secrets)

    with ServeRelay(function_url(serve)) as url, Relay(batching_poller(queue, handler)):
        result = run_verify("aws", "--endpoint", moto_endpoint, "--workdir", str(workdir), "--timeout", "60",
                            "--serve-url", url.url)  # fmt: skip
    assert_verified(result, sizes=tuple(environment["THUMBS_SIZES"].split(",")))
    assert_served(result)  # the request rendered; the upload's event, through the created queue, wrote nothing
    assert f"{outputs['source_bucket']}/uploads/polythumb-verify-" in result.stdout
    assert "thumbnails/uploads/polythumb-verify-" not in result.stdout  # keys passed: no "missing" line
    assert s3_client.list_objects_v2(Bucket=outputs["thumbnail_bucket"]).get("KeyCount", 0) == 0


def test_teardown_empties_what_polythumb_left_in_the_versioned_buckets_and_destroys(
    deployed: tuple[Path, dict[str, Any]], terraform_env: dict[str, str], s3_client: Any, moto_endpoint: str
) -> None:
    """Issue 21: after verify, versioned buckets hold old versions and delete markers, and `terraform destroy`
    fails with BucketNotEmpty. `polythumb teardown aws` removes polythumb's, refuses while a user's original is
    there (deleting nothing), and destroys the stack once it is gone. Runs last: it destroys the stack.
    """
    from tests.providers.aws.test_teardown import PREFIX, leave_what_verify_leaves

    workdir, outputs = deployed
    source, dest = outputs["source_bucket"], outputs["thumbnail_bucket"]
    package = workdir / "function.zip"
    # The stack as a user gets it: versioning on (moto's missing delete-marker notifications no longer matter).
    # Only the versioning is applied (-target): a whole apply would also "correct" what moto reads back differently
    # (the queue's redrive policy, the distribution's certificate...), and on moto such an update of the queue drops
    # the queue policy, after which every refresh waits 20 s for it; those updates change nothing this test checks
    # and took most of its time (the provider waits 30 s for a queue's attributes to settle, and for CloudFront).
    override = workdir / "moto_override.tf"
    override.write_text(override.read_text().split('resource "aws_s3_bucket_versioning"')[0])
    terraform(workdir, terraform_env, "apply", "-auto-approve", "-input=false", f"-var=package_path={package}",
              "-target=aws_s3_bucket_versioning.this")  # fmt: skip
    assert s3_client.get_bucket_versioning(Bucket=source)["Status"] == "Enabled"
    leave_what_verify_leaves(s3_client, source, dest)
    s3_client.put_object(Bucket=source, Key=f"{PREFIX}holiday/beach.jpg", Body=b"a user's original")
    # moto fails (AttributeError: 'FakeDeleteMarker' object has no attribute 'etag') sending the notification of
    # a deleted delete marker, which S3 sends as s3:ObjectRemoved:Delete; the function is paused here anyway.
    s3_client.put_bucket_notification_configuration(Bucket=source, NotificationConfiguration={})

    def teardown() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core.ops.cli", "teardown", "aws", "--workdir", str(workdir), "--endpoint",
             moto_endpoint, "--package", str(package), "--auto-approve"],
            cwd=ROOT, env={**terraform_env, "PYTHONPATH": str(ROOT)}, input="", capture_output=True, text=True,
            check=False, timeout=600,
        )  # fmt: skip

    def versions(bucket: str) -> int:
        listed = s3_client.list_object_versions(Bucket=bucket)
        return len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))

    refused = teardown()
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"s3://{source} holds 1 versions polythumb did not write; nothing was deleted" in refused.stderr
    assert f"{PREFIX}holiday/beach.jpg" in refused.stderr
    assert (versions(source), versions(dest)) == (7, 6)  # nothing deleted, nothing destroyed
    assert "aws_lambda_function.thumbnailer" in terraform(workdir, terraform_env, "state", "list").stdout

    # The user moves the original elsewhere; the teardown then needs no question.
    [kept] = s3_client.list_object_versions(Bucket=source, Prefix=f"{PREFIX}holiday/")["Versions"]
    s3_client.delete_object(Bucket=source, Key=kept["Key"], VersionId=kept["VersionId"])
    done = teardown()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"s3://{source}: deleted 6 versions and delete markers" in done.stdout
    assert terraform(workdir, terraform_env, "state", "list").stdout.strip() == ""
    buckets = {bucket["Name"] for bucket in s3_client.list_buckets()["Buckets"]}
    assert source not in buckets and dest not in buckets
