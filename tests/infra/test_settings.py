"""StackSettings: the stack files' numbers come through typed, and bad config fails with the key path."""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.api import api_definition
from components.settings import (
    API_METHOD_COUNT,
    ConfigError,
    LoggingLevel,
    QuotaPeriod,
    StackSettings,
    load_settings,
    stack_names,
)
from handler.contract import ROUTES
from handler.models import gateway_request_schemas
from tools.mocks import ROOT, cli_config, read_stack_config, stack_settings


def test_prod_stack_file_carries_the_seeds_numbers() -> None:
    prod = stack_settings("prod")

    assert (prod.api_gateway.throttle.rate_limit, prod.api_gateway.throttle.burst_limit) == (100, 200)
    standard, premium = prod.plans["standard"], prod.plans["premium"]
    assert (standard.throttle.rate_limit, standard.throttle.burst_limit) == (50, 100)
    assert (standard.quota.limit, standard.quota.period) == (10_000, QuotaPeriod.DAY)
    assert (premium.throttle.rate_limit, premium.throttle.burst_limit) == (100, 200)
    assert (premium.quota.limit, premium.quota.period) == (50_000, QuotaPeriod.DAY)
    assert (prod.waf.rate_limit, prod.waf.window_seconds) == (2000, 300)
    assert prod.lambda_.reserved_concurrency == 100
    assert prod.lambda_.concurrency_alarm_threshold == 80
    assert prod.lambda_.memory_mb == 1024
    assert prod.lambda_.timeout_seconds <= 29
    assert prod.log_retention_days == 365
    assert prod.data.deletion_protection
    assert prod.data.customer_managed_key


def test_every_consumer_of_both_stacks_has_a_standard_or_premium_key() -> None:
    for stack in ("dev", "prod"):
        settings = stack_settings(stack)
        assert set(settings.plans) == {"standard", "premium"}
        assert {consumer.plan for consumer in settings.consumers.values()} == {"standard", "premium"}


def test_dev_limits_are_smaller_than_prods() -> None:
    dev, prod = stack_settings("dev"), stack_settings("prod")

    assert dev.api_gateway.throttle.rate_limit < prod.api_gateway.throttle.rate_limit
    assert dev.api_gateway.throttle.burst_limit < prod.api_gateway.throttle.burst_limit
    for tier in ("standard", "premium"):
        assert dev.plans[tier].throttle.rate_limit < prod.plans[tier].throttle.rate_limit
        assert dev.plans[tier].throttle.burst_limit < prod.plans[tier].throttle.burst_limit
        assert dev.plans[tier].quota.limit < prod.plans[tier].quota.limit
    assert dev.waf.rate_limit < prod.waf.rate_limit
    assert dev.lambda_.memory_mb < prod.lambda_.memory_mb
    assert dev.lambda_.reserved_concurrency is None or (
        prod.lambda_.reserved_concurrency is not None
        and dev.lambda_.reserved_concurrency < prod.lambda_.reserved_concurrency
    )
    assert dev.log_retention_days < prod.log_retention_days
    assert dev.app_rate_limit.requests < prod.app_rate_limit.requests
    assert not dev.data.deletion_protection
    assert dev.api_gateway.logging_level is LoggingLevel.INFO


def test_premium_admits_more_than_standard_in_both_stacks() -> None:
    for stack in ("dev", "prod"):
        plans = stack_settings(stack).plans
        assert plans["premium"].throttle.rate_limit > plans["standard"].throttle.rate_limit
        assert plans["premium"].quota.limit > plans["standard"].quota.limit


def test_every_stack_file_is_listed_as_a_stack() -> None:
    assert {"dev", "prod"} <= set(stack_names(ROOT))


def test_settings_are_frozen() -> None:
    settings = stack_settings("dev")
    with pytest.raises(ValueError, match="frozen"):
        settings.waf.rate_limit = 1  # type: ignore[misc]


def test_values_arrive_as_the_cli_hands_them_over_json_strings() -> None:
    raw = read_stack_config(ROOT / "Pulumi.prod.yaml")
    assert load_settings("prod", cli_config(raw)) == stack_settings("prod")


