"""tiered-api: reads the stack's settings, composes the components, exports the outputs. Nothing else."""

from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from components.api import Api, ApiArgs, service_name
from components.data import DataTier, DataTierArgs
from components.network import Network, NetworkArgs, availability_zones
from components.observability import Observability, ObservabilityArgs
from components.settings import PROJECT, load_settings
from components.throttling import ThrottlingPlans, ThrottlingPlansArgs


def _stack_config() -> dict[str, Any]:
    # The whole config map, namespaced keys included, so that unknown keys are reported rather than ignored.
    return {**get_config_env(), **CONFIG.get()}


settings = load_settings(pulumi.get_stack(), _stack_config())
for warning in settings.capacity_warnings():
    pulumi.log.warn(warning)

# Checked against the region before the first component: a stack file asking for more AZs than it offers creates nothing.
zones = availability_zones(settings)

name = f"{PROJECT}-{settings.stack}"
service = service_name(settings.stack)
tags = settings.tags

data = DataTier(f"{name}-data", DataTierArgs(settings=settings.data, tags=tags))
network = Network(
    f"{name}-network",
    NetworkArgs(
        settings=settings.network,
        availability_zones=zones,
        log_retention_days=settings.log_retention_days,
        items_table_arn=data.items_table_arn,
        items_year_index_arn=data.items_year_index_arn,
        rate_limit_table_arn=data.rate_limit_table_arn,
        tags=tags,
    ),
)
api = Api(
    f"{name}-api",
    ApiArgs(
        lambda_settings=settings.lambda_,
        api_gateway=settings.api_gateway,
        app_rate_limit=settings.app_rate_limit,
        log_retention_days=settings.log_retention_days,
        subnet_ids=network.private_subnet_ids,
        security_group_id=network.lambda_security_group_id,
        items_table_name=data.items_table_name,
        items_table_arn=data.items_table_arn,
        items_year_index_arn=data.items_year_index_arn,
        rate_limit_table_name=data.rate_limit_table_name,
        rate_limit_table_arn=data.rate_limit_table_arn,
        kms_key_arn=data.kms_key_arn,
        service=service,
        tags=tags,
    ),
)
throttling = ThrottlingPlans(
    f"{name}-throttling",
    ThrottlingPlansArgs(
        plans=settings.plans,
        consumers=settings.consumers,
        waf=settings.waf,
        rest_api_id=api.rest_api_id,
        stage=api.stage,
        log_retention_days=settings.log_retention_days,
        tags=tags,
    ),
)
observability = Observability(
    f"{name}-observability",
    ObservabilityArgs(
        alarms=settings.alarms,
        lambda_settings=settings.lambda_,
        function_name=api.function_name,
        rest_api_name=api.rest_api_name,
        stage_name=api.stage_name,
        web_acl_name=throttling.web_acl_name,
        rate_rule_metric_name=throttling.rate_rule_metric_name,
        items_table_name=data.items_table_name,
        rate_limit_table_name=data.rate_limit_table_name,
        service=service,
        region=settings.region,
        tags=tags,
    ),
)

pulumi.export("api_url", api.invoke_url)
pulumi.export("stage_name", api.stage_name)
pulumi.export("api_key_ids", throttling.api_key_ids)
pulumi.export("items_table_name", data.items_table_name)
pulumi.export("rate_limit_table_name", data.rate_limit_table_name)
pulumi.export("dashboard_name", observability.dashboard_name)
pulumi.export("alarm_topic_arn", observability.alarm_topic_arn)
