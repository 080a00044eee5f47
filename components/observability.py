"""Observability: the alarm topic, the alarms of docs/operations.md §4 and one dashboard per stack.

Every threshold comes from ``AlarmSettings`` and ``LambdaSettings`` through ``alarm_thresholds``, which both the
alarms and the dashboard's annotations read, so a number changed in a stack file moves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.api import METRICS_NAMESPACE
from components.data import (
    ITEMS_INDEX_OPERATIONS,
    ITEMS_TABLE_OPERATIONS,
    RATE_LIMIT_TABLE_OPERATIONS,
    key_administration_statement,
)
from components.settings import AlarmSettings, LambdaSettings
from handler.contract import Metric

__all__ = [
    "AlarmDefinition",
    "MetricTargets",
    "Observability",
    "ObservabilityArgs",
    "alarm_definitions",
    "alarm_thresholds",
    "alarm_topic_key_policy",
    "dashboard_body",
]

# "At least one": any throttle or DynamoDB system error deserves a look, whatever the stack.
_ANY = 1.0
_MS_PER_SECOND = 1000
# The operations each table sees, per the handler's IAM statements (index queries count against the table).
_TABLE_OPERATIONS = {
    "items": ITEMS_TABLE_OPERATIONS + ITEMS_INDEX_OPERATIONS,
    "rate-limit": RATE_LIMIT_TABLE_OPERATIONS,
}
_DYNAMODB_ERROR_METRICS = {"throttles": "ThrottledRequests", "system-errors": "SystemErrors"}


@dataclass(frozen=True)
class ObservabilityArgs:
    alarms: AlarmSettings
    """Thresholds, evaluation period and the optional e-mail subscriber."""
    lambda_settings: LambdaSettings
    """Reserved concurrency and timeout, which the concurrency and duration alarms are shares of."""
    function_name: pulumi.Input[str]
    rest_api_name: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    web_acl_name: pulumi.Input[str]
    rate_rule_metric_name: str
    items_table_name: pulumi.Input[str]
    rate_limit_table_name: pulumi.Input[str]
    service: str
    """The function's Powertools service: the ``service`` dimension of its EMF metrics."""
    region: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class MetricTargets:
    """The resolved names the dashboard's metrics point at."""

    region: str
    function_name: str
    rest_api_name: str
    stage_name: str
    web_acl_name: str
    rate_rule_metric_name: str
    items_table_name: str
    rate_limit_table_name: str
    service: str


@dataclass(frozen=True)
class AlarmDefinition:
    """One alarm: fires when its metric is at least ``threshold``; ``metric`` holds the MetricAlarm arguments
    that say what is measured (a single metric, or ``metric_queries`` for metric math)."""

    key: str
    description: str
    threshold: float
    metric: Mapping[str, Any]


def alarm_thresholds(alarms: AlarmSettings, lambda_settings: LambdaSettings) -> dict[str, float]:
    """Every alarm's threshold by alarm kind; no concurrency alarm without reserved concurrency."""
    thresholds = {
        "lambda-errors": float(alarms.lambda_errors),
        "lambda-throttles": _ANY,
        "lambda-duration-p99": lambda_settings.timeout_seconds * _MS_PER_SECOND * alarms.duration_share_of_timeout,
        "api-5xx": float(alarms.api_5xx),
        "api-latency-p99": float(alarms.api_latency_p99_ms),
        "api-4xx-share": alarms.api_4xx_share,
        "dynamodb-throttles": _ANY,
        "dynamodb-system-errors": _ANY,
        "waf-blocked": float(alarms.waf_blocked_requests),
        "rate-limiter-failed-open": _ANY,
    }
    if lambda_settings.concurrency_alarm_threshold is not None:
        thresholds["lambda-concurrency"] = lambda_settings.concurrency_alarm_threshold
    return thresholds