def test_malformed_json_value_names_its_key() -> None:
    raw = read_stack_config(ROOT / "Pulumi.prod.yaml") | {"tiered-api:waf": "{not json"}

    with pytest.raises(ConfigError, match=r"tiered-api:waf: is not valid JSON"):
        load_settings("prod", raw)


def _at(config: dict[str, Any], dotted: str) -> Any:
    """The value at ``tiered-api:a.b.c`` in a config map."""
    return functools.reduce(operator.getitem, dotted.split("."), config)


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``tiered-api:a.b.c`` in a config map; ``value`` of ``...`` deletes the key."""
    path, _, leaf = dotted.rpartition(".")
    node = _at(config, path) if path else config
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value


INVALID_CONFIGS = [
    # (case, stack, key to set (the key path the message must name), value (... deletes), what the message must say)
    ("negative stage rate", "prod", "tiered-api:apiGateway.throttle.rateLimit", -5,
     "greater than 0"),
    ("burst below rate", "prod", "tiered-api:plans.standard.throttle.burstLimit", 20,
     "at least its rateLimit"),
    ("stage burst one below its rate", "prod", "tiered-api:apiGateway.throttle.burstLimit", 99,
     "at least its rateLimit (100)"),
    ("plan above stage", "dev", "tiered-api:plans.premium.throttle.rateLimit", 15,
     "at most the stage's"),
    ("timeout above 29 s", "prod", "tiered-api:lambda.timeoutSeconds", 30,
     "less than or equal to 29"),
    ("waf window not allowed", "prod", "tiered-api:waf.windowSeconds", 30,
     "[60, 120, 300, 600]"),
    ("waf limit below 10", "dev", "tiered-api:waf.rateLimit", 9,
     "greater than or equal to 10"),
    ("unknown key", "prod", "tiered-api:waf.ratelimit", 100,
     "unknown key"),
    ("unknown top-level key", "prod", "tiered-api:throttling", {"rate": 1},
     "unknown key"),
    ("wrong type: string for a number", "prod", "tiered-api:plans.premium.quota.limit", "50000",
     "valid integer"),
    ("wrong type: number for a boolean", "prod", "tiered-api:data.deletionProtection", 1,
     "valid boolean"),
    ("missing required key", "prod", "tiered-api:waf", ...,
     "required key is missing"),
    ("missing region", "dev", "aws:region", ...,
     "required key is missing"),
    ("quota period not allowed", "prod", "tiered-api:plans.standard.quota.period", "HOUR",
     "'DAY', 'WEEK' or 'MONTH'"),
    ("consumer of an unknown plan", "prod", "tiered-api:consumers.standard-client.plan", "gold",
     "must be one of ['premium', 'standard']"),
    ("retention CloudWatch does not offer", "prod", "tiered-api:logRetentionDays", 100,
     "CloudWatch's retention values"),
    ("memory above Lambda's maximum", "prod", "tiered-api:lambda.memoryMb", 20_000,
     "less than or equal to 10240"),
    ("alarm share above 1", "prod", "tiered-api:lambda.concurrencyAlarmShare", 1.5,
     "less than or equal to 1"),
    ("zero reserved concurrency", "prod", "tiered-api:lambda.reservedConcurrency", 0,
     "greater than or equal to 1"),
    ("one availability zone", "prod", "tiered-api:network.availabilityZones", 1,
     "greater than or equal to 2"),
    ("logging level not allowed", "prod", "tiered-api:apiGateway.loggingLevel", "DEBUG",
     "'INFO' or 'ERROR'"),
    ("tag key with AWS's reserved prefix", "prod", "tiered-api:tags.aws:owner", "team-a",
     "must not start with aws: in any case"),
    ("tag key with AWS's reserved prefix in capitals", "prod", "tiered-api:tags.AWS:Owner", "team-a",
     "must not start with aws: in any case"),
    ("tag key over 128 characters", "prod", f"tiered-api:tags.{'k' * 129}", "v",
     "tag keys must be 1-128 characters (got 129)"),
    ("empty tag key", "prod", "tiered-api:tags.", "v",
     "tag keys must be 1-128 characters (got 0)"),
    ("tag value over 256 characters", "prod", "tiered-api:tags.owner", "v" * 257,
     "tag values must be at most 256 characters (got 257)"),
    ("more tags than AWS allows beside the program's Name", "prod", "tiered-api:tags",
     {f"tag-{i}": "v" for i in range(50)},
     "at most 50 tags together with the Name tag"),
    ("vpc cidr with host bits set", "dev", "tiered-api:network.vpcCidr", "10.20.0.1/16",
     "no host bits set: the network address of this block is 10.20.0.0/16"),
    ("vpc cidr octet above 255", "dev", "tiered-api:network.vpcCidr", "300.20.0.0/16",
     "an IPv4 network address a.b.c.d/nn, each number 0-255"),
    ("vpc cidr prefix longer than /24", "dev", "tiered-api:network.vpcCidr", "10.20.0.0/25",
     "a /16 to /24 prefix"),
    ("vpc cidr prefix shorter than /16", "dev", "tiered-api:network.vpcCidr", "10.0.0.0/8",
     "a /16 to /24 prefix"),
    ("vpc cidr in IPv6", "dev", "tiered-api:network.vpcCidr", "fd00::/56",
     "an IPv4 network address"),
    ("tag value with a character DynamoDB refuses", "prod", "tiered-api:tags.environment", "R&D",
     "only letters, numbers, spaces and + - = . _ : / (DynamoDB's rule, the narrowest of the tagged services); not &"),
    ("tag value with an invisible character", "prod", "tiered-api:tags.team", "data\u200bteam",
     "not U+200B"),
    ("tag key with a character DynamoDB refuses", "prod", "tiered-api:tags.cost@centre", "4711",
     "tag keys may hold only letters, numbers, spaces and + - = . _ : /"),
    ("tag value with a currency symbol DynamoDB refuses", "prod", "tiered-api:tags.budget", "US$",
     "not $"),
    ("quota beyond API Gateway's 32-bit limit", "prod", "tiered-api:plans.standard.quota.limit", 2**31,
     "less than or equal to 2147483647"),
    ("stage name with a character API Gateway refuses", "prod", "tiered-api:apiGateway.stageName", "prod.eu",
     "1-128 of A-Z a-z 0-9 _ -"),
    ("tier name with an accented letter", "prod", "tiered-api:plans.prémium",
     {"throttle": {"rateLimit": 10, "burstLimit": 20}, "quota": {"limit": 100, "period": "DAY"}},
     "tier names are 1-40 of [a-z0-9-]"),
    ("consumer name with an accented letter", "prod", "tiered-api:consumers.stándard-client", {"plan": "standard"},
     "consumer names are 1-40 of [a-z0-9-]"),
    ("expected duration as long as the timeout", "prod", "tiered-api:lambda.expectedDurationMs", 15_000,
     "must be below lambda.timeoutSeconds (15000 ms)"),
    ("key in a misspelt namespace", "prod", "tieredapi:lambda", {"memoryMb": 512},
     "not read by this program: its keys are spelled tiered-api:<name>, e.g. tiered-api:lambda"),
    ("key without a namespace", "prod", "lambda", {"memoryMb": 512},
     "e.g. tiered-api:lambda"),
    ("key in a namespace missing a letter", "prod", "tierd-api:lambda", {"memoryMb": 512},
     "e.g. tiered-api:lambda"),
    ("key in the namespace in capitals", "prod", "Tiered-API:lambda", {"memoryMb": 512},
     "e.g. tiered-api:lambda"),
    ("vpc cidr in IPv6 with a /16 prefix", "dev", "tiered-api:network.vpcCidr", "fd00::/16",
     "an IPv4 network address"),
    ("vpc cidr in netmask notation", "dev", "tiered-api:network.vpcCidr", "10.20.0.0/255.255.0.0",
     "an IPv4 network address a.b.c.d/nn"),
    ("stage rate above API Gateway's 10,000 rps", "prod", "tiered-api:apiGateway.throttle.rateLimit", 10_001,
     "less than or equal to 10000 (got 10001)"),
    ("stage burst above 20,000", "prod", "tiered-api:apiGateway.throttle.burstLimit", 20_001,
     "less than or equal to 20000 (got 20001)"),
    ("zero quota", "prod", "tiered-api:plans.standard.quota.limit", 0,
     "greater than or equal to 1 (got 0)"),
    ("plan description over 200 characters", "prod", "tiered-api:plans.standard.description", "d" * 201,
     "at most 200 characters"),
    ("no plans", "prod", "tiered-api:plans", {},
     "at least 1 item"),
    ("no consumers", "prod", "tiered-api:consumers", {},
     "at least 1 item"),
    ("tier name over 40 characters", "prod", f"tiered-api:plans.{'t' * 41}",
     {"throttle": {"rateLimit": 10, "burstLimit": 20}, "quota": {"limit": 100, "period": "DAY"}},
     "tier names are 1-40 of [a-z0-9-]"),
    ("seven availability zones", "prod", "tiered-api:network.availabilityZones", 7,
     "less than or equal to 6"),
    ("memory below Lambda's minimum", "prod", "tiered-api:lambda.memoryMb", 64,
     "greater than or equal to 128"),
    ("zero alarm share", "prod", "tiered-api:lambda.concurrencyAlarmShare", 0,
     "greater than 0"),
    ("zero expected duration", "prod", "tiered-api:lambda.expectedDurationMs", 0,
     "greater than or equal to 1"),
    ("stage name over 128 characters", "prod", "tiered-api:apiGateway.stageName", "s" * 129,
     "1-128 of A-Z a-z 0-9 _ -"),
    ("waf limit above AWS WAF's 2,000,000,000", "prod", "tiered-api:waf.rateLimit", 2_000_000_001,
     "less than or equal to 2000000000"),
    ("limiter window longer than the handler reads", "prod", "tiered-api:appRateLimit.windowSeconds", 86_401,
     "less than or equal to 86400"),
    ("alarm email without a domain", "prod", "tiered-api:alarms.email", "ops-team",
     "should match pattern"),
    ("alarm period not whole minutes", "prod", "tiered-api:alarms.periodSeconds", 90,
     "multiple of 60"),
    ("alarm period above an hour", "prod", "tiered-api:alarms.periodSeconds", 3660,
     "less than or equal to 3600"),
    ("duration alarm at the whole timeout", "prod", "tiered-api:alarms.durationShareOfTimeout", 1,
     "less than 1"),
    ("region that is no AWS region's name", "prod", "aws:region", "us-east",
     "should match pattern"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stack", "key", "value", "allowed"),
    [case[1:] for case in INVALID_CONFIGS],
    ids=[case[0] for case in INVALID_CONFIGS],
)
def test_invalid_config_names_file_key_path_and_what_is_allowed(
    stack_config: Callable[[str], dict[str, Any]], stack: str, key: str, value: Any, allowed: str
) -> None:
    config = stack_config(stack)
    _set(config, key, value)

    with pytest.raises(ConfigError) as caught:
        load_settings(stack, config)

    message = str(caught.value)
    assert message.startswith(f"Pulumi.{stack}.yaml: invalid configuration")
    problem = next((line for line in caught.value.problems if line.startswith(f"{key}:")), None)
    assert problem is not None, message
    assert allowed in problem, problem


@pytest.mark.parametrize("throttle", ["tiered-api:apiGateway.throttle", "tiered-api:plans.standard.throttle"])
def test_a_burst_of_exactly_one_second_at_its_rate_is_allowed(
    stack_config: Callable[[str], dict[str, Any]], throttle: str
) -> None:
    config = stack_config("prod")
    bucket = _at(config, throttle)
    bucket["burstLimit"] = bucket["rateLimit"]

    load_settings("prod", config)


def test_tags_may_fill_awss_limit_together_with_the_programs_name_tag(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    config["tiered-api:tags"] = {f"tag-{i}": "v" for i in range(49)}

    assert len(load_settings("prod", config).tags) == 49


def test_tag_keys_and_values_may_be_as_long_as_aws_allows(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    # AWS's tag limits: keys up to 128 characters, values up to 256.
    config["tiered-api:tags"] = {"k" * 128: "v" * 256}

    assert load_settings("prod", config).tags == config["tiered-api:tags"]


def test_a_stage_name_may_hold_hyphens_as_api_gateways_do(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    config["tiered-api:apiGateway"]["stageName"] = "prod-eu_1"

    assert load_settings("prod", config).api_gateway.stage_name == "prod-eu_1"


def test_keys_of_other_namespaces_are_left_to_their_owners(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod") | {"aws:profile": "deploy", "datadog:site": "datadoghq.eu"}

    assert load_settings("prod", config) == load_settings("prod", stack_config("prod"))


def test_tag_values_in_other_scripts_and_with_spaces_are_allowed(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    config["tiered-api:tags"] = {"team": "Équipe données", "cost-centre": "R+D/42"}

    assert load_settings("prod", config).tags == config["tiered-api:tags"]


def test_every_problem_is_reported_at_once(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    config["tiered-api:waf"]["rateLimit"] = 1
    config["tiered-api:lambda"]["timeoutSeconds"] = 60

    with pytest.raises(ConfigError) as caught:
        load_settings("prod", config)

    paths = sorted(problem.split(":")[1] for problem in caught.value.problems)
    assert paths == ["lambda.timeoutSeconds", "waf.rateLimit"]


def test_message_names_the_file_it_was_given(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("dev")
    config["tiered-api:waf"]["windowSeconds"] = 7

    with pytest.raises(ConfigError, match=r"^reviews/Pulumi\.try\.yaml: "):
        load_settings("dev", config, source="reviews/Pulumi.try.yaml")


def consumer_plans_sum(config: dict[str, Any], limit: str) -> float:
    """``limit`` (rateLimit or burstLimit) of every consumer's plan, summed: one key per consumer."""
    plans = config["tiered-api:plans"]
    return sum(plans[consumer["plan"]]["throttle"][limit] for consumer in config["tiered-api:consumers"].values())


