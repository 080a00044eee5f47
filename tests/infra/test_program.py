"""The whole program per stack, from the real stack files: limits arrive where they act, and nowhere else."""

from __future__ import annotations

import importlib
import json
import keyword
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest

import tools.mocks
from components.api import METRICS_NAMESPACE
from components.settings import ConfigError
from handler.tables import ITEMS_KEY, ITEMS_YEAR_INDEX
from policy.graph import as_list, policy_statements
from tools.mocks import ProgramRun, RecordedResource, TieredApiMocks, run_program, stack_settings
from tools.plan import main as plan_main

PLAN = "aws:apigateway/usagePlan:UsagePlan"
KEY = "aws:apigateway/apiKey:ApiKey"
PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
STAGE = "aws:apigateway/stage:Stage"
METHOD = "aws:apigateway/method:Method"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
FUNCTION = "aws:lambda/function:Function"
ACCOUNT = "aws:apigateway/account:Account"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

EXPORTS = {
    "api_url",
    "stage_name",
    "api_key_ids",
    "items_table_name",
    "rate_limit_table_name",
    "dashboard_name",
    "alarm_topic_arn",
}


def _rate_rule(run: ProgramRun) -> dict[str, Any]:
    rules = run.one(WEB_ACL).inputs["rules"]
    return next(r["statement"]["rateBasedStatement"] for r in rules if "rateBasedStatement" in r["statement"])


def _plan_of_tier(run: ProgramRun, tier: str) -> RecordedResource:
    return next(p for p in run.of_type(PLAN) if p.inputs["name"].endswith(f"-{tier}"))


def _concurrency_alarms(run: ProgramRun) -> list[RecordedResource]:
    return [a for a in run.of_type(ALARM) if a.inputs.get("metricName") == "ConcurrentExecutions"]


def _comparable(value: Any) -> Any:
    """Inputs with assets reduced to their paths, so two runs of the same program compare equal."""
    if isinstance(value, pulumi.AssetArchive):
        return {name: _comparable(asset) for name, asset in value.assets.items()}
    if isinstance(value, pulumi.FileAsset):
        return value.path
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _changed(before: ProgramRun, after: ProgramRun) -> list[RecordedResource]:
    """Resources of ``after`` whose inputs differ from the same resource (type and name) of ``before``, or new ones."""
    previous = {(r.type, r.name): _comparable(r.inputs) for r in before.resources}
    return [r for r in after.resources if previous.get((r.type, r.name)) != _comparable(r.inputs)]


# --- the stack files' numbers, where they act -------------------------------------------------------------------


def test_usage_plans_carry_the_stack_files_throttle_and_quota(stack_run: ProgramRun) -> None:
    for tier, expected in stack_run.settings.plans.items():
        plan = _plan_of_tier(stack_run, tier)
        assert plan.inputs["throttleSettings"] == {
            "rateLimit": expected.throttle.rate_limit,
            "burstLimit": expected.throttle.burst_limit,
        }
        assert plan.inputs["quotaSettings"] == {"limit": expected.quota.limit, "period": expected.quota.period.value}
    assert len(stack_run.of_type(PLAN)) == len(stack_run.settings.plans)


def test_waf_rate_rule_carries_the_stack_files_limit_and_window(stack_run: ProgramRun) -> None:
    rule = _rate_rule(stack_run)

    assert (rule["limit"], rule["evaluationWindowSec"]) == (
        stack_run.settings.waf.rate_limit,
        stack_run.settings.waf.window_seconds,
    )


def test_stage_method_settings_carry_the_stack_files_throttle(stack_run: ProgramRun) -> None:
    settings = stack_run.one(METHOD_SETTINGS).inputs["settings"]
    throttle = stack_run.settings.api_gateway.throttle

    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (
        throttle.rate_limit,
        throttle.burst_limit,
    )


def test_function_carries_the_stack_files_memory_timeout_and_reserved_concurrency(stack_run: ProgramRun) -> None:
    function = stack_run.one(FUNCTION).inputs
    expected = stack_run.settings.lambda_

    assert (function["memorySize"], function["timeout"], function.get("reservedConcurrentExecutions")) == (
        expected.memory_mb,
        expected.timeout_seconds,
        expected.reserved_concurrency,
    )


def test_concurrency_alarm_fires_at_the_stack_files_share_of_reserved_concurrency(stack_run: ProgramRun) -> None:
    threshold = stack_run.settings.lambda_.concurrency_alarm_threshold

    assert threshold is not None
    assert [a.inputs["threshold"] for a in _concurrency_alarms(stack_run)] == [threshold]


