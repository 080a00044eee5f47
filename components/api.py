"""Api: the Lambda function (code, Powertools layer, role, log group) and the REST API in front of it.

The API's shape is data before it is resources: ``api_definition`` turns the handler's published contract
(``handler.contract.ROUTES`` and ``handler.models.gateway_request_schemas()``) into one JSON-able document, the
resources are built from that document, and the Deployment's trigger is the hash of the same document. A route,
model, validator, integration or gateway response that changes therefore changes the hash and is redeployed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.data import dynamodb_via_service, handler_table_statements
from components.settings import PROJECT, ApiGatewaySettings, AppRateLimitSettings, LambdaSettings
from handler import config as handler_config
from handler.contract import ROUTES, Route
from handler.models import gateway_request_schemas

__all__ = [
    "ARCHITECTURE",
    "GATEWAY_RESPONSES",
    "HANDLER_ENTRY_POINT",
    "METRICS_NAMESPACE",
    "RUNTIME",
    "Api",
    "ApiArgs",
    "access_log_format",
    "api_definition",
    "assume_role_policy",
    "function_environment",
    "function_policy",
    "gateway_response_template",
    "handler_code_files",
    "pinned_powertools_version",
    "powertools_layer_parameter",
    "redeployment_hash",
    "resource_key",
    "service_name",
]

ROOT = Path(__file__).resolve().parent.parent
HANDLER_PACKAGE = ROOT / "handler"
HANDLER_ENTRY_POINT = "handler.app.lambda_handler"
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
METRICS_NAMESPACE = "TieredApi"
# Lambda's log-level filter and Powertools' own level agree, so neither silently drops the other's records.
FUNCTION_LOG_LEVEL = "INFO"
# Powertools reads this one itself; the handler's config module does not name it.
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

JSON_CONTENT_TYPE = "application/json"
VALIDATE_BODY_AND_PARAMETERS = "body-and-parameters"
VALIDATE_PARAMETERS = "parameters"
_VALIDATORS: dict[str, dict[str, bool]] = {
    VALIDATE_BODY_AND_PARAMETERS: {"validateRequestBody": True, "validateRequestParameters": True},
    VALIDATE_PARAMETERS: {"validateRequestBody": False, "validateRequestParameters": True},
}

# Response type -> status code as AWS documents it; the DEFAULT_* types keep the status of the actual error.
GATEWAY_RESPONSES: Mapping[str, str | None] = {
    "ACCESS_DENIED": "403",
    "INVALID_API_KEY": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403",
    "THROTTLED": "429",
    "QUOTA_EXCEEDED": "429",
    "BAD_REQUEST_BODY": "400",
    "BAD_REQUEST_PARAMETERS": "400",
    "DEFAULT_4XX": None,
    "DEFAULT_5XX": None,
}

# What Lambda checks a VPC function's role for, inline rather than AWSLambdaVPCAccessExecutionRole: that managed
# policy also lets the function create and write to every log group in the account. None supports resource scoping.
_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
# Without one, a REGIONAL API's own execute-api endpoint takes TLS_1_0 (TLS 1.0 and 1.1 too).
_TLS_POLICY = "TLS_1_2"
_PUSH_TO_CLOUDWATCH_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
_POWERTOOLS_REQUIREMENT = re.compile(r"^aws-lambda-powertools(?:\[[^\]]*\])?==(?P<version>[0-9][0-9A-Za-z.]*)\s*$")


@dataclass(frozen=True)
class ApiArgs:
    """What the Api needs: its settings, the network it runs in and the tables it uses."""

    lambda_settings: LambdaSettings
    api_gateway: ApiGatewaySettings
    app_rate_limit: AppRateLimitSettings
    log_retention_days: int
    subnet_ids: pulumi.Input[Sequence[str]]
    security_group_id: pulumi.Input[str]
    items_table_name: pulumi.Input[str]
    items_table_arn: pulumi.Input[str]
    items_year_index_arn: pulumi.Input[str]
    rate_limit_table_name: pulumi.Input[str]
    rate_limit_table_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str] | None
    service: str
    """The function's Powertools service (``service_name`` of the stack)."""
    tags: Mapping[str, str]