def littles_law_concurrency(config: dict[str, Any]) -> int:
    """The concurrency the consumers' plans need at their summed rate and the expected duration (Little's law)."""
    return math.ceil(consumer_plans_sum(config, "rateLimit") * config["tiered-api:lambda"]["expectedDurationMs"] / 1000)


def every_method(config: dict[str, Any], limit: str) -> float:
    """The stage's ``limit`` over all methods: the stage throttle (`*/*`) is a bucket per method."""
    return API_METHOD_COUNT * config["tiered-api:apiGateway"]["throttle"][limit]


def with_premium_consumers(config: dict[str, Any], count: int) -> dict[str, Any]:
    config["tiered-api:consumers"] = {f"premium-{n}": {"plan": "premium"} for n in range(count)}
    return config


def test_the_method_count_is_the_deployed_apis() -> None:
    definition = api_definition(ROUTES, gateway_request_schemas(), "fn")

    assert API_METHOD_COUNT == len({(m["httpMethod"], m["path"]) for m in definition["methods"]}) > 1


def test_the_api_rate_is_the_consumers_plans_summed_when_below_every_methods_bucket(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    assert consumer_plans_sum(config, "rateLimit") < every_method(config, "rateLimit")

    settings = load_settings("prod", config)

    assert settings.api_rate_limit == consumer_plans_sum(config, "rateLimit")
    assert settings.api_burst_limit == consumer_plans_sum(config, "burstLimit")


def test_one_more_consumer_adds_its_plans_rate_to_the_api(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    before = load_settings("prod", config).api_rate_limit
    config["tiered-api:consumers"]["another-client"] = {"plan": "standard"}

    after = load_settings("prod", config).api_rate_limit

    assert after - before == config["tiered-api:plans"]["standard"]["throttle"]["rateLimit"]


def test_the_api_rate_is_every_methods_stage_bucket_when_the_consumers_could_send_more(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    # GIVEN one premium key more than there are methods, premium's rate being the stage's
    config = with_premium_consumers(stack_config("prod"), API_METHOD_COUNT + 1)
    assert consumer_plans_sum(config, "rateLimit") > every_method(config, "rateLimit")

    settings = load_settings("prod", config)

    # THEN the stage's rate and burst count once per method, not once for the stage
    assert settings.api_rate_limit == every_method(config, "rateLimit")
    assert settings.api_burst_limit == every_method(config, "burstLimit")


@pytest.mark.parametrize(
    ("premium_consumers", "bound"),
    [(None, consumer_plans_sum), (API_METHOD_COUNT + 1, every_method)],
    ids=["consumers-bind", "methods-bind"],
)
def test_reserved_concurrency_below_littles_law_is_a_warning_with_the_numbers(
    stack_config: Callable[[str], dict[str, Any]],
    premium_consumers: int | None,
    bound: Callable[[dict[str, Any], str], float],
) -> None:
    config = stack_config("prod")
    if premium_consumers is not None:
        with_premium_consumers(config, premium_consumers)
    config["tiered-api:lambda"]["reservedConcurrency"] = 10
    config["tiered-api:lambda"]["expectedDurationMs"] = 250
    rate = min(consumer_plans_sum(config, "rateLimit"), every_method(config, "rateLimit"))
    assert rate == bound(config, "rateLimit")
    needed = math.ceil(rate * 250 / 1000)

    warnings = load_settings("prod", config).capacity_warnings()

    littles_law = [w for w in warnings if w.startswith("lambda.reservedConcurrency (10) is below what the API's")]
    assert len(littles_law) == 1, warnings
    assert f"{rate:g} rps x 250 ms = {needed} concurrent executions" in littles_law[0]
    stage_rate = config["tiered-api:apiGateway"]["throttle"]["rateLimit"]
    assert f"{API_METHOD_COUNT} methods x the stage's rateLimit {stage_rate:g}" in littles_law[0]
    assert f"summed, {consumer_plans_sum(config, 'rateLimit'):g}" in littles_law[0]


def test_reserved_concurrency_at_littles_law_gives_no_rate_warning(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    needed = littles_law_concurrency(config)

    def rate_warnings(reserved: int) -> list[str]:
        config["tiered-api:lambda"]["reservedConcurrency"] = reserved
        return [w for w in load_settings("prod", config).capacity_warnings() if "the API's rate needs" in w]

    assert rate_warnings(needed) == []
    assert len(rate_warnings(needed - 1)) == 1


def test_reserved_concurrency_at_littles_law_but_below_the_apis_burst_gets_the_burst_warning(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    needed = littles_law_concurrency(config)
    burst = int(consumer_plans_sum(config, "burstLimit"))
    assert needed < burst
    config["tiered-api:lambda"]["reservedConcurrency"] = needed

    warnings = [w for w in load_settings("prod", config).capacity_warnings() if "reservedConcurrency" in w]

    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"lambda.reservedConcurrency ({needed}) is below the API's burst ({burst})")


def test_reserved_concurrency_below_the_apis_burst_is_a_warning(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    burst = int(consumer_plans_sum(config, "burstLimit"))
    config["tiered-api:lambda"]["reservedConcurrency"] = burst - 1

    warnings = load_settings("prod", config).capacity_warnings()

    assert any(
        w.startswith(f"lambda.reservedConcurrency ({burst - 1}) is below the API's burst ({burst})") for w in warnings
    )


def test_reserved_concurrency_covering_the_apis_burst_gives_no_concurrency_warning(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    config["tiered-api:lambda"]["reservedConcurrency"] = int(consumer_plans_sum(config, "burstLimit"))

    warnings = load_settings("prod", config).capacity_warnings()

    assert not any("reservedConcurrency" in w for w in warnings), warnings


@pytest.mark.parametrize(("reserved", "warned"), [(900, False), (901, True)])
def test_a_reservation_beyond_what_the_default_account_quota_leaves_reservable_is_a_warning(
    stack_config: Callable[[str], dict[str, Any]], reserved: int, warned: bool
) -> None:
    config = stack_config("prod")
    config["tiered-api:lambda"]["reservedConcurrency"] = reserved

    warnings = load_settings("prod", config).capacity_warnings()

    quota = [w for w in warnings if "concurrency quota of at least" in w]
    assert len(quota) == int(warned), warnings
    assert all(f"at least {reserved + 100}" in w and "the default quota is 1,000" in w for w in quota)


def test_waf_limit_below_a_plans_rate_is_a_warning(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    config["tiered-api:waf"]["rateLimit"] = 60_000  # 200 rps per IP: above every plan

    assert not any(w.startswith("waf") for w in load_settings("prod", config).capacity_warnings())

    config["tiered-api:waf"]["rateLimit"] = 2000
    assert any(w.startswith("waf allows one IP 6.7 rps") for w in load_settings("prod", config).capacity_warnings())


@pytest.mark.parametrize(("requests_short", "warned"), [(0, False), (1, True)])
def test_waf_warns_once_a_plans_rate_is_above_the_average_rate_it_allows_one_ip(
    stack_config: Callable[[str], dict[str, Any]], requests_short: int, warned: bool
) -> None:
    config = stack_config("prod")
    waf = config["tiered-api:waf"]
    fastest = max(plan["throttle"]["rateLimit"] for plan in config["tiered-api:plans"].values())
    # Exactly the fastest plan's rate over the window lets its steady traffic through; one request less does not.
    waf["rateLimit"] = fastest * waf["windowSeconds"] - requests_short

    warnings = [w for w in load_settings("prod", config).capacity_warnings() if w.startswith("waf")]

    assert len(warnings) == int(warned), warnings


@pytest.mark.parametrize(("extra", "warned"), [(0, False), (1, True)])
def test_a_plans_burst_above_the_stages_is_a_warning(
    stack_config: Callable[[str], dict[str, Any]], extra: int, warned: bool
) -> None:
    config = stack_config("prod")
    stage_burst = config["tiered-api:apiGateway"]["throttle"]["burstLimit"]
    # A plan's burst equal to the stage's fits each method's stage bucket; one more does not.
    config["tiered-api:plans"]["standard"]["throttle"]["burstLimit"] = stage_burst + extra

    warnings = load_settings("prod", config).capacity_warnings()

    burst = [w for w in warnings if w.startswith("plans.standard.throttle.burstLimit")]
    assert len(burst) == int(warned), warnings


@functools.cache
def _pulumi_yaml() -> dict[str, Any]:
    """The project file, read once (treat it as read-only)."""
    project: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    return project


def test_pulumi_yaml_describes_exactly_the_keys_stacksettings_reads() -> None:
    project = _pulumi_yaml()
    declared = set(project["config"])
    fields = StackSettings.model_fields
    readable = {info.alias or name for name, info in fields.items() if name not in ("stack", "region")}

    assert project["name"] == "tiered-api"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert declared == readable
    assert all(spec.get("description") for spec in project["config"].values())


def test_defaults_in_pulumi_yaml_equal_the_models() -> None:
    project = _pulumi_yaml()
    by_alias = {info.alias or name: info for name, info in StackSettings.model_fields.items()}
    defaults = {key: spec["default"] for key, spec in project["config"].items() if "default" in spec}

    assert defaults, "Pulumi.yaml declares no defaults to compare"
    for key, default in defaults.items():
        assert by_alias[key].default == default, key


# Each optional key inside an object-valued key, with its default as Pulumi.yaml's description of that key spells it.
DOCUMENTED_NESTED_DEFAULTS = [
    ("network.vpcCidr", "10.0.0.0/16"),
    ("network.availabilityZones", "2"),
    ("data.deletionProtection", "false"),
    ("data.customerManagedKey", "false"),
    ("lambda.memoryMb", "512"),
    ("lambda.timeoutSeconds", "10"),
    ("lambda.reservedConcurrency", "null"),
    ("lambda.concurrencyAlarmShare", "0.8"),
    ("lambda.expectedDurationMs", "200"),
    ("apiGateway.loggingLevel", "ERROR"),
    ("apiGateway.manageAccountRole", "true"),
    ("waf.windowSeconds", "300"),
    ("appRateLimit.failOpen", "false"),
    ("alarms.periodSeconds", "60"),
    ("alarms.lambdaErrors", "1"),
    ("alarms.durationShareOfTimeout", "0.8"),
    ("alarms.api5xx", "1"),
    ("alarms.apiLatencyP99Ms", "2000"),
    ("alarms.api4xxShare", "0.1"),
    ("alarms.api4xxMinRequests", "20"),
    ("alarms.wafBlockedRequests", "100"),
]


@pytest.mark.parametrize(("path", "documented"), DOCUMENTED_NESTED_DEFAULTS)
def test_a_nested_key_left_out_takes_the_default_pulumi_yaml_documents(
    stack_config: Callable[[str], dict[str, Any]], path: str, documented: str
) -> None:
    top, leaf = path.split(".")
    description = _pulumi_yaml()["config"][top]["description"]
    assert re.search(rf"\b{leaf} \([^)]*default {re.escape(documented)}[,;:)]", description), description
    config = stack_config("prod")
    _set(config, f"tiered-api:{path}", ...)

    loaded = load_settings("prod", config).model_dump(mode="json", by_alias=True)

    assert loaded[top][leaf] == yaml.safe_load(documented)