def alarm_definitions(args: ObservabilityArgs) -> list[AlarmDefinition]:
    """The alarms of docs/operations.md §4, keyed by stable names; builds no resource."""
    thresholds = alarm_thresholds(args.alarms, args.lambda_settings)
    period = args.alarms.period_seconds
    function = {"FunctionName": args.function_name}
    api = {"ApiName": args.rest_api_name, "Stage": args.stage_name}

    def single(namespace: str, metric_name: str, dimensions: Mapping[str, Any], stat: str) -> dict[str, Any]:
        statistic = {"extended_statistic": stat} if stat.startswith("p") else {"statistic": stat}
        return {
            "namespace": namespace,
            "metric_name": metric_name,
            "dimensions": dict(dimensions),
            "period": period,
            **statistic,
        }

    definitions = []
    if "lambda-concurrency" in thresholds:
        definitions.append(
            AlarmDefinition(
                "lambda-concurrency",
                f"Lambda concurrency at {args.lambda_settings.concurrency_alarm_share:.0%} of its reserved "
                f"{args.lambda_settings.reserved_concurrency}: beyond it, requests are throttled (API 500s)",
                thresholds["lambda-concurrency"],
                single("AWS/Lambda", "ConcurrentExecutions", function, "Maximum"),
            )
        )
    definitions += [
        AlarmDefinition(
            "lambda-errors",
            "Lambda invocations ending in an error",
            thresholds["lambda-errors"],
            single("AWS/Lambda", "Errors", function, "Sum"),
        ),
        AlarmDefinition(
            "lambda-throttles",
            "Lambda invocations throttled (API Gateway answers them 500)",
            thresholds["lambda-throttles"],
            single("AWS/Lambda", "Throttles", function, "Sum"),
        ),
        AlarmDefinition(
            "lambda-duration-p99",
            f"Lambda p99 duration at {args.alarms.duration_share_of_timeout:.0%} of its "
            f"{args.lambda_settings.timeout_seconds} s timeout",
            thresholds["lambda-duration-p99"],
            single("AWS/Lambda", "Duration", function, "p99"),
        ),
        AlarmDefinition(
            "api-5xx",
            "API Gateway 5XX answers",
            thresholds["api-5xx"],
            single("AWS/ApiGateway", "5XXError", api, "Sum"),
        ),
        AlarmDefinition(
            "api-latency-p99",
            "API Gateway p99 latency (ms)",
            thresholds["api-latency-p99"],
            single("AWS/ApiGateway", "Latency", api, "p99"),
        ),
        AlarmDefinition(
            "api-4xx-share",
            "Share of API requests answered 4XX (429 throttling and quota answers count here)",
            thresholds["api-4xx-share"],
            {
                "metric_queries": [
                    _query("errors4xx", "AWS/ApiGateway", "4XXError", api, period),
                    _query("requests", "AWS/ApiGateway", "Count", api, period),
                    {
                        "id": "share",
                        # Quiet periods (a lone scanner's 403) would read as a 100 % share: count only with traffic.
                        "expression": f"IF(requests >= {args.alarms.api_4xx_min_requests}, errors4xx / requests, 0)",
                        "label": "4XX share",
                        "return_data": True,
                    },
                ]
            },
        ),
    ]
    tables = {"items": args.items_table_name, "rate-limit": args.rate_limit_table_name}
    for table_key, table_name in tables.items():
        for error_key, metric_name in _DYNAMODB_ERROR_METRICS.items():
            # DynamoDB reports these per operation: the alarm sums the operations the handler performs.
            queries = [
                _query(
                    operation.lower(),
                    "AWS/DynamoDB",
                    metric_name,
                    {"TableName": table_name, "Operation": operation},
                    period,
                )
                for operation in _TABLE_OPERATIONS[table_key]
            ]
            # AWS/DynamoDB alarms ignore TreatMissingData: without FILL an alarm never returns to OK.
            total = ", ".join(f"FILL({query['id']}, 0)" for query in queries)
            queries.append({"id": "total", "expression": f"SUM([{total}])", "label": metric_name, "return_data": True})
            definitions.append(
                AlarmDefinition(
                    f"{table_key}-{error_key}",
                    f"DynamoDB {metric_name} on the {table_key} table",
                    thresholds[f"dynamodb-{error_key}"],
                    {"metric_queries": queries},
                )
            )
    definitions.append(
        AlarmDefinition(
            "waf-blocked",
            "Requests blocked by the WAF: per-IP rate rule and managed rule groups",
            thresholds["waf-blocked"],
            single(
                "AWS/WAFV2",
                "BlockedRequests",
                {"WebACL": args.web_acl_name, "Region": args.region, "Rule": "ALL"},
                "Sum",
            ),
        )
    )
    definitions.append(
        AlarmDefinition(
            "rate-limiter-failed-open",
            "The app rate limiter could not reach its table and admitted requests unchecked",
            thresholds["rate-limiter-failed-open"],
            single(METRICS_NAMESPACE, Metric.RATE_LIMITER_FAILED_OPEN, {"service": args.service}, "Sum"),
        )
    )
    return definitions


def _query(
    query_id: str, namespace: str, metric_name: str, dimensions: Mapping[str, Any], period: int
) -> dict[str, Any]:
    return {
        "id": query_id,
        "return_data": False,
        "metric": {
            "namespace": namespace,
            "metric_name": metric_name,
            "dimensions": dict(dimensions),
            "stat": "Sum",
            "period": period,
        },
    }


