"""API Gateway rows of the security checklist."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from components.settings import LoggingLevel, QuotaPeriod
from handler.contract import ROUTES
from handler.models import gateway_request_schemas
from policy.context import StackContext
from policy.graph import (
    Finding,
    LinkedResource,
    ResourceLike,
    StackGraph,
    T,
    as_list,
    flag,
    json_document,
    known_text,
    mapping,
    number,
    plain,
    policy_statements,
    same_stage,
    stage_key,
)
from policy.rules._base import resource_rule, stack_rule

__all__ = ["RULES"]

# What a reviewer needs from every access-log line, as API Gateway's $context variables.
ACCESS_LOG_VARIABLES = {
    "request id": "$context.requestId",
    "status": "$context.status",
    "source IP": "$context.identity.sourceIp",
    "API key id": "$context.identity.apiKeyId",
}
EXECUTION_LOG_LEVELS = tuple(LoggingLevel)
REAL_AUTHORIZATION = ("AWS_IAM", "COGNITO_USER_POOLS", "CUSTOM")
BODY_METHODS = ("PATCH", "POST", "PUT")
JSON_CONTENT_TYPE = "application/json"
QUOTA_PERIODS = tuple(QuotaPeriod)
# Everything a Deployment snapshots: a change to any of these must produce a new deployment.
API_DEFINITION_TYPES = (T.API_RESOURCE, T.METHOD, T.INTEGRATION, T.MODEL, T.REQUEST_VALIDATOR, T.GATEWAY_RESPONSE)


@stack_rule(
    "APIGW-ACCESSLOG",
    "Every API Gateway stage writes JSON access logs (requestId, status, sourceIp, API key id) to a stack log group",
)
def access_logs(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    for stage in graph.of_type(T.STAGE):
        settings = mapping(stage.props.get("accessLogSettings"))
        destination = known_text(settings, "destinationArn")
        if destination == "":
            yield Finding(f"stage {stage.name} has no access log destination", stage.urn)
            continue
        # Unknown before its log group exists (a first preview): the format can still be checked.
        if destination is not None and graph.log_group_for_arn(destination, stage) is None:
            yield Finding(f"stage {stage.name} logs to {destination}, not a log group this stack creates", stage.urn)
        fields = json_document(settings.get("format"))
        if not isinstance(fields, Mapping):
            yield Finding(f"stage {stage.name}: the access log format is not a JSON object", stage.urn)
            continue
        logged = {str(value) for value in fields.values()}
        missing = [what for what, variable in ACCESS_LOG_VARIABLES.items() if variable not in logged]
        if missing:
            yield Finding(f"stage {stage.name}: the access log format lacks {', '.join(missing)}", stage.urn)


@resource_rule("APIGW-XRAY", "Every API Gateway stage has X-Ray tracing enabled", T.STAGE)
def stage_tracing(stage: ResourceLike, _: StackContext) -> Iterator[str]:
    if not flag(stage.props.get("xrayTracingEnabled")):
        yield f"stage {stage.name}: xrayTracingEnabled is not true"


@stack_rule(
    "APIGW-METHODSETTINGS",
    "Every stage has */* method settings; each of its method settings: metrics on, ERROR or INFO logging, no data "
    "trace, throttle > 0",
)
def method_settings(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    for stage in graph.of_type(T.STAGE):
        stage_name = stage.props.get("stageName")
        own = [s for s in graph.of_type(T.METHOD_SETTINGS) if same_stage(stage_key(s), stage_key(stage))]
        if not any(s.props.get("methodPath") == "*/*" for s in own):
            yield Finding(f"stage {stage.name} ({stage_name}) has no '*/*' MethodSettings", stage.urn)
            continue
        # A method's own settings override the */* ones for that method: they must meet the same bar.
        for found in own:
            yield from _method_settings_problems(found)


def _method_settings_problems(resource: LinkedResource) -> Iterator[Finding]:
    settings = mapping(resource.props.get("settings"))
    problems = []
    if not flag(settings.get("metricsEnabled")):
        problems.append("metricsEnabled is not true")
    if settings.get("loggingLevel") not in EXECUTION_LOG_LEVELS:
        problems.append(f"loggingLevel is {settings.get('loggingLevel')!r}, not ERROR or INFO")
    if flag(settings.get("dataTraceEnabled")):
        problems.append("dataTraceEnabled logs full requests and responses")
    for key in ("throttlingRateLimit", "throttlingBurstLimit"):
        if not _positive(settings.get(key)):
            problems.append(f"{key} is {settings.get(key)!r}, not > 0")
    for problem in problems:
        yield Finding(f"method settings {resource.name}: {problem}", resource.urn)


def _positive(value: Any) -> bool:
    """Whether a throttle or quota limit is a number above zero (absent and unreadable values are not)."""
    amount = number(value)
    return amount is not None and amount > 0


@stack_rule(
    "APIGW-ACCOUNT",
    "The region's API Gateway account has a CloudWatch role before stages log, unless the stack opts out",
)
def account_role(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    accounts = graph.of_type(T.ACCOUNT)
    if not context.settings.api_gateway.manage_account_role:
        for account in accounts:
            yield Finding(
                f"{account.name}: apiGateway.manageAccountRole is false (another stack owns the region's "
                "API Gateway account), yet this stack sets it",
                account.urn,
            )
        return
    if not accounts:
        yield Finding("no aws.apigateway.Account sets the CloudWatch role execution logging needs")
        return
    for account in accounts:
        if known_text(account.props, "cloudwatchRoleArn") == "":  # the role's ARN is unknown until it exists
            yield Finding(f"{account.name} has no cloudwatchRoleArn", account.urn)
        roles = graph.dependencies(account, T.ROLE)
        if roles and not any(_trusts(role, "apigateway.amazonaws.com") for role in roles):
            yield Finding(f"{account.name}: its role is not assumable by apigateway.amazonaws.com", account.urn)
    for stage in graph.of_type(T.STAGE):
        if not any(graph.depends_on(stage, account) for account in accounts):
            yield Finding(
                f"stage {stage.name} does not wait for the account's CloudWatch role: its logging can fail",
                stage.urn,
            )


def _trusts(role: LinkedResource, service: str) -> bool:
    for statement in policy_statements(role.props.get("assumeRolePolicy")):
        if statement.get("Effect") != "Allow":
            continue
        principal = mapping(statement.get("Principal"))
        if service in [str(s) for s in as_list(principal.get("Service"))]:
            return True
    return False


@resource_rule(
    "APIGW-AUTH",
    "Every non-OPTIONS method requires an API key (or a real authorizer); keys are read from the header",
    T.METHOD,
    T.REST_API,
)
def method_auth(resource: ResourceLike, _: StackContext) -> Iterator[str]:
    props = resource.props
    if resource.resource_type == T.REST_API:
        source = props.get("apiKeySource")
        if source not in (None, "HEADER"):
            yield f"REST API {resource.name}: apiKeySource is {source!r}; there is no authorizer supplying keys"
        return
    if str(props.get("httpMethod", "")).upper() == "OPTIONS":
        return
    authorization = props.get("authorization")
    if flag(props.get("apiKeyRequired")):
        return
    if authorization in REAL_AUTHORIZATION and (authorization == "AWS_IAM" or props.get("authorizerId")):
        return
    yield (
        f"method {resource.name} ({props.get('httpMethod')}) requires neither an API key nor an authorizer "
        f"(apiKeyRequired={props.get('apiKeyRequired')!r}, authorization={authorization!r})"
    )


@stack_rule(
    "APIGW-VALIDATOR",
    "Request bodies and parameters are validated by a RequestValidator and a model from the handler's schema",
)
def request_validation(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    schemas = gateway_request_schemas()
    route_models: dict[tuple[str, str | None], str | None] = {(r.method, r.path): r.request_model for r in ROUTES}
    models = {str(m.props.get("name")): m for m in graph.of_type(T.MODEL)}
    for method in graph.of_type(T.METHOD):
        verb = str(method.props.get("httpMethod", "")).upper()
        if verb == "OPTIONS":
            continue
        validators = graph.dependencies(method, T.REQUEST_VALIDATOR)
        needs_body = verb in BODY_METHODS
        needs_parameters = any(flag(required) for required in mapping(method.props.get("requestParameters")).values())
        no_validator_id = known_text(method.props, "requestValidatorId") == ""  # unknown until the validator exists
        if (needs_body or needs_parameters) and (no_validator_id or not validators):
            yield Finding(f"method {method.name} ({verb}) has no request validator", method.urn)
            continue
        if needs_parameters and not any(flag(v.props.get("validateRequestParameters")) for v in validators):
            yield Finding(f"method {method.name}: its validator does not validate the required parameters", method.urn)
        if not needs_body:
            continue
        if not any(flag(v.props.get("validateRequestBody")) for v in validators):
            yield Finding(f"method {method.name}: its validator does not validate the body", method.urn)
        model_name = mapping(method.props.get("requestModels")).get(JSON_CONTENT_TYPE)
        model = models.get(str(model_name)) if model_name else None
        if model is None:
            yield Finding(f"method {method.name} ({verb}) has no {JSON_CONTENT_TYPE} request model", method.urn)
            continue
        expected_name = route_models.get((verb, _method_path(graph, method)))
        expected = schemas.get(expected_name) if expected_name else None
        schema = json_document(model.props.get("schema"))
        if expected is not None and _canonical(schema) != _canonical(expected):
            yield Finding(
                f"model {model.name} of method {method.name} is not the handler's {expected_name} schema",
                model.urn,
            )
        elif expected is None and _canonical(schema) not in {_canonical(s) for s in schemas.values()}:
            yield Finding(f"model {model.name} is not generated from any of the handler's schemas", model.urn)


def _canonical(document: Any) -> str:
    return json.dumps(plain(document), sort_keys=True)


def _method_path(graph: StackGraph, method: LinkedResource) -> str | None:
    """The API path of a method, rebuilt from the Resource chain it depends on; '/' for the root."""
    resources = graph.dependencies(method, T.API_RESOURCE)
    if not resources:
        return "/"
    parts: list[str] = []
    current: LinkedResource | None = resources[0]
    seen: set[str] = set()
    while current is not None and current.urn not in seen:
        seen.add(current.urn)
        parts.append(str(current.props.get("pathPart", "")))
        parents = graph.dependencies(current, T.API_RESOURCE)
        current = parents[0] if parents else None
    return "/" + "/".join(reversed(parts))


@resource_rule("APIGW-REGIONAL", "The REST API has a REGIONAL endpoint", T.REST_API)
def regional_endpoint(api: ResourceLike, _: StackContext) -> Iterator[str]:
    types = as_list(mapping(api.props.get("endpointConfiguration")).get("types"))
    if types != ["REGIONAL"]:
        yield f"REST API {api.name}: endpoint types are {types or 'unset (EDGE)'}, not REGIONAL"


@stack_rule(
    "APIGW-USAGEPLANS", "Every usage plan is bound to the stage with a throttle and a quota; every key is in a plan"
)
def usage_plans(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    stages = graph.of_type(T.STAGE)
    for plan in graph.of_type(T.USAGE_PLAN):
        yield from _plan_problems(graph, plan, stages)
    plan_keys = graph.of_type(T.USAGE_PLAN_KEY)
    for key in graph.of_type(T.API_KEY):
        if not any(_binds(graph, binding, key) for binding in plan_keys):
            yield Finding(f"API key {key.name} is not bound to any usage plan", key.urn)


# A resource rule, not part of the stack rule above: a stack policy sees a deployed key's outputs, where the value
# AWS generated always stands; only the inputs tell whether the program wrote one.
@resource_rule(
    "APIGW-USAGEPLANS", "No API key value is written in the program: AWS generates it", T.API_KEY, part="KEY-VALUE"
)
def api_key_value(key: ResourceLike, _: StackContext) -> Iterator[str]:
    if key.props.get("value"):
        yield f"API key {key.name} has a literal value: let AWS generate it"


def _binds(graph: StackGraph, binding: LinkedResource, key: LinkedResource) -> bool:
    """Whether a UsagePlanKey puts ``key`` into one of the stack's usage plans."""
    keys = {k.urn for k in graph.dependencies(binding, T.API_KEY)}
    plans = graph.dependencies(binding, T.USAGE_PLAN)
    return key.urn in keys and bool(plans) and binding.props.get("keyType", "API_KEY") == "API_KEY"


