"""Lambda rows of the security checklist."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping

from components.settings import API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS
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

MIN_PYTHON_MINOR = 12
# Names that announce a secret, and values shaped like one (AWS keys, PEM blocks, common token formats).
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"\b(AKIA|ASIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|\bgh[pousr]_[A-Za-z0-9]{20,}"
)
MIN_AZS = 2


@resource_rule("LAMBDA-XRAY", "Lambda tracing mode is Active", T.FUNCTION)
def function_tracing(function: ResourceLike, _: StackContext) -> Iterator[str]:
    mode = mapping(function.props.get("tracingConfig")).get("mode")
    if mode != "Active":
        yield f"function {function.name}: tracing mode is {mode!r}, not Active"


@stack_rule(
    "LAMBDA-VPC",
    "Each function runs in private subnets (no public IP mapping) across >= 2 AZs, with a security group",
)
def function_vpc(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    for function in graph.of_type(T.FUNCTION):
        vpc = mapping(function.props.get("vpcConfig"))
        # Ids the subnets and groups get when created: unknown at a first preview, though their count is known.
        subnet_ids = known_items(vpc, "subnetIds")
        group_ids = known_items(vpc, "securityGroupIds")
        if subnet_ids == []:
            yield Finding(f"function {function.name} runs outside any VPC (no vpcConfig.subnetIds)", function.urn)
            continue
        if group_ids == []:
            yield Finding(f"function {function.name} has no security group", function.urn)
        subnets = graph.dependencies(function, T.SUBNET)
        if subnet_ids is not None and len(subnets) < len(subnet_ids):
            yield Finding(f"function {function.name} uses subnets this stack does not create", function.urn)
        public = [s.name for s in subnets if flag(s.props.get("mapPublicIpOnLaunch"))]
        if public:
            yield Finding(f"function {function.name}: subnets {public} map public IPs", function.urn)
        routed = [s.name for s in subnets if any(_reaches_internet(graph, t) for t in graph.route_tables_of(s))]
        if routed:
            yield Finding(
                f"function {function.name}: subnets {routed} route to an internet or NAT gateway", function.urn
            )
        zones = {s.props.get("availabilityZone") or s.props.get("availabilityZoneId") for s in subnets} - {None}
        if len(zones) < MIN_AZS:
            yield Finding(
                f"function {function.name} spans {len(zones)} availability zone(s) {sorted(map(str, zones))}, "
                f"fewer than {MIN_AZS}",
                function.urn,
            )


def _reaches_internet(graph: StackGraph, table: LinkedResource) -> bool:
    """A route table with a route (inline or a Route resource) through an internet, egress-only or NAT gateway."""
    route_resources = graph.dependents(table, T.ROUTE)
    routes = [r for r in as_list(table.props.get("routes")) if isinstance(r, Mapping)]
    routes += [r.props for r in route_resources]
    if any(
        str(r.get("gatewayId", "")).startswith("igw-") or r.get("natGatewayId") or r.get("egressOnlyGatewayId")
        for r in routes
    ):
        return True
    gateways = (T.INTERNET_GATEWAY, T.EGRESS_ONLY_INTERNET_GATEWAY, T.NAT_GATEWAY)
    holders = [table, *route_resources]
    return any(graph.dependencies(holder, *gateways) for holder in holders)


@stack_rule(
    "LAMBDA-CONCURRENCY",
    "Reserved concurrency is set (> 0) where the stack asks, with an alarm at the configured share",
)
def concurrency(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    settings = context.settings.lambda_
    threshold = settings.concurrency_alarm_threshold  # None exactly when the stack reserves no concurrency
    for function in graph.of_type(T.FUNCTION):
        reserved = number(function.props.get("reservedConcurrentExecutions"))
        if threshold is None:
            if reserved is not None and 0 <= reserved < 1:
                yield Finding(f"function {function.name}: reserved concurrency 0 stops it from running", function.urn)
            continue
        if reserved != settings.reserved_concurrency:
            yield Finding(
                f"function {function.name}: reserved concurrency is {reserved}, the stack asks for "
                f"{settings.reserved_concurrency}",
                function.urn,
            )
        alarms = _concurrency_alarms(graph, function)
        if not any(_close(number(a.props.get("threshold")), threshold) for a in alarms):
            found = [number(a.props.get("threshold")) for a in alarms]
            yield Finding(
                f"function {function.name}: no ConcurrentExecutions alarm at {threshold:g} "
                f"({settings.concurrency_alarm_share:.0%} of {settings.reserved_concurrency}); found {found}",
                function.urn,
            )


def _close(value: float | None, expected: float) -> bool:
    return value is not None and math.isclose(value, expected, rel_tol=1e-9)


def _concurrency_alarms(graph: StackGraph, function: LinkedResource) -> list[LinkedResource]:
    name = function.props.get("name")
    alarms = []
    for alarm in graph.of_type(T.METRIC_ALARM):
        if alarm.props.get("metricName") != "ConcurrentExecutions" or alarm.props.get("namespace") != "AWS/Lambda":
            continue
        named = mapping(alarm.props.get("dimensions")).get("FunctionName")
        if named == name or graph.depends_on(alarm, function):
            alarms.append(alarm)
    return alarms


@resource_rule("LAMBDA-TIMEOUT", "Each function sets its timeout explicitly, at most 29 s", T.FUNCTION)
def function_timeout(function: ResourceLike, _: StackContext) -> Iterator[str]:
    timeout = number(function.props.get("timeout"))
    if timeout is None or not 0 < timeout <= API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS:
        yield (
            f"function {function.name}: timeout {function.props.get('timeout')!r} is not an explicit value "
            f"<= {API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS} s"
        )


@resource_rule("LAMBDA-RUNTIME", "Each function runs a supported Python runtime (3.12+)", T.FUNCTION)
def function_runtime(function: ResourceLike, _: StackContext) -> Iterator[str]:
    runtime = str(function.props.get("runtime", ""))
    match = re.fullmatch(r"python3\.(\d+)", runtime)
    if match is None or int(match.group(1)) < MIN_PYTHON_MINOR:
        yield f"function {function.name}: runtime {runtime!r} is not python3.{MIN_PYTHON_MINOR} or newer"


@stack_rule("LAMBDA-LOGS", "Each function logs JSON to a log group the stack creates")
def function_logs(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    groups = graph.log_group_names()
    for function in graph.of_type(T.FUNCTION):
        logging = mapping(function.props.get("loggingConfig"))
        if logging.get("logFormat") != "JSON":
            yield Finding(
                f"function {function.name}: log format is {logging.get('logFormat')!r}, not JSON", function.urn
            )
        group = logging.get("logGroup") or f"/aws/lambda/{function.props.get('name', function.name)}"
        if group not in groups:
            yield Finding(
                f"function {function.name} logs to {group!r}, a group this stack does not create (Lambda would "
                "create it without retention)",
                function.urn,
            )


@stack_rule(
    "LAMBDA-PERMISSION",
    "Invoke permissions go only to apigateway.amazonaws.com, with a source ARN scoped to this stack's API",
)
def invoke_permission(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    api_ids = {stage_key(stage)[0] for stage in graph.of_type(T.STAGE)}
    for permission in graph.of_type(T.PERMISSION):
        props = permission.props
        if props.get("principal") != "apigateway.amazonaws.com":
            yield Finding(f"{permission.name}: principal {props.get('principal')!r} is not API Gateway", permission.urn)
            continue
        source = known_text(props, "sourceArn")
        if not _scoped_to(source, api_ids) or not graph.dependencies(permission, T.REST_API):
            yield Finding(
                f"{permission.name}: source ARN {source!r} is not scoped to this stack's REST API", permission.urn
            )
        if props.get("action") != "lambda:InvokeFunction":
            yield Finding(
                f"{permission.name} grants {props.get('action')!r}, not lambda:InvokeFunction", permission.urn
            )


def _scoped_to(source_arn: str | None, api_ids: set[str | None]) -> bool:
    """Whether an execute-api source ARN names one of ``api_ids``; at a first preview, where the ARN or an id is not
    known yet, only the permission's dependency on the stack's REST API can tell."""
    if source_arn is None or None in api_ids:
        return True
    match = re.fullmatch(r"arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:(?P<api>[^/*]+)/.+", source_arn)
    return match is not None and match.group("api") in api_ids


@resource_rule("LAMBDA-ENV-SECRETS", "No secrets in Lambda environment variables", T.FUNCTION)
def environment_secrets(function: ResourceLike, _: StackContext) -> Iterator[str]:
    variables = mapping(mapping(function.props.get("environment")).get("variables"))
    for name in variables:
        value = known_text(variables, name)  # a generated table's name is unknown at a first preview
        if SECRET_NAME.search(str(name)):
            yield f"function {function.name}: environment variable {name} is named like a secret"
        elif value is not None and SECRET_VALUE.search(value):
            yield f"function {function.name}: environment variable {name} holds what looks like a credential"


RULES = [
    function_tracing,
    function_vpc,
    concurrency,
    function_timeout,
    function_runtime,
    function_logs,
    invoke_permission,
    environment_secrets,
]