def alarm_topic_key_policy(account_id: str, partition: str, region: str) -> str:
    """The alarm topic's key policy. CloudWatch cannot publish to a topic encrypted with the AWS-managed
    ``alias/aws/sns`` key (its policy cannot grant CloudWatch ``kms:GenerateDataKey*``), hence this key."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            key_administration_statement(account_id, partition),
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "AccountUsesTheKeyOnlyThroughSns",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": f"sns.{region}.amazonaws.com",
                    }
                },
            },
        ],
    }
    return json.dumps(document)


_WIDGET_WIDTH = 6
_WIDGET_HEIGHT = 6
_WIDGETS_PER_ROW = 4


def dashboard_body(targets: MetricTargets, alarms: AlarmSettings, lambda_settings: LambdaSettings) -> str:
    """The stack's dashboard: Lambda, API Gateway, DynamoDB and WAF, alarm thresholds drawn as lines."""
    thresholds = alarm_thresholds(alarms, lambda_settings)
    function = ["FunctionName", targets.function_name]
    api = ["ApiName", targets.rest_api_name, "Stage", targets.stage_name]
    concurrency_lines = {}
    if "lambda-concurrency" in thresholds:
        concurrency_lines["alarm"] = thresholds["lambda-concurrency"]
    if lambda_settings.reserved_concurrency is not None:
        concurrency_lines["reserved"] = float(lambda_settings.reserved_concurrency)
    tables = {"items": targets.items_table_name, "rate-limit": targets.rate_limit_table_name}
    dynamodb_operations = [
        (f"{table_key} {operation}", table_name, operation)
        for table_key, table_name in tables.items()
        for operation in _TABLE_OPERATIONS[table_key]
    ]

    def dynamodb(metric_name: str) -> list[list[Any]]:
        return [
            ["AWS/DynamoDB", metric_name, "TableName", name, "Operation", operation, {"stat": "Sum", "label": label}]
            for label, name, operation in dynamodb_operations
        ]

    def emf(metric: Metric) -> list[Any]:
        extra = ["function_name", targets.function_name] if metric is Metric.COLD_START else []
        return [METRICS_NAMESPACE, metric.value, "service", targets.service, *extra, {"stat": "Sum"}]

    def waf(metric_name: str, rule: str) -> list[Any]:
        return ["AWS/WAFV2", metric_name, "WebACL", targets.web_acl_name, "Region", targets.region, "Rule", rule]

    widgets = [
        (
            "Lambda invocations and errors",
            [
                ["AWS/Lambda", "Invocations", *function, {"stat": "Sum"}],
                ["AWS/Lambda", "Errors", *function, {"stat": "Sum"}],
            ],
            {"errors alarm": thresholds["lambda-errors"]},
        ),
        (
            "Lambda throttles",
            [["AWS/Lambda", "Throttles", *function, {"stat": "Sum"}]],
            {"alarm": thresholds["lambda-throttles"]},
        ),
        (
            "Lambda duration p99 (ms)",
            [["AWS/Lambda", "Duration", *function, {"stat": "p99"}]],
            {
                "alarm": thresholds["lambda-duration-p99"],
                "timeout": float(lambda_settings.timeout_seconds * _MS_PER_SECOND),
            },
        ),
        (
            "Lambda concurrent executions",
            [["AWS/Lambda", "ConcurrentExecutions", *function, {"stat": "Maximum"}]],
            concurrency_lines,
        ),
        ("API requests", [["AWS/ApiGateway", "Count", *api, {"stat": "Sum"}]], {}),
        (
            "API 4XX and 5XX",
            [
                ["AWS/ApiGateway", "4XXError", *api, {"stat": "Sum"}],
                ["AWS/ApiGateway", "5XXError", *api, {"stat": "Sum"}],
            ],
            {"5XX alarm": thresholds["api-5xx"]},
        ),
        (
            "API 4XX share",
            [
                ["AWS/ApiGateway", "4XXError", *api, {"stat": "Sum", "id": "errors4xx", "visible": False}],
                ["AWS/ApiGateway", "Count", *api, {"stat": "Sum", "id": "requests", "visible": False}],
                [{"expression": "errors4xx / requests", "label": "4XX share", "id": "share"}],
            ],
            {"alarm": thresholds["api-4xx-share"]},
        ),
        (
            "API latency p99 (ms)",
            [
                ["AWS/ApiGateway", "Latency", *api, {"stat": "p99"}],
                ["AWS/ApiGateway", "IntegrationLatency", *api, {"stat": "p99"}],
            ],
            {"alarm": thresholds["api-latency-p99"]},
        ),
        (
            "DynamoDB throttled requests",
            dynamodb("ThrottledRequests"),
            {"alarm": thresholds["dynamodb-throttles"]},
        ),
        (
            "DynamoDB system errors",
            dynamodb("SystemErrors"),
            {"alarm": thresholds["dynamodb-system-errors"]},
        ),
        (
            "WAF allowed and blocked",
            [
                [*waf("AllowedRequests", "ALL"), {"stat": "Sum"}],
                [*waf("BlockedRequests", "ALL"), {"stat": "Sum"}],
            ],
            # The alarm counts blocks by every rule (Rule=ALL), the series on this graph.
            {"alarm": thresholds["waf-blocked"]},
        ),
        (
            "WAF rate rule blocks",
            [[*waf("BlockedRequests", targets.rate_rule_metric_name), {"stat": "Sum"}]],
            {},
        ),
        ("Handler: cold starts and items created", [emf(Metric.COLD_START), emf(Metric.ITEMS_CREATED)], {}),
        (
            "Handler: rejected requests",
            [emf(Metric.RATE_LIMITED), emf(Metric.VALIDATION_FAILURES)],
            {},
        ),
        (
            "Handler: rate limiter degraded",
            [emf(Metric.RATE_LIMITER_FAILED_OPEN), emf(Metric.RATE_LIMITER_FAILED_CLOSED)],
            {"alarm": thresholds["rate-limiter-failed-open"]},
        ),
    ]
    body = {
        "widgets": [
            {
                "type": "metric",
                "x": (index % _WIDGETS_PER_ROW) * _WIDGET_WIDTH,
                "y": (index // _WIDGETS_PER_ROW) * _WIDGET_HEIGHT,
                "width": _WIDGET_WIDTH,
                "height": _WIDGET_HEIGHT,
                "properties": {
                    "title": title,
                    "region": targets.region,
                    "period": alarms.period_seconds,
                    "view": "timeSeries",
                    "stacked": False,
                    "metrics": metrics,
                    "annotations": {"horizontal": [{"label": label, "value": value} for label, value in lines.items()]},
                },
            }
            for index, (title, metrics, lines) in enumerate(widgets)
        ]
    }
    return json.dumps(body)


class Observability(pulumi.ComponentResource):
    """SNS alarm topic (CMK-encrypted, optional e-mail subscriber), the stack's alarms and its dashboard."""

    alarm_topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tieredapi:observability:Observability", name, None, opts)
        tags = dict(args.tags)
        topic = self._build_topic(name, args, tags)
        for definition in alarm_definitions(args):
            aws.cloudwatch.MetricAlarm(
                f"{name}-{definition.key}",
                alarm_description=definition.description,
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=definition.threshold,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                # With few requests p99 is the slowest one (a cold start): judge percentiles on enough samples only.
                evaluate_low_sample_count_percentiles="ignore" if "extended_statistic" in definition.metric else None,
                alarm_actions=[topic.arn],
                ok_actions=[topic.arn],
                tags=tags,
                **definition.metric,
                opts=pulumi.ResourceOptions(parent=self),
            )
        body = pulumi.Output.all(
            function_name=args.function_name,
            rest_api_name=args.rest_api_name,
            stage_name=args.stage_name,
            web_acl_name=args.web_acl_name,
            items_table_name=args.items_table_name,
            rate_limit_table_name=args.rate_limit_table_name,
        ).apply(
            lambda names: dashboard_body(
                MetricTargets(
                    region=args.region,
                    rate_rule_metric_name=args.rate_rule_metric_name,
                    service=args.service,
                    **names,
                ),
                args.alarms,
                args.lambda_settings,
            )
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=name,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarm_topic_arn = topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({"alarm_topic_arn": self.alarm_topic_arn, "dashboard_name": self.dashboard_name})

    def _build_topic(self, name: str, args: ObservabilityArgs, tags: dict[str, str]) -> aws.sns.Topic:
        key = aws.kms.Key(
            f"{name}-alarms",
            description=f"{name}: alarm topic encryption, usable by CloudWatch alarms",
            enable_key_rotation=True,
            policy=alarm_topic_key_policy(
                aws.get_caller_identity().account_id, aws.get_partition().partition, args.region
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        topic = aws.sns.Topic(
            f"{name}-alarms",
            kms_master_key_id=key.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.alarms.email is not None:
            aws.sns.TopicSubscription(
                f"{name}-alarms-email",
                topic=topic.arn,
                protocol="email",
                endpoint=args.alarms.email,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return topic
