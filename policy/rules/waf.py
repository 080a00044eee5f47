"""WAF rows of the security checklist."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from components.settings import WAF_MIN_LIMIT
from policy.context import StackContext
from policy.graph import (
    Finding,
    LinkedResource,
    ResourceLike,
    StackGraph,
    T,
    as_list,
    flag,
    known_items,
    known_text,
    mapping,
    number,
    stage_key,
)
from policy.rules._base import resource_rule, stack_rule

__all__ = ["RULES"]

REQUIRED_MANAGED_GROUPS = ("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesCommonRuleSet")
# Rule action overrides that stop a managed rule from blocking: "count" only observes, "allow" lets the request
# through past every later rule.
WEAKENING_ACTIONS = ("count", "allow")
# The one rule the stack may count instead of block, by group: Common's SizeRestrictions_BODY, whose 403 would stand
# in for the API's own 413 (components/throttling.py says why counting it is safe). Every other rule of both groups
# keeps its action (KnownBadInputs' Log4JRCE_* rules above all: CKV_AWS_192).
COUNTED_RULES: Mapping[str, frozenset[str]] = {"AWSManagedRulesCommonRuleSet": frozenset({"SizeRestrictions_BODY"})}
API_KEY_HEADER = "x-api-key"
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
# AWS's default evaluation window when a rate-based statement does not set one.
DEFAULT_WINDOW_SECONDS = 300


def _rules(acl: ResourceLike) -> list[Mapping[str, Any]]:
    return [r for r in as_list(acl.props.get("rules")) if isinstance(r, Mapping)]


def _statement(rule: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    found = mapping(rule.get("statement")).get(kind)
    return found if isinstance(found, Mapping) else None


@resource_rule(
    "WAF-RATE",
    "A REGIONAL web ACL blocks an IP over the configured rate (limit >= 10, window from config)",
    T.WEB_ACL,
)
def rate_rule(acl: ResourceLike, context: StackContext) -> Iterator[str]:
    if acl.props.get("scope") != "REGIONAL":
        yield f"web ACL {acl.name}: scope is {acl.props.get('scope')!r}, not REGIONAL (API Gateway needs REGIONAL)"
    waf = context.settings.waf
    rate_rules = [(r, s) for r in _rules(acl) if (s := _statement(r, "rateBasedStatement")) is not None]
    if not rate_rules:
        yield f"web ACL {acl.name} has no rate-based rule"
        return
    for rule, statement in rate_rules:
        name = rule.get("name")
        limit = number(statement.get("limit"))
        window = number(statement.get("evaluationWindowSec")) or DEFAULT_WINDOW_SECONDS
        if statement.get("scopeDownStatement"):
            yield f"web ACL {acl.name}, rule {name}: a scopeDownStatement limits it to the requests inside it"
        if statement.get("aggregateKeyType", "IP") != "IP":
            yield f"web ACL {acl.name}, rule {name}: aggregates by {statement.get('aggregateKeyType')}, not per IP"
        if limit is None or limit < WAF_MIN_LIMIT or limit != waf.rate_limit:
            yield f"web ACL {acl.name}, rule {name}: limit {limit} is not the configured {waf.rate_limit} (>= 10)"
        if window != waf.window_seconds:
            yield f"web ACL {acl.name}, rule {name}: window {window:g} s is not the configured {waf.window_seconds} s"
        action = rule.get("action")
        if not isinstance(action, Mapping) or "block" not in action:
            yield f"web ACL {acl.name}, rule {name}: its action does not block"


@resource_rule(
    "WAF-MANAGED",
    "The web ACL runs AWS's KnownBadInputs and Common rule groups whole (no scope-down, no excluded rules) with "
    "override action none; no rule of theirs is overridden to count or allow but Common's SizeRestrictions_BODY "
    "(counted: the function answers 413 itself)",
    T.WEB_ACL,
)
def managed_groups(acl: ResourceLike, _: StackContext) -> Iterator[str]:
    groups: dict[str, Mapping[str, Any]] = {}
    for rule in _rules(acl):
        statement = _statement(rule, "managedRuleGroupStatement")
        if statement is not None and statement.get("vendorName") == "AWS":
            groups[str(statement.get("name"))] = rule
    for required in REQUIRED_MANAGED_GROUPS:
        found = groups.get(required)
        if found is None:
            yield f"web ACL {acl.name} does not run {required}"
            continue
        override = found.get("overrideAction")
        if not isinstance(override, Mapping) or "none" not in override or "count" in override:
            yield f"web ACL {acl.name}: {required} only counts; its override action must be none"
        yield from _group_weakenings(acl, required, mapping(_statement(found, "managedRuleGroupStatement")))


def _group_weakenings(acl: ResourceLike, group: str, statement: Mapping[str, Any]) -> Iterator[str]:
    """Ways a rule group statement keeps some of the group's rules from blocking."""
    if statement.get("scopeDownStatement"):
        yield f"web ACL {acl.name}: {group} has a scopeDownStatement, so it skips the requests outside it"
    if as_list(statement.get("excludedRules")):
        yield f"web ACL {acl.name}: {group} excludes rules (excludedRules), which then only count"
    countable = COUNTED_RULES.get(group, frozenset())
    for override in as_list(statement.get("ruleActionOverrides")):
        name = mapping(override).get("name")
        action = mapping(mapping(override).get("actionToUse"))
        weakened = [a for a in WEAKENING_ACTIONS if a in action]
        if weakened and not (weakened == ["count"] and name in countable):
            yield f"web ACL {acl.name}: {group} overrides its rule {name} to {'/'.join(weakened)}"


