"""Observability under mocks, from the real stack files: every alarm acts, every threshold comes from settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pytest

from components.api import METRICS_NAMESPACE
from components.data import ITEMS_INDEX_OPERATIONS, ITEMS_TABLE_OPERATIONS, RATE_LIMIT_TABLE_OPERATIONS
from components.observability import MetricTargets, Observability, ObservabilityArgs, dashboard_body
from components.settings import StackSettings
from handler.contract import Metric
from policy.graph import policy_statements
from tools.mocks import ACCOUNT_ID, ProgramRun, RecordedResource, run_components, stack_settings

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTION = "tiered-api-fn-3a9c"
API = "tiered-api-rest-b71e"
WEB_ACL = "tiered-api-acl-0d42"
RATE_RULE = "tiered-api-per-ip-rate"
ITEMS = "items-5e1f"
RATE_LIMIT = "rate-limit-77c0"
SERVICE = "tiered-api-test"


def _targets(settings: StackSettings) -> MetricTargets:
    return MetricTargets(
        region=settings.region,
        function_name=FUNCTION,
        rest_api_name=API,
        stage_name=settings.api_gateway.stage_name,
        web_acl_name=WEB_ACL,
        rate_rule_metric_name=RATE_RULE,
        items_table_name=ITEMS,
        rate_limit_table_name=RATE_LIMIT,
        service=SERVICE,
    )


def _run(settings: StackSettings) -> ProgramRun:
    def build(settings: StackSettings) -> None:
        targets = _targets(settings)
        observability = Observability(
            "test-observability",
            ObservabilityArgs(
                alarms=settings.alarms,
                lambda_settings=settings.lambda_,
                function_name=targets.function_name,
                rest_api_name=targets.rest_api_name,
                stage_name=targets.stage_name,
                web_acl_name=targets.web_acl_name,
                rate_rule_metric_name=targets.rate_rule_metric_name,
                items_table_name=targets.items_table_name,
                rate_limit_table_name=targets.rate_limit_table_name,
                service=targets.service,
                region=targets.region,
                tags=settings.tags,
            ),
        )
        pulumi.export("alarm_topic_arn", observability.alarm_topic_arn)
        pulumi.export("dashboard_name", observability.dashboard_name)

    return run_components(settings, build)


def _metric_alarm(run: ProgramRun, namespace: str, metric_name: str) -> RecordedResource:
    """The single-metric alarm on ``namespace``/``metric_name``, found by what it measures, not by its name."""
    (alarm,) = [a for a in run.of_type(ALARM) if a.get("namespace") == namespace and a.get("metricName") == metric_name]
    return alarm


def _queried_metrics(alarm: RecordedResource) -> list[dict[str, Any]]:
    return [q["metric"] for q in alarm.get("metricQueries", default=[]) if "metric" in q]


def _math_alarms(run: ProgramRun, metric_name: str) -> list[RecordedResource]:
    return [a for a in run.of_type(ALARM) if any(m["metricName"] == metric_name for m in _queried_metrics(a))]


# --- every alarm -----------------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(run: ProgramRun) -> None:
    topic = run.outputs["alarm_topic_arn"]

    for alarm in run.of_type(ALARM):
        assert alarm.get("alarmActions") == [topic]
        assert alarm.get("okActions") == [topic]


def test_every_alarm_treats_missing_data_as_not_breaching_and_fires_at_its_threshold(run: ProgramRun) -> None:
    for alarm in run.of_type(ALARM):
        assert alarm.get("treatMissingData") == "notBreaching"
        assert alarm.get("comparisonOperator") == "GreaterThanOrEqualToThreshold"


def test_every_alarm_evaluates_the_configured_period(run: ProgramRun) -> None:
    period = run.settings.alarms.period_seconds

    for alarm in run.of_type(ALARM):
        # A metric-math alarm carries its period on each queried metric instead.
        periods = [m["period"] for m in _queried_metrics(alarm)] or [alarm.get("period")]
        assert periods
        assert all(p == period for p in periods)


def test_every_alarm_fires_on_a_single_breaching_period(run: ProgramRun) -> None:
    # docs/operations.md §4 states each alarm "per period": one period over the threshold is enough.
    for alarm in run.of_type(ALARM):
        assert alarm.get("evaluationPeriods") == 1
        assert alarm.get("datapointsToAlarm") in (None, 1)


def test_alarms_on_counts_sum_them_over_the_period(run: ProgramRun) -> None:
    # Their thresholds are counts per period (docs/operations.md §4); an Average of API Gateway's 5XXError is a
    # rate between 0 and 1, and of Lambda's Errors a per-datapoint mean, which a count threshold never reaches.
    counts = [
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/WAFV2", "BlockedRequests"),
        (METRICS_NAMESPACE, Metric.RATE_LIMITER_FAILED_OPEN.value),
    ]
    for namespace, metric_name in counts:
        assert _metric_alarm(run, namespace, metric_name).get("statistic") == "Sum", metric_name
    assert all(m["stat"] == "Sum" for alarm in run.of_type(ALARM) for m in _queried_metrics(alarm))


# --- each alarm of docs/operations.md §4 ----------------------------------------------------------------------


def test_concurrency_alarm_fires_at_the_configured_share_of_reserved_concurrency(run: ProgramRun) -> None:
    lam = run.settings.lambda_
    alarm = _metric_alarm(run, "AWS/Lambda", "ConcurrentExecutions")

    assert lam.reserved_concurrency is not None
    assert alarm.get("threshold") == pytest.approx(lam.reserved_concurrency * lam.concurrency_alarm_share)
    assert alarm.get("dimensions") == {"FunctionName": FUNCTION}
    assert alarm.get("statistic") == "Maximum"


def test_no_concurrency_alarm_without_reserved_concurrency(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("dev")
    config["tiered-api:lambda"] = {**config["tiered-api:lambda"], "reservedConcurrency": None}

    run = _run(stack_settings("dev", config))

    assert [a for a in run.of_type(ALARM) if a.get("metricName") == "ConcurrentExecutions"] == []
    assert _metric_alarm(run, "AWS/Lambda", "Errors")  # the other alarms remain


def test_lambda_errors_and_throttles_alarms(run: ProgramRun) -> None:
    errors = _metric_alarm(run, "AWS/Lambda", "Errors")
    throttles = _metric_alarm(run, "AWS/Lambda", "Throttles")

    assert errors.get("threshold") == run.settings.alarms.lambda_errors
    assert throttles.get("threshold") == 1
    assert errors.get("dimensions") == throttles.get("dimensions") == {"FunctionName": FUNCTION}


def test_duration_alarm_fires_at_the_configured_share_of_the_timeout_on_p99(run: ProgramRun) -> None:
    alarm = _metric_alarm(run, "AWS/Lambda", "Duration")

    expected_ms = run.settings.lambda_.timeout_seconds * 1000 * run.settings.alarms.duration_share_of_timeout
    assert alarm.get("threshold") == pytest.approx(expected_ms)
    assert alarm.get("extendedStatistic") == "p99"
    assert alarm.get("statistic") is None


def test_api_alarms_measure_the_stage_of_the_api(run: ProgramRun) -> None:
    stage = {"ApiName": API, "Stage": run.settings.api_gateway.stage_name}
    errors = _metric_alarm(run, "AWS/ApiGateway", "5XXError")
    latency = _metric_alarm(run, "AWS/ApiGateway", "Latency")

    assert errors.get("dimensions") == latency.get("dimensions") == stage
    assert errors.get("threshold") == run.settings.alarms.api_5xx
    assert latency.get("threshold") == run.settings.alarms.api_latency_p99_ms
    assert latency.get("extendedStatistic") == "p99"


def test_4xx_share_alarm_divides_4xx_answers_by_requests(run: ProgramRun) -> None:
    (alarm,) = _math_alarms(run, "4XXError")
    queries = alarm.get("metricQueries")

    by_metric = {q["metric"]["metricName"]: q for q in queries if "metric" in q}
    assert set(by_metric) == {"4XXError", "Count"}
    assert all(
        q["metric"]["dimensions"] == {"ApiName": API, "Stage": run.settings.api_gateway.stage_name}
        for q in by_metric.values()
    )
    (result,) = [q for q in queries if q.get("returnData")]
    errors, requests = by_metric["4XXError"]["id"], by_metric["Count"]["id"]
    minimum = run.settings.alarms.api_4xx_min_requests
    assert result["expression"].replace(" ", "") == f"IF({requests}>={minimum},{errors}/{requests},0)"
    assert alarm.get("threshold") == run.settings.alarms.api_4xx_share


@pytest.mark.parametrize("metric_name", ["ThrottledRequests", "SystemErrors"])
def test_dynamodb_alarms_sum_every_operation_the_handler_performs_per_table(run: ProgramRun, metric_name: str) -> None:
    alarms = _math_alarms(run, metric_name)

    operations: dict[str, set[str]] = {}
    for alarm in alarms:
        (table,) = {m["dimensions"]["TableName"] for m in _queried_metrics(alarm)}
        operations[table] = {m["dimensions"]["Operation"] for m in _queried_metrics(alarm)}
        (result,) = [q for q in alarm.get("metricQueries") if q.get("returnData")]
        summed = {q["id"] for q in alarm.get("metricQueries") if "metric" in q}
        assert result["expression"].startswith("SUM(")
        assert all(query_id in result["expression"] for query_id in summed)
        assert alarm.get("threshold") == 1
    assert operations == {
        ITEMS: set(ITEMS_TABLE_OPERATIONS + ITEMS_INDEX_OPERATIONS),
        RATE_LIMIT: set(RATE_LIMIT_TABLE_OPERATIONS),
    }


@pytest.mark.parametrize("metric_name", ["ThrottledRequests", "SystemErrors"])
def test_dynamodb_alarms_count_a_missing_datapoint_as_zero_so_they_can_return_to_ok(
    run: ProgramRun, metric_name: str
) -> None:
    # Alarms on AWS/DynamoDB metrics ignore treat_missing_data and keep their state while a metric is missing,
    # and these two are only published when something happens.
    for alarm in _math_alarms(run, metric_name):
        (result,) = [q for q in alarm.get("metricQueries") if q.get("returnData")]
        expression = result["expression"].replace(" ", "")
        for query in (q for q in alarm.get("metricQueries") if "metric" in q):
            assert f"FILL({query['id']},0)" in expression


def test_percentile_alarms_ignore_periods_with_too_few_requests(run: ProgramRun) -> None:
    # Otherwise, in a quiet period, "p99" is the one slowest request, a cold start.
    for namespace, metric_name in (("AWS/ApiGateway", "Latency"), ("AWS/Lambda", "Duration")):
        assert _metric_alarm(run, namespace, metric_name).get("evaluateLowSampleCountPercentiles") == "ignore"
    assert _metric_alarm(run, "AWS/Lambda", "Errors").get("evaluateLowSampleCountPercentiles") is None


def test_rate_limiter_failing_open_raises_an_alarm(run: ProgramRun) -> None:
    alarm = _metric_alarm(run, METRICS_NAMESPACE, Metric.RATE_LIMITER_FAILED_OPEN.value)

    assert alarm.get("dimensions") == {"service": SERVICE}
    assert alarm.get("statistic") == "Sum"
    assert alarm.get("threshold") == 1


def test_waf_alarm_counts_the_web_acls_blocks(run: ProgramRun) -> None:
    alarm = _metric_alarm(run, "AWS/WAFV2", "BlockedRequests")

    assert alarm.get("dimensions") == {"WebACL": WEB_ACL, "Region": run.settings.region, "Rule": "ALL"}
    assert alarm.get("threshold") == run.settings.alarms.waf_blocked_requests


def test_alarm_thresholds_follow_an_edited_stack_file(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    config["tiered-api:alarms"] = {
        **config["tiered-api:alarms"],
        "periodSeconds": 300,
        "lambdaErrors": 7,
        "durationShareOfTimeout": 0.5,
        "api5xx": 9,
        "apiLatencyP99Ms": 1234,
        "api4xxShare": 0.33,
        "api4xxMinRequests": 55,
        "wafBlockedRequests": 77,
    }
    config["tiered-api:lambda"] = {
        **config["tiered-api:lambda"],
        "reservedConcurrency": 40,
        "concurrencyAlarmShare": 0.5,
    }

    run = _run(stack_settings("prod", config))

    assert _metric_alarm(run, "AWS/Lambda", "Errors").get("threshold") == 7
    assert _metric_alarm(run, "AWS/Lambda", "Duration").get("threshold") == pytest.approx(
        run.settings.lambda_.timeout_seconds * 1000 * 0.5
    )
    assert _metric_alarm(run, "AWS/Lambda", "ConcurrentExecutions").get("threshold") == 20
    assert _metric_alarm(run, "AWS/ApiGateway", "5XXError").get("threshold") == 9
    assert _metric_alarm(run, "AWS/ApiGateway", "Latency").get("threshold") == 1234
    assert _math_alarms(run, "4XXError")[0].get("threshold") == pytest.approx(0.33)
    assert "requests >= 55," in str(_math_alarms(run, "4XXError")[0].get("metricQueries"))
    assert _metric_alarm(run, "AWS/WAFV2", "BlockedRequests").get("threshold") == 77
    assert _metric_alarm(run, "AWS/Lambda", "Errors").get("period") == 300


# --- the topic -----------------------------------------------------------------------------------------------


def test_alarm_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(run: ProgramRun) -> None:
    topic = run.one("aws:sns/topic:Topic")
    key = run.one("aws:kms/key:Key")

    assert run.depends_on(topic, key)
    assert topic.get("kmsMasterKeyId")
    assert key.get("enableKeyRotation") is True
    statements = json.loads(key.get("policy"))["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def _topic_key_statements(run: ProgramRun) -> list[Mapping[str, Any]]:
    return policy_statements(run.one("aws:kms/key:Key").get("policy"))


def test_cloudwatch_may_use_the_topic_key_only_for_this_accounts_alarms(run: ProgramRun) -> None:
    (cloudwatch,) = [s for s in _topic_key_statements(run) if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]

    # Confused-deputy protection: another account's alarms must not encrypt with (or read through) this key.
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def test_the_account_may_use_the_topic_key_for_data_only_through_sns_in_the_region(run: ProgramRun) -> None:
    account_root = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}

    (uses,) = [s for s in _topic_key_statements(run) if s["Principal"] == account_root and "kms:Decrypt" in s["Action"]]

    assert uses["Condition"]["StringEquals"] == {
        "kms:CallerAccount": ACCOUNT_ID,
        "kms:ViaService": f"sns.{run.settings.region}.amazonaws.com",
    }


def test_no_subscription_without_an_alarm_email(run: ProgramRun) -> None:
    assert run.settings.alarms.email is None
    assert run.of_type("aws:sns/topicSubscription:TopicSubscription") == []


def test_alarm_email_subscribes_to_the_topic(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("dev")
    config["tiered-api:alarms"] = {**config["tiered-api:alarms"], "email": "oncall@example.com"}

    run = _run(stack_settings("dev", config))

    (subscription,) = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.get("protocol") == "email"
    assert subscription.get("endpoint") == "oncall@example.com"
    assert subscription.get("topic") == run.outputs["alarm_topic_arn"]


# --- the dashboard -------------------------------------------------------------------------------------------


def _widgets(body: str) -> list[dict[str, Any]]:
    return [w["properties"] for w in json.loads(body)["widgets"]]


def _metrics(widget: dict[str, Any]) -> list[list[Any]]:
    return [m for m in widget["metrics"] if isinstance(m[0], str)]


def _metric_names(widget: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m[0], m[1]) for m in _metrics(widget)}


def _widget_showing(body: str, namespace: str, metric_name: str) -> dict[str, Any]:
    (widget,) = [w for w in _widgets(body) if (namespace, metric_name) in _metric_names(w)]
    return widget


def _annotations(widget: dict[str, Any]) -> list[float]:
    return [line["value"] for line in widget.get("annotations", {}).get("horizontal", [])]


def test_dashboard_shows_lambda_api_dynamodb_and_waf_metrics() -> None:
    settings = stack_settings("prod")

    body = dashboard_body(_targets(settings), settings.alarms, settings.lambda_)

    shown = set().union(*(_metric_names(w) for w in _widgets(body)))
    assert {
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "4XXError"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/DynamoDB", "ThrottledRequests"),
        ("AWS/WAFV2", "AllowedRequests"),
        ("AWS/WAFV2", "BlockedRequests"),
    } <= shown


def test_dashboard_shows_the_handlers_own_metrics_for_this_service() -> None:
    settings = stack_settings("prod")

    body = dashboard_body(_targets(settings), settings.alarms, settings.lambda_)

    shown = {
        metric[1]: dict(zip(metric[2:-1:2], metric[3:-1:2], strict=True))
        for widget in _widgets(body)
        for metric in widget["metrics"]
        if isinstance(metric[0], str) and metric[0] == METRICS_NAMESPACE
    }
    assert set(shown) == {metric.value for metric in Metric}
    # CloudWatch matches a metric's dimensions exactly: the handler's metrics carry the service only, and
    # Powertools publishes the cold start under the function's name as well.
    cold_start = shown.pop(Metric.COLD_START.value)
    assert cold_start == {"service": SERVICE, "function_name": FUNCTION}
    assert all(dimensions == {"service": SERVICE} for dimensions in shown.values())


def test_dashboard_metrics_point_at_this_stacks_resources() -> None:
    settings = stack_settings("dev")
    targets = _targets(settings)

    widgets = _widgets(dashboard_body(targets, settings.alarms, settings.lambda_))

    expected = {
        "FunctionName": {FUNCTION},
        "ApiName": {API},
        "Stage": {settings.api_gateway.stage_name},
        "TableName": {ITEMS, RATE_LIMIT},
        "WebACL": {WEB_ACL},
        "Region": {settings.region},
    }
    for widget in widgets:
        assert widget["region"] == settings.region
        assert widget["period"] == settings.alarms.period_seconds
        for metric in _metrics(widget):
            dimensions = dict(zip(metric[2:-1:2], metric[3:-1:2], strict=True))
            for dimension, value in dimensions.items():
                if dimension in expected:
                    assert value in expected[dimension]


def test_dashboard_draws_the_alarm_thresholds_from_settings(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("prod")
    config["tiered-api:alarms"] = {**config["tiered-api:alarms"], "apiLatencyP99Ms": 1234, "wafBlockedRequests": 77}
    settings = stack_settings("prod", config)

    body = dashboard_body(_targets(settings), settings.alarms, settings.lambda_)

    assert 1234 in _annotations(_widget_showing(body, "AWS/ApiGateway", "Latency"))
    # On the graph of what the WAF alarm counts: blocks by every rule, not the rate rule's alone.
    (all_rules_widget,) = [
        w for w in _widgets(body) if any(m[1] == "BlockedRequests" and "ALL" in m for m in _metrics(w))
    ]
    assert 77 in _annotations(all_rules_widget)
    (rate_rule_widget,) = [w for w in _widgets(body) if any(RATE_RULE in m for m in _metrics(w))]
    assert 77 not in _annotations(rate_rule_widget)
    concurrency = _annotations(_widget_showing(body, "AWS/Lambda", "ConcurrentExecutions"))
    assert settings.lambda_.concurrency_alarm_threshold in concurrency


def test_dashboard_draws_every_alarms_threshold_on_a_graph_of_what_it_measures(run: ProgramRun) -> None:
    widgets = _widgets(run.one("aws:cloudwatch/dashboard:Dashboard").get("dashboardBody"))

    for alarm in run.of_type(ALARM):
        measured = {(m["namespace"], m["metricName"]) for m in _queried_metrics(alarm)} or {
            (alarm.get("namespace"), alarm.get("metricName"))
        }
        drawn = [w for w in widgets if measured & _metric_names(w) and alarm.get("threshold") in _annotations(w)]
        assert drawn, alarm.name


def test_dashboard_draws_no_concurrency_line_without_reserved_concurrency(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("dev")
    config["tiered-api:lambda"] = {**config["tiered-api:lambda"], "reservedConcurrency": None}
    settings = stack_settings("dev", config)

    body = dashboard_body(_targets(settings), settings.alarms, settings.lambda_)

    assert _annotations(_widget_showing(body, "AWS/Lambda", "ConcurrentExecutions")) == []


def test_component_renders_the_dashboard_from_the_resolved_names(run: ProgramRun) -> None:
    dashboard = run.one("aws:cloudwatch/dashboard:Dashboard")

    assert json.loads(dashboard.get("dashboardBody")) == json.loads(
        dashboard_body(_targets(run.settings), run.settings.alarms, run.settings.lambda_)
    )
    assert run.outputs["dashboard_name"] == dashboard.get("dashboardName")


def test_dashboard_is_named_after_the_component_so_stacks_sharing_an_account_do_not_collide(run: ProgramRun) -> None:
    component = run.one("tieredapi:observability:Observability")

    assert run.one("aws:cloudwatch/dashboard:Dashboard").get("dashboardName") == component.name
