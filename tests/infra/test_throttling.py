"""ThrottlingPlans under mocks, from the real stack settings: tiers, keys, WAF rules, association and logging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.settings import StackSettings
from components.throttling import ThrottlingPlans, ThrottlingPlansArgs, waf_redacted_fields, waf_rules
from handler.contract import MAX_BODY_BYTES
from tools.mocks import (
    ACCOUNT_ID,
    ProgramRun,
    RecordedResource,
    run_components,
    stack_settings,
)

REGION = "us-east-1"
PLAN = "aws:apigateway/usagePlan:UsagePlan"
KEY = "aws:apigateway/apiKey:ApiKey"
PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
STAGE = "aws:apigateway/stage:Stage"


def _run_throttling(settings: StackSettings) -> ProgramRun:
    def build(s: StackSettings) -> None:
        rest_api = aws.apigateway.RestApi("api")
        deployment = aws.apigateway.Deployment("deployment", rest_api=rest_api.id)
        stage = aws.apigateway.Stage(
            "stage", rest_api=rest_api.id, deployment=deployment.id, stage_name=s.api_gateway.stage_name
        )
        plans = ThrottlingPlans(
            "test-throttling",
            ThrottlingPlansArgs(
                plans=s.plans,
                consumers=s.consumers,
                waf=s.waf,
                rest_api_id=rest_api.id,
                stage=stage,
                log_retention_days=s.log_retention_days,
                tags=s.tags,
            ),
        )
        pulumi.export("api_key_ids", plans.api_key_ids)
        pulumi.export("rate_rule_metric_name", plans.rate_rule_metric_name)
        pulumi.export("web_acl_name", plans.web_acl_name)

    return run_components(settings, build)


@pytest.fixture(scope="module")
def throttling_runs() -> dict[str, ProgramRun]:
    return {stack: _run_throttling(stack_settings(stack)) for stack in ("dev", "prod")}


@pytest.fixture(params=["dev", "prod"])
def throttling_run(request: pytest.FixtureRequest, throttling_runs: dict[str, ProgramRun]) -> ProgramRun:
    return throttling_runs[request.param]


def _plan_of_tier(run: ProgramRun, tier: str) -> RecordedResource:
    return next(p for p in run.of_type(PLAN) if p.inputs["name"] == f"test-throttling-{tier}")


def _rules(run: ProgramRun) -> dict[str, dict]:
    return {rule["name"]: rule for rule in run.one(WEB_ACL).inputs["rules"]}


# --- usage plans and keys ------------------------------------------------------------------------------------------


def test_one_usage_plan_per_tier_with_the_stacks_throttle_and_quota(throttling_run: ProgramRun) -> None:
    tiers = throttling_run.settings.plans

    assert len(throttling_run.of_type(PLAN)) == len(tiers)
    for tier, expected in tiers.items():
        plan = _plan_of_tier(throttling_run, tier)
        assert plan.inputs["throttleSettings"] == {
            "rateLimit": expected.throttle.rate_limit,
            "burstLimit": expected.throttle.burst_limit,
        }
        assert plan.inputs["quotaSettings"] == {"limit": expected.quota.limit, "period": expected.quota.period.value}


def test_every_plan_carries_its_tiers_description_from_the_stack_file(throttling_run: ProgramRun) -> None:
    for tier, expected in throttling_run.settings.plans.items():
        assert _plan_of_tier(throttling_run, tier).inputs["description"] == expected.description


def test_every_plan_is_bound_to_the_stage_after_it_exists(throttling_run: ProgramRun) -> None:
    stage = throttling_run.one(STAGE)

    for plan in throttling_run.of_type(PLAN):
        assert plan.inputs["apiStages"] == [{"apiId": "api-id", "stage": stage.inputs["stageName"]}]
        assert throttling_run.depends_on(plan, stage)


def test_one_enabled_api_key_per_consumer_whose_value_aws_generates(throttling_run: ProgramRun) -> None:
    keys = throttling_run.of_type(KEY)

    assert sorted(k.inputs["name"] for k in keys) == sorted(
        f"test-throttling-{consumer}" for consumer in throttling_run.settings.consumers
    )
    assert all(k.inputs["enabled"] is True for k in keys)
    assert all("value" not in k.inputs for k in keys)


def test_every_key_is_bound_to_its_consumers_tier(throttling_run: ProgramRun) -> None:
    bindings = {b.inputs["keyId"]: b.inputs["usagePlanId"] for b in throttling_run.of_type(PLAN_KEY)}

    assert len(bindings) == len(throttling_run.settings.consumers)
    for consumer, settings in throttling_run.settings.consumers.items():
        key = next(k for k in throttling_run.of_type(KEY) if k.inputs["name"] == f"test-throttling-{consumer}")
        plan = _plan_of_tier(throttling_run, settings.plan)
        assert bindings[f"{key.name}-id"] == f"{plan.name}-id"  # the mocks' ids


def test_every_binding_is_of_type_api_key_the_only_type_aws_accepts(throttling_run: ProgramRun) -> None:
    assert {b.inputs["keyType"] for b in throttling_run.of_type(PLAN_KEY)} == {"API_KEY"}


def test_moving_a_consumer_to_another_tier_rebinds_only_its_key_and_unbinds_it_first(
    throttling_runs: dict[str, ProgramRun], stack_config: Callable[[str], dict[str, Any]]
) -> None:
    # GIVEN prod with one consumer moved to another tier in its stack file
    before = throttling_runs["prod"]
    consumer, settings = next(iter(before.settings.consumers.items()))
    config = stack_config("prod")
    config["tiered-api:consumers"][consumer]["plan"] = next(t for t in before.settings.plans if t != settings.plan)

    after = _run_throttling(stack_settings("prod", config))

    # THEN its key stays the same resource (its AWS-generated value is kept) and only its binding changes plan:
    # a replacement, since usagePlanId cannot be updated. AWS keeps a key in one plan per stage, so the old binding
    # must go before the new one is created, or the create is refused and `pulumi up` fails.
    assert {k.name for k in after.of_type(KEY)} == {k.name for k in before.of_type(KEY)}
    old_plans = {b.name: b.inputs["usagePlanId"] for b in before.of_type(PLAN_KEY)}
    moved = [b for b in after.of_type(PLAN_KEY) if b.inputs["usagePlanId"] != old_plans[b.name]]
    assert [b.name for b in moved] == [f"test-throttling-plan-key-{consumer}"]
    assert moved[0].delete_before_replace is True


def test_api_key_ids_are_the_bound_key_ids_one_per_consumer(throttling_run: ProgramRun) -> None:
    exported = throttling_run.outputs["api_key_ids"]

    assert set(exported) == set(throttling_run.settings.consumers)
    assert set(exported.values()) == {b.inputs["keyId"] for b in throttling_run.of_type(PLAN_KEY)}


# --- WAF ---------------------------------------------------------------------------------------------------------


def test_web_acl_is_regional_and_allows_what_no_rule_blocks(throttling_run: ProgramRun) -> None:
    web_acl = throttling_run.one(WEB_ACL)

    assert web_acl.inputs["scope"] == "REGIONAL"
    assert web_acl.inputs["defaultAction"] == {"allow": {}}


def test_rate_rule_blocks_an_ip_over_the_stacks_limit_and_window(throttling_run: ProgramRun) -> None:
    rule = _rules(throttling_run)["rate-limit-per-ip"]
    waf = throttling_run.settings.waf

    assert rule["statement"]["rateBasedStatement"] == {
        "aggregateKeyType": "IP",
        "limit": waf.rate_limit,
        "evaluationWindowSec": waf.window_seconds,
    }
    assert rule["action"] == {"block": {}}


def test_managed_rule_groups_keep_their_own_actions(throttling_run: ProgramRun) -> None:
    rules = _rules(throttling_run)
    groups = {
        r["statement"]["managedRuleGroupStatement"]["name"]: r
        for r in rules.values()
        if "managedRuleGroupStatement" in r["statement"]
    }

    assert set(groups) == {"AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesCommonRuleSet"}
    for rule in groups.values():
        assert rule["statement"]["managedRuleGroupStatement"]["vendorName"] == "AWS"
        assert rule["overrideAction"] == {"none": {}}
        assert "action" not in rule


def test_only_the_common_groups_body_size_rule_counts_so_large_bodies_get_the_apis_413(
    throttling_run: ProgramRun,
) -> None:
    overrides = {
        rule["statement"]["managedRuleGroupStatement"]["name"]: rule["statement"]["managedRuleGroupStatement"].get(
            "ruleActionOverrides"
        )
        for rule in _rules(throttling_run).values()
        if "managedRuleGroupStatement" in rule["statement"]
    }

    assert overrides == {
        "AWSManagedRulesKnownBadInputsRuleSet": None,
        "AWSManagedRulesCommonRuleSet": [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}],
    }


def test_waf_inspects_in_full_every_body_the_function_accepts(throttling_run: ProgramRun) -> None:
    (request_bodies,) = throttling_run.one(WEB_ACL).inputs["associationConfig"]["requestBodies"]
    limit = request_bodies["apiGateway"]["defaultSizeInspectionLimit"]  # "KB_16", "KB_32", ...

    assert int(limit.removeprefix("KB_")) * 1024 >= MAX_BODY_BYTES


def test_rules_have_distinct_priorities(throttling_run: ProgramRun) -> None:
    priorities = [rule["priority"] for rule in _rules(throttling_run).values()]

    assert len(set(priorities)) == len(priorities) == 3


def test_acl_and_every_rule_publish_metrics_and_samples_under_distinct_names(throttling_run: ProgramRun) -> None:
    web_acl = throttling_run.one(WEB_ACL)
    configs = [web_acl.inputs["visibilityConfig"], *(r["visibilityConfig"] for r in web_acl.inputs["rules"])]

    assert all(c["cloudwatchMetricsEnabled"] is True and c["sampledRequestsEnabled"] is True for c in configs)
    assert len({c["metricName"] for c in configs}) == len(configs)


def test_rate_rule_metric_name_is_the_one_the_rate_rule_publishes(throttling_run: ProgramRun) -> None:
    rule = _rules(throttling_run)["rate-limit-per-ip"]

    assert throttling_run.outputs["rate_rule_metric_name"] == rule["visibilityConfig"]["metricName"]
    assert throttling_run.outputs["web_acl_name"] == throttling_run.one(WEB_ACL).inputs["name"]


def test_waf_rule_metric_names_do_not_depend_on_the_numbers() -> None:
    dev, prod = stack_settings("dev").waf, stack_settings("prod").waf

    visibility = [[rule["visibility_config"] for rule in waf_rules(waf, "p")] for waf in (dev, prod)]

    assert dev.rate_limit != prod.rate_limit
    assert visibility[0] == visibility[1]


def test_web_acl_is_associated_with_the_stage_arn_after_the_stage_exists(throttling_run: ProgramRun) -> None:
    association = throttling_run.one("aws:wafv2/webAclAssociation:WebAclAssociation")
    stage = throttling_run.one(STAGE)
    stage_name = stage.inputs["stageName"]

    assert association.inputs["resourceArn"] == f"arn:aws:apigateway:{REGION}::/restapis/api-id/stages/{stage_name}"
    assert association.inputs["webAclArn"].startswith(f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:regional/webacl/")
    assert throttling_run.depends_on(association, stage)


def test_waf_logs_to_an_aws_waf_logs_group_with_retention_redacting_the_api_key(throttling_run: ProgramRun) -> None:
    logging = throttling_run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    group = throttling_run.one("aws:cloudwatch/logGroup:LogGroup")

    assert group.inputs["name"].startswith("aws-waf-logs-")
    assert group.inputs["retentionInDays"] == throttling_run.settings.log_retention_days
    assert logging.inputs["logDestinationConfigs"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group.inputs['name']}"
    ]
    assert not logging.inputs["logDestinationConfigs"][0].endswith(":*")
    assert logging.inputs["redactedFields"] == [{"singleHeader": {"name": "x-api-key"}}]
    assert logging.inputs["resourceArn"].startswith(f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:regional/webacl/")


def test_redacted_fields_name_the_api_key_header() -> None:
    assert waf_redacted_fields() == [{"single_header": {"name": "x-api-key"}}]


def test_children_are_parented_by_the_component(throttling_run: ProgramRun) -> None:
    component = throttling_run.one("tieredapi:throttling:ThrottlingPlans")
    outside = {"api", "deployment", "stage", "test-throttling"}

    assert {r.name for r in throttling_run.children_of(component)} == {
        r.name for r in throttling_run.resources if r.name not in outside
    }