# --- pure renderers -------------------------------------------------------------------------------------------


def pinned_powertools_version(requirements: str) -> str:
    """The exact aws-lambda-powertools version pinned in a requirements file's text."""
    for line in requirements.splitlines():
        match = _POWERTOOLS_REQUIREMENT.match(line.strip())
        if match:
            return match.group("version")
    raise ValueError("requirements pin no exact aws-lambda-powertools version (aws-lambda-powertools==X.Y.Z)")


def powertools_layer_parameter(version: str) -> str:
    """AWS's public SSM parameter holding the official Powertools v3 layer ARN for this runtime and architecture."""
    return f"/aws/service/powertools/python/{ARCHITECTURE}/{RUNTIME}/{version}"


def handler_code_files(package: Path) -> dict[str, Path]:
    """The handler package's Python sources, archive path -> file, in a stable order (no bytecode caches)."""
    files = sorted(
        path
        for path in package.rglob("*.py")
        if "__pycache__" not in path.relative_to(package).parts and path.is_file()
    )
    return {path.relative_to(package.parent).as_posix(): path for path in files}


def service_name(stack: str) -> str:
    """The function's Powertools service in ``stack``: its logs' ``service`` key and its EMF metrics' dimension.

    One per stack, so that stacks sharing an account and region never mix their metrics (nor trip each other's alarms).
    """
    return f"{PROJECT}-{stack}"


def function_environment(
    rate_limit: AppRateLimitSettings,
    items_table_name: pulumi.Input[str],
    rate_limit_table_name: pulumi.Input[str],
    service: str,
) -> dict[str, pulumi.Input[str]]:
    """The handler's environment: table names and the app limiter from settings; never a secret."""
    return {
        handler_config.ENV_ITEMS_TABLE_NAME: items_table_name,
        handler_config.ENV_RATE_LIMIT_TABLE_NAME: rate_limit_table_name,
        handler_config.ENV_RATE_LIMIT_REQUESTS: str(rate_limit.requests),
        handler_config.ENV_RATE_LIMIT_WINDOW_SECONDS: str(rate_limit.window_seconds),
        handler_config.ENV_RATE_LIMIT_FAIL_OPEN: "true" if rate_limit.fail_open else "false",
        handler_config.ENV_POWERTOOLS_SERVICE_NAME: service,
        handler_config.ENV_POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ENV_POWERTOOLS_LOG_LEVEL: FUNCTION_LOG_LEVEL,
    }