@resource_rule("WAF-METRICS", "CloudWatch metrics are on for the web ACL and every rule", T.WEB_ACL)
def waf_metrics(acl: ResourceLike, _: StackContext) -> Iterator[str]:
    if not _metrics_on(acl.props.get("visibilityConfig")):
        yield f"web ACL {acl.name}: visibilityConfig.cloudwatchMetricsEnabled is not true"
    for rule in _rules(acl):
        if not _metrics_on(rule.get("visibilityConfig")):
            yield f"web ACL {acl.name}, rule {rule.get('name')}: CloudWatch metrics are off"


def _metrics_on(visibility: Any) -> bool:
    return flag(mapping(visibility).get("cloudwatchMetricsEnabled"))


@stack_rule("WAF-ASSOC", "A web ACL is associated with every stage, by the stage's ARN, after the stage exists")
def association(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    associations = graph.of_type(T.WEB_ACL_ASSOCIATION)
    for stage in graph.of_type(T.STAGE):
        api_id, stage_name = stage_key(stage)
        matching = [a for a in associations if _names_stage(graph, a, stage, api_id, stage_name)]
        if not matching:
            yield Finding(f"stage {stage.name} ({stage_name}) has no web ACL association naming its ARN", stage.urn)
            continue
        for found in matching:
            if not graph.depends_on(found, stage):
                yield Finding(f"{found.name} does not wait for stage {stage.name} to exist", found.urn)
            if not graph.dependencies(found, T.WEB_ACL):
                yield Finding(f"{found.name} associates no web ACL of this stack", found.urn)


def _names_stage(
    graph: StackGraph, association: LinkedResource, stage: LinkedResource, api_id: str | None, stage_name: str
) -> bool:
    """Whether an association's resource ARN is the stage's; at a first preview, where the API's id and the stage's
    ARN are not known yet, whether it waits for the stage."""
    resource_arn = known_text(association.props, "resourceArn")
    if api_id is None or resource_arn is None:
        return graph.depends_on(association, stage)
    stage_arn = rf"arn:aws[a-z-]*:apigateway:[a-z0-9-]+::/restapis/{re.escape(api_id)}/stages/{re.escape(stage_name)}"
    return re.fullmatch(stage_arn, resource_arn) is not None


@stack_rule("WAF-LOGGING", "Each web ACL logs to an aws-waf-logs- log group, redacting the x-api-key header")
def waf_logging(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    configurations = graph.of_type(T.WEB_ACL_LOGGING)
    for acl in graph.of_type(T.WEB_ACL):
        found = [c for c in configurations if graph.depends_on(c, acl)]
        if not found:
            yield Finding(f"web ACL {acl.name} has no logging configuration", acl.urn)
        for configuration in found:
            # The groups' ARNs are unknown until they exist (a first preview): then only that there is one counts.
            destinations = known_items(configuration.props, "logDestinationConfigs")
            if destinations is not None and not (
                destinations and all(d is None or _waf_log_group(graph, str(d), configuration) for d in destinations)
            ):
                yield Finding(
                    f"{configuration.name}: destinations {destinations} are not {WAF_LOG_GROUP_PREFIX}* log groups of this stack",
                    configuration.urn,
                )
            if not _redacts_api_key(configuration.props.get("redactedFields")):
                yield Finding(f"{configuration.name} writes the {API_KEY_HEADER} header to the logs", configuration.urn)


def _waf_log_group(graph: StackGraph, arn: str, configuration: LinkedResource) -> bool:
    return f":log-group:{WAF_LOG_GROUP_PREFIX}" in arn and graph.log_group_for_arn(arn, configuration) is not None


def _redacts_api_key(fields: Any) -> bool:
    for field in as_list(fields):
        header = mapping(mapping(field).get("singleHeader"))
        if str(header.get("name", "")).lower() == API_KEY_HEADER:
            return True
    return False


RULES = [rate_rule, managed_groups, association, waf_logging, waf_metrics]