def test_dev_and_prod_differ_in_the_numbers_their_files_declare(stack_runs: dict[str, ProgramRun]) -> None:
    dev, prod = stack_runs["dev"], stack_runs["prod"]

    assert _rate_rule(dev)["limit"] == dev.settings.waf.rate_limit != _rate_rule(prod)["limit"]
    assert (
        dev.one(FUNCTION).inputs["memorySize"]
        == dev.settings.lambda_.memory_mb
        != prod.one(FUNCTION).inputs["memorySize"]
    )
    assert (
        _plan_of_tier(dev, "standard").inputs["quotaSettings"]["limit"]
        == dev.settings.plans["standard"].quota.limit
        != _plan_of_tier(prod, "standard").inputs["quotaSettings"]["limit"]
    )


# One number edited in a copy of the prod stack file -> (resource type, how many, input path, new value).
EDITS = {
    "standard plan rate": (
        ("tiered-api:plans", "standard", "throttle", "rateLimit"),
        40,
        {PLAN: 1},
        ("throttleSettings", "rateLimit"),
    ),
    "premium plan quota": (
        ("tiered-api:plans", "premium", "quota", "limit"),
        60_000,
        {PLAN: 1},
        ("quotaSettings", "limit"),
    ),
    "waf limit": (("tiered-api:waf", "rateLimit"), 1500, {WEB_ACL: 1}, None),
    "stage burst": (
        ("tiered-api:apiGateway", "throttle", "burstLimit"),
        300,
        {METHOD_SETTINGS: 1},
        ("settings", "throttlingBurstLimit"),
    ),
    "lambda memory": (("tiered-api:lambda", "memoryMb"), 2048, {FUNCTION: 1}, ("memorySize",)),
    "reserved concurrency": (
        ("tiered-api:lambda", "reservedConcurrency"),
        150,
        # the dashboard draws the reserved line on the concurrency graph
        {FUNCTION: 1, ALARM: 1, DASHBOARD: 1},
        None,
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_editing_one_number_changes_exactly_the_resource_it_configures(
    edit: str,
    stack_runs: dict[str, ProgramRun],
    stack_config: Callable[[str], dict[str, Any]],
    write_stack_file: Callable[..., Path],
) -> None:
    # GIVEN a copy of prod's stack file with one number changed
    (key, *path, leaf), value, expected_types, input_path = EDITS[edit]
    config = stack_config("prod")
    target = config[key]
    for step in path:
        target = target[step]
    assert target[leaf] != value
    target[leaf] = value

    # WHEN the program runs from it
    edited = run_program("prod", config_file=write_stack_file(config))

    # THEN exactly the resources that number configures change, and carry the new number
    changed = _changed(stack_runs["prod"], edited)
    assert Counter(r.type for r in changed) == Counter(expected_types)
    assert len(edited.resources) == len(stack_runs["prod"].resources)
    if input_path is not None:
        assert changed[0].get(*input_path) == value


# --- what the stack file asks of the region ------------------------------------------------------------------------

AVAILABILITY_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"


@pytest.fixture
def two_zone_region(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Program runs see a region with two regular AZs; returns the names of the resources they register."""
    registered: list[str] = []

    class TwoZoneRegion(TieredApiMocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            registered.append(args.name)
            return super().new_resource(args)

        def _invoke(self, token: str, args: Mapping[str, Any]) -> dict[str, Any]:
            answer = super()._invoke(token, args)
            if token == AVAILABILITY_ZONES:
                answer = {**answer, "names": answer["names"][:2], "zoneIds": answer["zoneIds"][:2]}
            return answer

    monkeypatch.setattr(tools.mocks, "TieredApiMocks", TwoZoneRegion)
    return registered


def test_more_azs_than_the_region_offers_fails_before_any_resource_is_registered(two_zone_region: list[str]) -> None:
    assert stack_settings("prod").network.availability_zones == 3

    with pytest.raises(ConfigError):
        run_program("prod")

    assert two_zone_region == []


def test_more_azs_than_the_region_offers_names_the_stack_file_key_and_the_regions_zones(
    two_zone_region: list[str],
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program("prod")

    assert str(caught.value).startswith("Pulumi.prod.yaml: invalid configuration")
    assert caught.value.problems == [
        "tiered-api:network.availabilityZones: must be at most the 2 regular availability zones us-east-1 offers "
        "(us-east-1a, us-east-1b) (got 3)"
    ]


def test_a_region_with_enough_azs_runs_the_whole_program(two_zone_region: list[str]) -> None:
    run = run_program("dev")

    assert run.settings.network.availability_zones == 2
    assert {s.get("availabilityZone") for s in run.of_type("aws:ec2/subnet:Subnet")} == {"us-east-1a", "us-east-1b"}
    assert sorted(two_zone_region) == sorted(r.name for r in run.resources)


# --- dependencies AWS needs ----------------------------------------------------------------------------------------


def test_waf_association_waits_for_the_stage_and_names_its_arn(stack_run: ProgramRun) -> None:
    association = stack_run.one("aws:wafv2/webAclAssociation:WebAclAssociation")
    stage = stack_run.one(STAGE)

    assert stack_run.depends_on(association, stage)
    assert association.inputs["resourceArn"].endswith(f"/stages/{stage.inputs['stageName']}")


def test_usage_plans_wait_for_the_stage(stack_run: ProgramRun) -> None:
    stage = stack_run.one(STAGE)

    assert all(stack_run.depends_on(plan, stage) for plan in stack_run.of_type(PLAN))


def test_stage_and_method_settings_wait_for_the_managed_account_role(stack_run: ProgramRun) -> None:
    account = stack_run.one(ACCOUNT)

    assert stack_run.settings.api_gateway.manage_account_role
    assert stack_run.depends_on(stack_run.one(STAGE), account)
    assert stack_run.depends_on(stack_run.one(METHOD_SETTINGS), account)


def test_a_stack_that_opts_out_of_the_account_role_creates_no_account(
    stack_config: Callable[[str], dict[str, Any]], write_stack_file: Callable[..., Path]
) -> None:
    config = stack_config("prod")
    config["tiered-api:apiGateway"]["manageAccountRole"] = False

    run = run_program("prod", config_file=write_stack_file(config))

    assert run.of_type(ACCOUNT) == []
    assert all("apigateway.amazonaws.com" not in r.inputs["assumeRolePolicy"] for r in run.of_type("aws:iam/role:Role"))
    assert run.one(METHOD_SETTINGS).get("settings", "loggingLevel") == run.settings.api_gateway.logging_level.value


# --- tags ------------------------------------------------------------------------------------------------------------


def _takes_tags(type_: str) -> bool:
    """Whether the pulumi_aws resource of ``type_`` (``aws:<module>/<name>:<Class>``) has a ``tags`` argument."""
    _, path, class_name = type_.split(":")
    module = path.split("/")[0]
    package = importlib.import_module(f"pulumi_aws.{module}_" if keyword.iskeyword(module) else f"pulumi_aws.{module}")
    return hasattr(getattr(package, f"{class_name}Args"), "tags")


def test_every_resource_that_takes_tags_carries_the_stack_files_tags(stack_run: ProgramRun) -> None:
    expected = stack_run.settings.tags.items()
    taggable = [r for r in stack_run.resources if r.custom and _takes_tags(r.type)]

    assert expected
    assert taggable
    assert [r.name for r in taggable if not expected <= (r.get("tags") or {}).items()] == []


# --- keys and outputs -------------------------------------------------------------------------------------------


def test_every_method_requires_an_api_key(stack_run: ProgramRun) -> None:
    methods = stack_run.of_type(METHOD)

    assert methods
    assert all(m.inputs["apiKeyRequired"] is True for m in methods)


def test_no_api_key_is_given_a_value(stack_run: ProgramRun) -> None:
    keys = stack_run.of_type(KEY)

    assert len(keys) == len(stack_run.settings.consumers)
    assert all("value" not in k.inputs for k in keys)


def test_exported_api_key_ids_are_the_bound_key_ids_one_per_consumer(stack_run: ProgramRun) -> None:
    exported = stack_run.outputs["api_key_ids"]
    bound = {b.inputs["keyId"] for b in stack_run.of_type(PLAN_KEY)}

    assert set(exported) == set(stack_run.settings.consumers)
    assert set(exported.values()) == bound


def test_program_exports_exactly_the_contracts_outputs(stack_run: ProgramRun) -> None:
    assert set(stack_run.outputs) == EXPORTS


def test_exported_url_and_stage_are_the_stages(stack_run: ProgramRun) -> None:
    stage_name = stack_run.settings.api_gateway.stage_name

    assert stack_run.outputs["stage_name"] == stage_name
    assert stack_run.outputs["api_url"].startswith("https://")
    assert stack_run.outputs["api_url"].endswith(f"/{stage_name}")


def test_function_uses_the_tables_the_program_exports(stack_run: ProgramRun) -> None:
    variables = stack_run.one(FUNCTION).get("environment", "variables")

    assert variables["ITEMS_TABLE_NAME"] == stack_run.outputs["items_table_name"]
    assert variables["RATE_LIMIT_TABLE_NAME"] == stack_run.outputs["rate_limit_table_name"]


def test_each_stack_watches_only_its_own_functions_metrics(stack_runs: dict[str, ProgramRun]) -> None:
    # Stacks may share an account and region: each function's EMF metrics carry its own stack's service, and only
    # that stack's alarms and dashboard read them.
    services = {}
    for stack, run in stack_runs.items():
        service = run.one(FUNCTION).get("environment", "variables")["POWERTOOLS_SERVICE_NAME"]
        alarms = [a for a in run.of_type(ALARM) if a.get("namespace") == METRICS_NAMESPACE]
        widgets = json.loads(run.one(DASHBOARD).get("dashboardBody"))["widgets"]
        charted = [m for w in widgets for m in w["properties"]["metrics"] if m[0] == METRICS_NAMESPACE]
        assert {a.get("dimensions")["service"] for a in alarms} == {service}
        assert {m[m.index("service") + 1] for m in charted} == {service}
        services[stack] = service
    assert len(set(services.values())) == len(stack_runs)


# --- make plan ---------------------------------------------------------------------------------------------------


def test_plan_of_prod_lists_every_resource_the_stack_creates(
    capsys: pytest.CaptureFixture[str], stack_runs: dict[str, ProgramRun]
) -> None:
    created = [r for r in stack_runs["prod"].resources if r.custom]

    assert plan_main(["--stack", "prod"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f": {len(created)} resources")
    for resource in created:
        assert any(line.split()[:2] == [resource.type, resource.name] for line in lines), resource.name
    assert {r.type for r in created} >= {FUNCTION, STAGE, PLAN, KEY, WEB_ACL, METHOD_SETTINGS, ALARM}


# --- how the program wires the components to each other ---------------------------------------------------------

TABLE = "aws:dynamodb/table:Table"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
REST_API = "aws:apigateway/restApi:RestApi"


def _items_table(run: ProgramRun) -> RecordedResource:
    (items,) = [t for t in run.of_type(TABLE) if t.inputs["hashKey"] == ITEMS_KEY]
    return items


def test_prods_function_may_use_the_key_its_tables_are_encrypted_with(stack_runs: dict[str, ProgramRun]) -> None:
    run = stack_runs["prod"]
    table_keys = {t.inputs["serverSideEncryption"]["kmsKeyArn"] for t in run.of_type(TABLE)}
    (function_policy,) = [p for p in run.of_type(ROLE_POLICY) if "dynamodb:PutItem" in p.inputs["policy"]]

    (key_arn,) = table_keys
    granted = [s for s in policy_statements(function_policy.inputs["policy"]) if key_arn in as_list(s.get("Resource"))]
    assert granted
    assert "kms:Decrypt" in as_list(granted[0]["Action"])


def test_the_dynamodb_endpoint_lets_the_function_query_the_year_index(stack_run: ProgramRun) -> None:
    (endpoint,) = [e for e in stack_run.of_type(VPC_ENDPOINT) if e.inputs.get("policy")]
    resources = {r for s in policy_statements(endpoint.inputs["policy"]) for r in as_list(s.get("Resource"))}

    items_outputs = _items_table(stack_run).outputs or {}
    assert f"{items_outputs['arn']}/index/{ITEMS_YEAR_INDEX}" in resources


def test_api_alarms_watch_the_rest_api_by_its_name(stack_run: ProgramRun) -> None:
    def api_names(value: Any) -> list[Any]:
        if isinstance(value, dict):
            found = [value["ApiName"]] if "ApiName" in value else []
            return found + [name for item in value.values() for name in api_names(item)]
        if isinstance(value, list):
            return [name for item in value for name in api_names(item)]
        return []

    names = [name for alarm in stack_run.of_type(ALARM) for name in api_names(alarm.inputs)]

    assert names
    assert set(names) == {stack_run.one(REST_API).inputs["name"]}