def assume_role_policy(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def function_policy(
    items_table_arn: str,
    items_year_index_arn: str,
    rate_limit_table_arn: str,
    log_group_arn: str,
    kms_key_arn: str | None,
) -> dict[str, Any]:
    """The function's only policy: exactly its tables' actions, X-Ray, its VPC network interfaces, its own log group
    and the table key."""
    statements = [
        *handler_table_statements(items_table_arn, items_year_index_arn, rate_limit_table_arn),
        # X-Ray's write actions support no resource-level permissions: "*" is the only valid resource.
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        {"Effect": "Allow", "Action": _ENI_ACTIONS, "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:*"],
        },
    ]
    if kms_key_arn is not None:
        region = kms_key_arn.split(":")[3]
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
                # Only through DynamoDB: never a direct kms:Decrypt of other ciphertext under this key.
                "Condition": {"StringEquals": {"kms:ViaService": dynamodb_via_service(region)}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def access_log_format() -> dict[str, str]:
    """The stage's JSON access-log line (the local stack writes the same fields)."""
    return {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "user": "$context.identity.user",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "apiKeyId": "$context.identity.apiKeyId",
        "wafResponseCode": "$context.wafResponseCode",
        "integrationLatency": "$context.integrationLatency",
        "responseLatency": "$context.responseLatency",
    }


def gateway_response_template() -> str:
    """The JSON body of API Gateway's own errors, shaped like the handler's (``messageString`` comes quoted)."""
    return '{"message": $context.error.messageString, "request_id": "$context.requestId"}'


def resource_key(path: str) -> str:
    """A stable name part for an API path: '/' -> 'root', '/items/{id}' -> 'items-id'."""
    segments = [segment.strip("{}") for segment in path.split("/") if segment]
    return "-".join(segments).lower() or "root"


def _resource_paths(routes: Sequence[Route]) -> list[str]:
    paths: set[str] = set()
    for route in routes:
        segments = [segment for segment in route.path.split("/") if segment]
        paths.update("/" + "/".join(segments[:depth]) for depth in range(1, len(segments) + 1))
    return sorted(paths, key=lambda path: (path.count("/"), path))


def _request_parameters(route: Route) -> dict[str, bool]:
    parameters = {f"method.request.path.{name}": True for name in route.path_parameters}
    parameters.update({f"method.request.querystring.{q.name}": q.required for q in route.query_parameters})
    return parameters


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def api_definition(
    routes: Sequence[Route], schemas: Mapping[str, Mapping[str, Any]], function_name: str
) -> dict[str, Any]:
    """Everything that defines the REST API, as JSON-able data; the resources are built from it.

    A deployment snapshots its integrations' targets too, so the function they proxy to is part of it.
    """
    methods = []
    for route in routes:
        if route.request_model is not None and route.request_model not in schemas:
            raise ValueError(f"route {route.method} {route.path} names an unknown request model {route.request_model}")
        methods.append(
            {
                "key": f"{route.method.lower()}-{resource_key(route.path)}",
                "httpMethod": route.method,
                "path": route.path,
                "authorization": "NONE",
                "apiKeyRequired": True,
                "requestModel": route.request_model,
                "requestParameters": _request_parameters(route),
                "validator": VALIDATE_BODY_AND_PARAMETERS if route.request_model else VALIDATE_PARAMETERS,
                "integration": {"type": "AWS_PROXY", "integrationHttpMethod": "POST", "function": function_name},
            }
        )
    return {
        "endpointType": "REGIONAL",
        "apiKeySource": "HEADER",
        "resources": _resource_paths(routes),
        "methods": methods,
        "models": {name: dict(schema) for name, schema in sorted(schemas.items())},
        "validators": _VALIDATORS,
        "gatewayResponses": {
            kind: {"statusCode": status, "template": gateway_response_template()}
            for kind, status in GATEWAY_RESPONSES.items()
        },
    }


def redeployment_hash(definition: Mapping[str, Any]) -> str:
    """SHA-1 of the canonical JSON of an API definition: equal definitions, equal hashes."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()


# --- the component ---------------------------------------------------------------------------------------------


class Api(pulumi.ComponentResource):
    """Lambda in the VPC behind a REGIONAL REST API: API keys on every method, validated bodies, staged with logs."""

    rest_api_id: pulumi.Output[str]
    rest_api_name: pulumi.Output[str]
    stage: aws.apigateway.Stage
    stage_name: pulumi.Output[str]
    stage_arn: pulumi.Output[str]
    invoke_url: pulumi.Output[str]
    function_name: pulumi.Output[str]

    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tieredapi:api:Api", name, None, opts)
        tags = dict(args.tags)
        # Named up front so its log group exists, with retention, before Lambda would create one without.
        function_name = f"{name}-handler"
        function = self._build_function(name, function_name, args, tags)
        definition = api_definition(ROUTES, gateway_request_schemas(), function_name)
        rest_api = aws.apigateway.RestApi(
            f"{name}-rest-api",
            name=name,
            description=f"{PROJECT}: items API",
            api_key_source=definition["apiKeySource"],
            security_policy=_TLS_POLICY,
            endpoint_configuration={"types": definition["endpointType"]},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        api_parts = self._build_api(name, rest_api, function, definition)
        aws.lambda_.Permission(
            f"{name}-invoke-permission",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            # This stage's methods only, not any stage a console or a script adds to the API later.
            source_arn=rest_api.execution_arn.apply(lambda arn: f"{arn}/{args.api_gateway.stage_name}/*/*"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=rest_api.id,
            description=f"{PROJECT} API definition",
            triggers={"redeployment": redeployment_hash(definition)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=api_parts),
        )
        account = self._build_account(name, tags) if args.api_gateway.manage_account_role else None
        stage = self._build_stage(name, args, rest_api, deployment, account, tags)

        self.rest_api_id = rest_api.id
        self.rest_api_name = rest_api.name
        self.stage = stage
        self.stage_name = stage.stage_name
        self.stage_arn = stage.arn
        self.invoke_url = stage.invoke_url
        self.function_name = function.name
        self.register_outputs(
            {
                "rest_api_id": self.rest_api_id,
                "rest_api_name": self.rest_api_name,
                "stage_name": self.stage_name,
                "stage_arn": self.stage_arn,
                "invoke_url": self.invoke_url,
                "function_name": self.function_name,
            }
        )

    def _log_group(
        self, resource_name: str, group_name: pulumi.Input[str], args: ApiArgs, tags: dict[str, str]
    ) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            resource_name,
            name=group_name,
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _build_function(
        self, name: str, function_name: str, args: ApiArgs, tags: dict[str, str]
    ) -> aws.lambda_.Function:
        settings = args.lambda_settings
        log_group = self._log_group(f"{name}-function-logs", f"/aws/lambda/{function_name}", args, tags)
        role = aws.iam.Role(
            f"{name}-function-role",
            assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-function-policy",
            role=role.id,
            policy=pulumi.Output.all(
                args.items_table_arn,
                args.items_year_index_arn,
                args.rate_limit_table_arn,
                log_group.arn,
                args.kms_key_arn,
            ).apply(lambda arns: json.dumps(function_policy(*arns))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        layer = aws.ssm.get_parameter_output(
            name=powertools_layer_parameter(pinned_powertools_version((ROOT / "requirements.txt").read_text())),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        code = pulumi.AssetArchive(
            {archived: pulumi.FileAsset(str(path)) for archived, path in handler_code_files(HANDLER_PACKAGE).items()}
        )
        return aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            role=role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER_ENTRY_POINT,
            code=code,
            layers=[layer.value],
            memory_size=settings.memory_mb,
            timeout=settings.timeout_seconds,
            reserved_concurrent_executions=settings.reserved_concurrency,
            tracing_config={"mode": "Active"},
            logging_config={
                "log_format": "JSON",
                "log_group": log_group.name,
                "application_log_level": FUNCTION_LOG_LEVEL,
                "system_log_level": FUNCTION_LOG_LEVEL,
            },
            vpc_config={"subnet_ids": args.subnet_ids, "security_group_ids": [args.security_group_id]},
            environment={
                "variables": function_environment(
                    args.app_rate_limit, args.items_table_name, args.rate_limit_table_name, args.service
                )
            },
            tags=tags,
            # Lambda checks the role's ENI permissions when it creates a VPC function.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )

    def _build_api(
        self,
        name: str,
        rest_api: aws.apigateway.RestApi,
        function: aws.lambda_.Function,
        definition: Mapping[str, Any],
    ) -> list[pulumi.Resource]:
        """Resources, models, validators, methods, integrations and gateway responses: what a deployment holds."""
        child = pulumi.ResourceOptions(parent=self)
        built: list[pulumi.Resource] = []
        models: dict[str, aws.apigateway.Model] = {}
        for model_name, schema in definition["models"].items():
            models[model_name] = aws.apigateway.Model(
                f"{name}-model-{_kebab(model_name)}",
                rest_api=rest_api.id,
                name=model_name,
                content_type=JSON_CONTENT_TYPE,
                schema=json.dumps(schema, sort_keys=True),
                opts=child,
            )
        validators: dict[str, aws.apigateway.RequestValidator] = {}
        for key, flags in definition["validators"].items():
            validators[key] = aws.apigateway.RequestValidator(
                f"{name}-validator-{key}",
                rest_api=rest_api.id,
                name=key,
                validate_request_body=flags["validateRequestBody"],
                validate_request_parameters=flags["validateRequestParameters"],
                opts=child,
            )
        resource_ids: dict[str, pulumi.Output[str]] = {"/": rest_api.root_resource_id}
        for path in definition["resources"]:
            parent_path, _, part = path.rpartition("/")
            resource = aws.apigateway.Resource(
                f"{name}-res-{resource_key(path)}",
                rest_api=rest_api.id,
                parent_id=resource_ids[parent_path or "/"],
                path_part=part,
                opts=child,
            )
            resource_ids[path] = resource.id
            built.append(resource)
        for spec in definition["methods"]:
            model = spec["requestModel"]
            method = aws.apigateway.Method(
                f"{name}-method-{spec['key']}",
                rest_api=rest_api.id,
                resource_id=resource_ids[spec["path"]],
                http_method=spec["httpMethod"],
                authorization=spec["authorization"],
                api_key_required=spec["apiKeyRequired"],
                request_parameters=spec["requestParameters"] or None,
                request_validator_id=validators[spec["validator"]].id,
                request_models={JSON_CONTENT_TYPE: models[model].name} if model else None,
                opts=child,
            )
            integration = aws.apigateway.Integration(
                f"{name}-integration-{spec['key']}",
                rest_api=rest_api.id,
                resource_id=method.resource_id,
                http_method=method.http_method,
                type=spec["integration"]["type"],
                integration_http_method=spec["integration"]["integrationHttpMethod"],
                uri=function.invoke_arn,
                opts=child,
            )
            built += [method, integration]
        for kind, response in definition["gatewayResponses"].items():
            built.append(
                aws.apigateway.Response(
                    f"{name}-response-{kind.lower().replace('_', '-')}",
                    rest_api_id=rest_api.id,
                    response_type=kind,
                    status_code=response["statusCode"],
                    response_templates={JSON_CONTENT_TYPE: response["template"]},
                    opts=child,
                )
            )
        return [*models.values(), *validators.values(), *built]

    def _build_account(self, name: str, tags: dict[str, str]) -> aws.apigateway.Account:
        """API Gateway's region-wide CloudWatch role: execution logging is refused without it."""
        role = aws.iam.Role(
            f"{name}-cloudwatch-role",
            assume_role_policy=json.dumps(assume_role_policy("apigateway.amazonaws.com")),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cloudwatch-push",
            role=role.name,
            policy_arn=_PUSH_TO_CLOUDWATCH_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.apigateway.Account(
            f"{name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )

    def _build_stage(
        self,
        name: str,
        args: ApiArgs,
        rest_api: aws.apigateway.RestApi,
        deployment: aws.apigateway.Deployment,
        account: aws.apigateway.Account | None,
        tags: dict[str, str],
    ) -> aws.apigateway.Stage:
        gateway = args.api_gateway
        access_logs = self._log_group(
            f"{name}-access-logs", f"/aws/apigateway/{name}/{gateway.stage_name}/access", args, tags
        )
        # API Gateway would create this group on first use, without retention: create it first, with retention.
        execution_logs = self._log_group(
            f"{name}-execution-logs",
            rest_api.id.apply(lambda api_id: f"API-Gateway-Execution-Logs_{api_id}/{gateway.stage_name}"),
            args,
            tags,
        )
        needs_account = [account] if account is not None else []
        stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=rest_api.id,
            deployment=deployment.id,
            stage_name=gateway.stage_name,
            xray_tracing_enabled=True,
            access_log_settings={
                "destination_arn": access_logs.arn,
                "format": json.dumps(access_log_format()),
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*needs_account, execution_logs]),
        )
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=rest_api.id,
            stage_name=stage.stage_name,
            # Every method's default: API Gateway gives each method (HTTP method + resource) a bucket of this rate and
            # burst of its own, not one bucket for the stage.
            method_path="*/*",
            settings={
                "metrics_enabled": True,
                "logging_level": gateway.logging_level.value,
                "data_trace_enabled": False,
                "throttling_rate_limit": gateway.throttle.rate_limit,
                "throttling_burst_limit": gateway.throttle.burst_limit,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=needs_account),
        )
        return stage