def _plan_problems(graph: StackGraph, plan: LinkedResource, stages: list[LinkedResource]) -> Iterator[Finding]:
    bound = [s for s in as_list(plan.props.get("apiStages")) if isinstance(s, Mapping)]
    if not bound:
        yield Finding(f"usage plan {plan.name} is bound to no stage", plan.urn)
    for binding in bound:
        named = (known_text(binding, "apiId"), str(binding.get("stage", "")))
        target = [s for s in stages if same_stage(stage_key(s), named)]
        if not target:
            yield Finding(
                f"usage plan {plan.name} names stage {binding.get('stage')!r}, not one of this stack's", plan.urn
            )
        elif not any(graph.depends_on(plan, s) for s in target):
            yield Finding(f"usage plan {plan.name} does not wait for stage {binding.get('stage')!r} to exist", plan.urn)
    throttle = mapping(plan.props.get("throttleSettings"))
    for key in ("rateLimit", "burstLimit"):
        if not _positive(throttle.get(key)):
            yield Finding(f"usage plan {plan.name}: throttleSettings.{key} is {throttle.get(key)!r}, not > 0", plan.urn)
    quota = mapping(plan.props.get("quotaSettings"))
    if not _positive(quota.get("limit")) or quota.get("period") not in QUOTA_PERIODS:
        yield Finding(f"usage plan {plan.name} has no quota (limit > 0 per DAY, WEEK or MONTH)", plan.urn)


@stack_rule(
    "APIGW-REDEPLOY",
    "Each Deployment has triggers and waits for every resource, method, integration, model, validator, response",
)
def redeployment(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    deployments = graph.of_type(T.DEPLOYMENT)
    definition = graph.of_type(*API_DEFINITION_TYPES)
    if definition and not deployments:
        yield Finding("the REST API has resources but no Deployment")
    for deployment in deployments:
        triggers = mapping(deployment.props.get("triggers"))
        if not triggers or not all(str(v) for v in triggers.values()):
            yield Finding(
                f"deployment {deployment.name} has no triggers: API changes would not be redeployed", deployment.urn
            )
        missing = sorted(part.name for part in definition if not graph.depends_on(deployment, part))
        if missing:
            yield Finding(
                f"deployment {deployment.name} does not wait for {', '.join(missing)}: it can snapshot an "
                "incomplete API",
                deployment.urn,
            )


RULES = [
    access_logs,
    stage_tracing,
    method_settings,
    account_role,
    method_auth,
    request_validation,
    regional_endpoint,
    usage_plans,
    api_key_value,
    redeployment,
]
