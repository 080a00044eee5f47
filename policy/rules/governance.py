"""Logs, IAM and alarm rows of the security checklist."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy.context import StackContext
from policy.graph import (
    Finding,
    LinkedResource,
    ResourceLike,
    StackGraph,
    T,
    as_list,
    boolean,
    known_items,
    mapping,
    number,
    policy_statements,
    stage_key,
    statement_values,
)
from policy.rules._base import resource_rule, stack_rule

__all__ = ["REQUIRED_ALARMS", "RULES"]

# Actions AWS offers no resource-level permissions for: "*" is their only valid resource.
UNSCOPABLE_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:DescribeSecurityGroups",
        "cloudwatch:PutMetricData",
        "logs:DescribeLogGroups",
    }
)
# IAM matches action names case-insensitively ("DynamoDB:Scan" is dynamodb:Scan), so the rules compare them lowercased.
UNSCOPABLE_LOWERCASE = frozenset(a.lower() for a in UNSCOPABLE_ACTIONS)
IDENTITY_POLICY_TYPES = (T.ROLE_POLICY, T.IAM_POLICY)
EXECUTION_LOG_GROUP_PREFIX = "API-Gateway-Execution-Logs_"
AWS_MANAGED_POLICY = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(?P<path>.+)")
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "service-role/AWSLambdaBasicExecutionRole",
        "service-role/AWSLambdaVPCAccessExecutionRole",
        "service-role/AmazonAPIGatewayPushToCloudWatchLogs",
    }
)


@stack_rule(
    "LOG-RETENTION",
    "Every log group the stack's resources write to is created by the stack, with the configured retention",
)
def log_retention(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    wanted = context.settings.log_retention_days
    for group in graph.of_type(T.LOG_GROUP):
        retention = number(group.props.get("retentionInDays"))
        if retention != wanted:
            yield Finding(
                f"log group {group.name}: retention {retention} days, the stack asks for logRetentionDays {wanted}",
                group.urn,
            )
    names = list(graph.log_group_names())
    for stage in graph.of_type(T.STAGE):
        if not _execution_logging(graph, stage):
            continue
        # API Gateway creates this group itself, without retention, unless the stack creates it first.
        api_id, stage_name = stage_key(stage)
        if api_id is None:
            continue  # its name holds the API's id: checked once AWS has created the API
        expected = f"{EXECUTION_LOG_GROUP_PREFIX}{api_id}/{stage_name}"
        if expected not in names:
            yield Finding(
                f"stage {stage.name} writes execution logs to {expected}, which this stack does not create (API "
                "Gateway would, without retention)",
                stage.urn,
            )


def _execution_logging(graph: StackGraph, stage: LinkedResource) -> bool:
    for settings in graph.of_type(T.METHOD_SETTINGS):
        if settings.props.get("stageName") != stage.props.get("stageName"):
            continue
        level = mapping(settings.props.get("settings")).get("loggingLevel")
        if level not in (None, "OFF"):
            return True
    return False


@stack_rule(
    "IAM-NO-STAR",
    "No '*' or 'service:*' actions; '*' resources only for unscopable actions; DynamoDB scoped to this stack's tables",
)
def no_wildcards(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    for owner, document in _identity_policies(graph):
        for statement in policy_statements(document):
            if statement.get("Effect") != "Allow":
                continue
            for problem in _statement_problems(graph, statement, context.settings.region):
                yield Finding(f"{owner.name}: {problem}", owner.urn)
    # In a key policy "*" as resource means the key itself; every action of KMS is still too much.
    for key in graph.of_type(T.KMS_KEY):
        for statement in policy_statements(key.props.get("policy")):
            broad = [a for a in statement_values(statement, "Action") if a.lower() in ("*", "kms:*")]
            if statement.get("Effect") == "Allow" and broad:
                yield Finding(f"key {key.name}: its key policy allows {broad}", key.urn)


def _identity_policies(graph: StackGraph) -> Iterator[tuple[LinkedResource, Any]]:
    for resource in graph.of_type(*IDENTITY_POLICY_TYPES):
        yield resource, resource.props.get("policy")
    for role in graph.of_type(T.ROLE):
        for inline in as_list(role.props.get("inlinePolicies")):
            if isinstance(inline, Mapping):
                yield role, inline.get("policy")


def _statement_problems(graph: StackGraph, statement: Mapping[str, Any], region: str) -> Iterator[str]:
    if "NotAction" in statement or "NotResource" in statement:
        yield "allows by exclusion (NotAction/NotResource)"
    actions = statement_values(statement, "Action")
    resources = statement_values(statement, "Resource")
    broad = [a for a in actions if a == "*" or a.endswith(":*")]
    if broad:
        yield f"allows every action of {broad}"
    if "*" in resources:
        scopable = sorted({a for a in actions if a.lower() not in UNSCOPABLE_LOWERCASE})
        if scopable:
            yield f"allows {scopable} on every resource ('*')"
    if any(a.lower().startswith("dynamodb:") for a in actions):
        foreign = [r for r in resources if graph.table_for_arn(r, region) is None]
        if foreign:
            yield f"DynamoDB actions reach {foreign}, not only this stack's tables and indexes"


# Every way pulumi_aws attaches a managed policy to a role -> the property holding the policy ARN(s).
MANAGED_POLICY_PROPERTY = {
    T.ROLE: "managedPolicyArns",
    T.ROLE_POLICY_ATTACHMENT: "policyArn",
    T.ROLE_POLICY_ATTACHMENTS_EXCLUSIVE: "policyArns",
    T.POLICY_ATTACHMENT: "policyArn",
}


@resource_rule(
    "IAM-MANAGED",
    "AWS managed policies only from the allow-list (basic/VPC execution, API Gateway push to logs)",
    *MANAGED_POLICY_PROPERTY,
)
def managed_policies(resource: ResourceLike, _: StackContext) -> Iterator[str]:
    arns = [str(a) for a in as_list(resource.props.get(MANAGED_POLICY_PROPERTY[resource.resource_type]))]
    for arn in arns:
        match = AWS_MANAGED_POLICY.fullmatch(arn)
        if match and match.group("path") not in ALLOWED_MANAGED_POLICIES:
            yield f"{resource.name} attaches AWS managed policy {arn}, not on the allow-list"


@dataclass(frozen=True)
class AlarmKind:
    what: str
    namespace: str
    metrics: frozenset[str]
    only_with_reserved_concurrency: bool = False
    """There is nothing to alarm on until the stack reserves concurrency (``lambda.reservedConcurrency``)."""


# The alarms of docs/operations.md §4, in its order.
REQUIRED_ALARMS = (
    AlarmKind(
        "Lambda concurrency", "AWS/Lambda", frozenset({"ConcurrentExecutions"}), only_with_reserved_concurrency=True
    ),
    AlarmKind("Lambda errors", "AWS/Lambda", frozenset({"Errors"})),
    AlarmKind("Lambda throttles", "AWS/Lambda", frozenset({"Throttles"})),
    AlarmKind("Lambda duration near timeout", "AWS/Lambda", frozenset({"Duration"})),
    AlarmKind("API 5XX", "AWS/ApiGateway", frozenset({"5XXError"})),
    AlarmKind("API latency p99", "AWS/ApiGateway", frozenset({"Latency"})),
    AlarmKind("API 4XX share", "AWS/ApiGateway", frozenset({"4XXError"})),
    AlarmKind(
        "DynamoDB throttles",
        "AWS/DynamoDB",
        frozenset({"ThrottledRequests", "ReadThrottleEvents", "WriteThrottleEvents"}),
    ),
    AlarmKind("DynamoDB system errors", "AWS/DynamoDB", frozenset({"SystemErrors"})),
    AlarmKind("WAF blocked requests", "AWS/WAFV2", frozenset({"BlockedRequests"})),
)


@stack_rule(
    "ALARMS",
    "The stack's alarms (docs/operations.md §4) exist, each notifying an SNS topic of the stack, with its actions enabled",
)
def alarms(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    all_alarms = graph.of_type(T.METRIC_ALARM)
    watched = {(ns, m) for alarm in all_alarms for ns, m in _metrics(alarm)}
    reserved = context.settings.lambda_.reserved_concurrency is not None
    for kind in REQUIRED_ALARMS:
        if kind.only_with_reserved_concurrency and not reserved:
            continue
        if not any((kind.namespace, metric) in watched for metric in kind.metrics):
            yield Finding(f"no alarm on {kind.what} ({kind.namespace} {'/'.join(sorted(kind.metrics))})")
    for alarm in all_alarms:
        # The topic's ARN is unknown until it exists (a first preview): then only that there is an action counts.
        actions = known_items(alarm.props, "alarmActions")
        if actions is not None and not (actions and all(a is None or _sns_topic_arn(str(a)) for a in actions)):
            yield Finding(f"alarm {alarm.name} notifies no SNS topic (alarmActions {actions})", alarm.urn)
        elif not graph.dependencies(alarm, T.TOPIC):
            yield Finding(f"alarm {alarm.name} notifies a topic this stack does not create", alarm.urn)
        # CKV_AWS_319: with actionsEnabled false the alarm changes state but notifies nobody (absent means true).
        if boolean(alarm.props.get("actionsEnabled")) is False:
            yield Finding(f"alarm {alarm.name} has actionsEnabled false: it notifies nobody", alarm.urn)


def _sns_topic_arn(arn: str) -> bool:
    return arn.startswith("arn:aws") and ":sns:" in arn


def _metrics(alarm: LinkedResource) -> Iterator[tuple[str, str]]:
    props = alarm.props
    if props.get("metricName"):
        yield str(props.get("namespace")), str(props.get("metricName"))
    for query in as_list(props.get("metricQueries")):
        stat = mapping(mapping(query).get("metric"))
        if stat.get("metricName"):
            yield str(stat.get("namespace")), str(stat.get("metricName"))


RULES = [log_retention, no_wildcards, managed_policies, alarms]
