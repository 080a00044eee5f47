"""Api under mocks, from the real stack settings: the function, its role, the REST API, stage and deployment."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.api import (
    GATEWAY_RESPONSES,
    METRICS_NAMESPACE,
    Api,
    ApiArgs,
    access_log_format,
    api_definition,
    function_environment,
    function_policy,
    gateway_response_template,
    handler_code_files,
    pinned_powertools_version,
    powertools_layer_parameter,
    redeployment_hash,
    service_name,
)
from components.settings import StackSettings
from handler import config as handler_config
from handler.contract import ROUTES, QueryParameter
from handler.models import gateway_request_schemas
from tools.mocks import (
    ACCOUNT_ID,
    ROOT,
    ProgramRun,
    RecordedResource,
    TieredApiMocks,
    run_components,
    stack_settings,
)

REGION = "us-east-1"
ITEMS_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/items"
INDEX_ARN = f"{ITEMS_ARN}/index/year-index"
RATE_LIMIT_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/rate-limit"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/table-key"
SUBNETS = ["subnet-a", "subnet-b"]

FUNCTION = "aws:lambda/function:Function"
METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"
STAGE = "aws:apigateway/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ACCOUNT = "aws:apigateway/account:Account"


def _run_api(settings: StackSettings) -> ProgramRun:
    def build(s: StackSettings) -> None:
        Api(
            "test-api",
            ApiArgs(
                lambda_settings=s.lambda_,
                api_gateway=s.api_gateway,
                app_rate_limit=s.app_rate_limit,
                log_retention_days=s.log_retention_days,
                subnet_ids=SUBNETS,
                security_group_id="sg-lambda",
                items_table_name="items",
                items_table_arn=ITEMS_ARN,
                items_year_index_arn=INDEX_ARN,
                rate_limit_table_name="rate-limit",
                rate_limit_table_arn=RATE_LIMIT_ARN,
                kms_key_arn=KEY_ARN if s.data.customer_managed_key else None,
                service=service_name(s.stack),
                tags=s.tags,
            ),
        )

    return run_components(settings, build)


@pytest.fixture(scope="module")
def api_runs() -> dict[str, ProgramRun]:
    return {stack: _run_api(stack_settings(stack)) for stack in ("dev", "prod")}


@pytest.fixture(params=["dev", "prod"])
def api_run(request: pytest.FixtureRequest, api_runs: dict[str, ProgramRun]) -> ProgramRun:
    return api_runs[request.param]


def _log_group(run: ProgramRun, name: str) -> RecordedResource:
    return next(r for r in run.of_type(LOG_GROUP) if r.inputs.get("name") == name)


def _policy(run: ProgramRun, resource_name: str) -> dict[str, Any]:
    return json.loads(run.named(resource_name).inputs["policy"])


def _method(run: ProgramRun, http_method: str, path: str) -> RecordedResource:
    resource_id = _resource_id(run, path)
    return next(
        m
        for m in run.of_type(METHOD)
        if m.inputs["httpMethod"] == http_method and m.inputs["resourceId"] == resource_id
    )


def _resource_id(run: ProgramRun, path: str) -> str:
    """The recorded id of the API resource at ``path``, walking the tree from the root."""
    rest_api = run.one("aws:apigateway/restApi:RestApi")
    current = f"{rest_api.name}-root"  # the mocks' rootResourceId
    for part in [p for p in path.split("/") if p]:
        child = next(
            r
            for r in run.of_type("aws:apigateway/resource:Resource")
            if r.inputs["parentId"] == current and r.inputs["pathPart"] == part
        )
        current = f"{child.name}-id"  # the mocks' resource ids
    return current


# --- packaging and the Powertools layer --------------------------------------------------------------------------


def test_powertools_version_is_the_exact_pin_of_the_requirements() -> None:
    requirements = "boto3==1.44.5\naws-lambda-powertools[tracer]==3.37.0  \npydantic==2.14.3\n"

    assert pinned_powertools_version(requirements) == "3.37.0"


def test_requirements_without_an_exact_powertools_pin_are_refused() -> None:
    with pytest.raises(ValueError, match=r"aws-lambda-powertools==X\.Y\.Z"):
        pinned_powertools_version("aws-lambda-powertools>=3\n")


def test_layer_parameter_is_awss_public_powertools_parameter_for_the_runtime() -> None:
    assert powertools_layer_parameter("3.37.0") == "/aws/service/powertools/python/arm64/python3.13/3.37.0"


def test_the_functions_requirements_are_pinned_as_the_program_and_tests_pin_them(
    requirement_pins: Callable[[str], dict[str, str]],
) -> None:
    # handler/requirements.txt says what the function needs beyond the runtime; the tests run it on the root pins.
    function = requirement_pins("handler/requirements.txt")
    root = requirement_pins("requirements.txt")

    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic"} <= function.keys()
    assert {name: root.get(name) for name in function} == function


def test_function_uses_the_layer_published_for_the_pinned_powertools(api_run: ProgramRun) -> None:
    version = pinned_powertools_version((ROOT / "requirements.txt").read_text())
    parameter = powertools_layer_parameter(version)
    published, _ = TieredApiMocks(REGION).call(
        pulumi.runtime.MockCallArgs("aws:ssm/getParameter:getParameter", {"name": parameter}, "")
    )

    function = api_run.one(FUNCTION).inputs
    assert version == "3.37.0"
    assert function["layers"] == [published["value"]]
    # The layer built for the function's own runtime and architecture (its name says which).
    (architecture,) = function["architectures"]
    assert published["value"].split(":")[-2].endswith(f"-{function['runtime'].replace('.', '')}-{architecture}")


def test_code_files_are_the_packages_python_sources_in_a_stable_order(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    for relative in ("z.py", "a.py", "sub/b.py", "__pycache__/a.cpython-313.py", "notes.txt"):
        (package / relative).write_text("")

    files = handler_code_files(package)

    assert list(files) == ["pkg/a.py", "pkg/sub/b.py", "pkg/z.py"]
    assert files["pkg/sub/b.py"] == package / "sub" / "b.py"


def test_function_code_is_the_handler_package_with_its_entry_point(api_run: ProgramRun) -> None:
    function = api_run.one(FUNCTION)
    archive = function.inputs["code"]

    assert isinstance(archive, pulumi.AssetArchive)
    assert sorted(archive.assets) == sorted(handler_code_files(ROOT / "handler"))
    assert "handler/app.py" in archive.assets
    assert function.inputs["handler"] == "handler.app.lambda_handler"


# --- the function --------------------------------------------------------------------------------------------------


def test_function_runs_python_3_13_on_arm64_with_active_tracing(api_run: ProgramRun) -> None:
    function = api_run.one(FUNCTION)

    assert function.inputs["runtime"] == "python3.13"
    assert function.inputs["architectures"] == ["arm64"]
    assert function.get("tracingConfig", "mode") == "Active"


def test_function_memory_timeout_and_reserved_concurrency_come_from_the_stack(api_run: ProgramRun) -> None:
    function, expected = api_run.one(FUNCTION), api_run.settings.lambda_

    assert function.inputs["memorySize"] == expected.memory_mb
    assert function.inputs["timeout"] == expected.timeout_seconds
    assert function.inputs["reservedConcurrentExecutions"] == expected.reserved_concurrency


def test_function_without_reserved_concurrency_stays_on_the_unreserved_pool() -> None:
    settings = stack_settings("dev")
    settings = settings.model_copy(
        update={"lambda_": settings.lambda_.model_copy(update={"reserved_concurrency": None})}
    )

    function = _run_api(settings).one(FUNCTION)

    assert "reservedConcurrentExecutions" not in function.inputs


def test_function_logs_json_to_its_own_log_group_kept_for_the_configured_days(api_run: ProgramRun) -> None:
    function = api_run.one(FUNCTION)
    group = _log_group(api_run, f"/aws/lambda/{function.inputs['name']}")

    assert function.get("loggingConfig", "logFormat") == "JSON"
    assert function.get("loggingConfig", "logGroup") == group.inputs["name"]
    assert group.inputs["retentionInDays"] == api_run.settings.log_retention_days
    assert api_run.depends_on(function, group)


def test_function_logs_at_one_level_in_powertools_lambdas_filter_and_the_platforms_records(
    api_run: ProgramRun,
) -> None:
    function = api_run.one(FUNCTION)
    powertools_level = function.get("environment", "variables", "POWERTOOLS_LOG_LEVEL")

    assert powertools_level
    # A stricter filter than Powertools' level would silently drop the records it writes.
    assert function.get("loggingConfig", "applicationLogLevel") == powertools_level
    assert function.get("loggingConfig", "systemLogLevel") == powertools_level


def test_function_runs_in_the_private_subnets_with_its_security_group(api_run: ProgramRun) -> None:
    vpc = api_run.one(FUNCTION).inputs["vpcConfig"]

    assert vpc == {"subnetIds": SUBNETS, "securityGroupIds": ["sg-lambda"]}


def test_function_environment_is_accepted_by_the_handlers_own_configuration(api_run: ProgramRun) -> None:
    variables = api_run.one(FUNCTION).get("environment", "variables")
    rate_limit = api_run.settings.app_rate_limit

    loaded = handler_config.load_settings(variables)

    assert (loaded.items_table_name, loaded.rate_limit_table_name) == ("items", "rate-limit")
    assert loaded.rate_limit_requests == rate_limit.requests
    assert loaded.rate_limit_window_seconds == rate_limit.window_seconds
    assert loaded.rate_limit_fail_open is rate_limit.fail_open


def test_function_publishes_its_metrics_under_the_namespace_the_alarms_read(api_run: ProgramRun) -> None:
    variables = api_run.one(FUNCTION).get("environment", "variables")

    # components.observability builds every alarm and widget on METRICS_NAMESPACE.
    assert variables[handler_config.ENV_POWERTOOLS_METRICS_NAMESPACE] == METRICS_NAMESPACE


def test_function_environment_holds_only_the_handlers_variables_and_the_log_level() -> None:
    environment = function_environment(stack_settings("prod").app_rate_limit, "items", "rate-limit", "svc")

    assert set(environment) == {*handler_config.REQUIRED_VARIABLES, "POWERTOOLS_LOG_LEVEL"}
    assert environment[handler_config.ENV_RATE_LIMIT_FAIL_OPEN] == "true"
    assert environment[handler_config.ENV_POWERTOOLS_SERVICE_NAME] == "svc"


def test_function_waits_for_its_role_permissions(api_run: ProgramRun) -> None:
    function = api_run.one(FUNCTION)

    # Its network-interface permissions among them, which Lambda checks when it creates a VPC function.
    assert api_run.depends_on(function, api_run.named("test-api-function-policy"))


# --- the function's role -------------------------------------------------------------------------------------------


def test_function_role_is_assumed_by_lambda_only(api_run: ProgramRun) -> None:
    trust = json.loads(api_run.named("test-api-function-role").inputs["assumeRolePolicy"])

    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_function_role_attaches_no_managed_policy(api_run: ProgramRun) -> None:
    # AWSLambdaVPCAccessExecutionRole would let the function create and write to every log group in the account.
    role = api_run.named("test-api-function-role")
    attached = [
        r for r in api_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r.inputs["role"] == role.name
    ]

    assert attached == []


def test_function_policy_grants_the_table_actions_xray_and_its_own_log_group_only() -> None:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/fn"

    statements = function_policy(ITEMS_ARN, INDEX_ARN, RATE_LIMIT_ARN, group, None)["Statement"]

    by_action = {action: s["Resource"] for s in statements for action in s["Action"]}
    assert by_action["dynamodb:Query"] == [INDEX_ARN]
    assert by_action["xray:PutTraceSegments"] == "*"
    assert by_action["ec2:CreateNetworkInterface"] == "*"  # what Lambda checks before it creates a VPC function
    assert by_action["logs:PutLogEvents"] == [group, f"{group}:*"]
    assert not any(action.startswith("kms:") for action in by_action)
    assert all("*" not in action for action in by_action)


def test_function_policy_allows_the_table_key_only_when_there_is_one_and_only_through_dynamodb() -> None:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/fn"

    statements = function_policy(ITEMS_ARN, INDEX_ARN, RATE_LIMIT_ARN, group, KEY_ARN)["Statement"]

    kms = [s for s in statements if any(a.startswith("kms:") for a in s["Action"])]
    assert kms == [
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": KEY_ARN,
            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}},
        }
    ]


def test_recorded_function_policy_scopes_star_resources_to_xray_and_the_vpc_network_interfaces(
    api_run: ProgramRun,
) -> None:
    statements = _policy(api_run, "test-api-function-policy")["Statement"]

    star = {action for s in statements if s["Resource"] == "*" for action in s["Action"]}
    dynamodb_resources = {r for s in statements if s["Action"][0].startswith("dynamodb:") for r in s["Resource"]}
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert xray <= star
    # Beside X-Ray, only what Lambda needs to manage a VPC function's network interfaces.
    interfaces = star - xray
    assert {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"} <= interfaces
    assert all(
        a == "ec2:DescribeSubnets" or a.endswith(("NetworkInterface", "NetworkInterfaces", "PrivateIpAddresses"))
        for a in interfaces
    )
    assert dynamodb_resources == {ITEMS_ARN, INDEX_ARN, RATE_LIMIT_ARN}


def test_function_policy_grants_every_network_interface_action_lambda_requires_for_a_vpc_function() -> None:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/fn"
    # The execution-role permissions Lambda's "Giving Lambda functions access to a VPC" page lists as required.
    interfaces = {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"}
    subnets_and_addresses = {"ec2:DescribeSubnets", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}

    statements = function_policy(ITEMS_ARN, INDEX_ARN, RATE_LIMIT_ARN, group, None)["Statement"]

    assert {a for s in statements if s["Resource"] == "*" for a in s["Action"] if a.startswith("ec2:")} == (
        interfaces | subnets_and_addresses
    )


def test_recorded_function_policy_includes_the_key_exactly_in_stacks_with_one(api_run: ProgramRun) -> None:
    resources = [s["Resource"] for s in _policy(api_run, "test-api-function-policy")["Statement"]]

    assert (KEY_ARN in resources) is api_run.settings.data.customer_managed_key


# --- the REST API ------------------------------------------------------------------------------------------------


def test_rest_api_is_regional_and_reads_keys_from_the_header(api_run: ProgramRun) -> None:
    rest_api = api_run.one("aws:apigateway/restApi:RestApi")

    assert rest_api.get("endpointConfiguration", "types") == "REGIONAL"
    assert rest_api.inputs["apiKeySource"] == "HEADER"


def test_rest_api_refuses_tls_below_1_2(api_run: ProgramRun) -> None:
    # Without a policy, a regional API's own execute-api endpoint also accepts TLS 1.0 and 1.1.
    assert api_run.one("aws:apigateway/restApi:RestApi").inputs["securityPolicy"] == "TLS_1_2"


def test_every_route_of_the_contract_is_a_method(api_run: ProgramRun) -> None:
    for route in ROUTES:
        assert _method(api_run, route.method, route.path)
    assert len(api_run.of_type(METHOD)) == len(ROUTES)


def test_every_method_requires_an_api_key(api_run: ProgramRun) -> None:
    methods = api_run.of_type(METHOD)

    assert methods
    assert all(m.inputs["apiKeyRequired"] is True and m.inputs["authorization"] == "NONE" for m in methods)


def test_methods_with_a_body_validate_it_against_the_model_generated_from_the_handler(api_run: ProgramRun) -> None:
    schemas = gateway_request_schemas()
    assert any(route.request_model for route in ROUTES)
    for route in ROUTES:
        if route.request_model is None:
            continue
        method = _method(api_run, route.method, route.path)
        model = next(
            m for m in api_run.of_type("aws:apigateway/model:Model") if m.inputs["name"] == route.request_model
        )
        validator = next(
            v
            for v in api_run.of_type("aws:apigateway/requestValidator:RequestValidator")
            if f"{v.name}-id" == method.inputs["requestValidatorId"]
        )

        assert method.inputs["requestModels"] == {"application/json": route.request_model}
        assert json.loads(model.inputs["schema"]) == schemas[route.request_model]
        assert validator.inputs["validateRequestBody"] is True
        assert validator.inputs["validateRequestParameters"] is True


def test_methods_without_a_body_still_validate_their_parameters(api_run: ProgramRun) -> None:
    validators = {f"{v.name}-id": v.inputs for v in api_run.of_type("aws:apigateway/requestValidator:RequestValidator")}
    for route in (r for r in ROUTES if not r.request_model):
        method = _method(api_run, route.method, route.path)

        assert "requestModels" not in method.inputs
        assert validators[method.inputs["requestValidatorId"]]["validateRequestParameters"] is True


def test_methods_declare_their_path_and_query_parameters(api_run: ProgramRun) -> None:
    listing = _method(api_run, "GET", "/items")
    reading = _method(api_run, "GET", "/items/{id}")

    assert listing.inputs["requestParameters"] == {
        "method.request.querystring.year": True,
        "method.request.querystring.limit": False,
        "method.request.querystring.cursor": False,
    }
    assert reading.inputs["requestParameters"] == {"method.request.path.id": True}


def test_integrations_proxy_every_method_to_the_function(api_run: ProgramRun) -> None:
    invoke_arn = (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{api_run.one(FUNCTION).inputs['name']}/invocations"
    )
    integrations = api_run.of_type(INTEGRATION)

    assert {(i.inputs["httpMethod"], i.inputs["resourceId"]) for i in integrations} == {
        (r.method, _resource_id(api_run, r.path)) for r in ROUTES
    }
    for integration in integrations:
        assert integration.inputs["type"] == "AWS_PROXY"
        assert integration.inputs["integrationHttpMethod"] == "POST"
        assert integration.inputs["uri"] == invoke_arn


def test_invoke_permission_is_for_api_gateway_from_this_apis_stage_only(api_run: ProgramRun) -> None:
    permission = api_run.one("aws:lambda/permission:Permission")
    rest_api = api_run.one("aws:apigateway/restApi:RestApi")

    assert permission.inputs["principal"] == "apigateway.amazonaws.com"
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    stage = api_run.settings.api_gateway.stage_name
    assert permission.inputs["sourceArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{rest_api.name}-id/{stage}/*/*"


def test_gateway_responses_answer_json_with_the_documented_status_codes(api_run: ProgramRun) -> None:
    responses = {r.inputs["responseType"]: r.inputs for r in api_run.of_type("aws:apigateway/response:Response")}

    assert {kind: inputs.get("statusCode") for kind, inputs in responses.items()} == dict(GATEWAY_RESPONSES)
    # AWS's "Gateway response types" table, by what the client did; an unknown route answers MISSING_AUTHENTICATION_TOKEN.
    documented = {
        "429": ("THROTTLED", "QUOTA_EXCEEDED"),
        "403": ("ACCESS_DENIED", "INVALID_API_KEY", "MISSING_AUTHENTICATION_TOKEN"),
        "400": ("BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS"),
        None: ("DEFAULT_4XX", "DEFAULT_5XX"),  # these keep the status of the error they stand for
    }
    assert dict(GATEWAY_RESPONSES) == {kind: status for status, kinds in documented.items() for kind in kinds}
    assert all(
        inputs["responseTemplates"] == {"application/json": gateway_response_template()}
        for inputs in responses.values()
    )


def test_gateway_response_template_renders_as_the_handlers_error_shape() -> None:
    # API Gateway substitutes messageString already quoted, requestId bare.
    rendered = (
        gateway_response_template()
        .replace("$context.error.messageString", json.dumps("Too Many Requests"))
        .replace("$context.requestId", "req-1")
    )

    assert json.loads(rendered) == {"message": "Too Many Requests", "request_id": "req-1"}


# --- deployment and its trigger ------------------------------------------------------------------------------------


def test_deployment_waits_for_every_method_and_integration(api_run: ProgramRun) -> None:
    deployment = api_run.one("aws:apigateway/deployment:Deployment")

    for part in api_run.of_type(METHOD) + api_run.of_type(INTEGRATION):
        assert api_run.depends_on(deployment, part), part.name


def test_deployment_trigger_is_the_hash_of_the_api_definition(api_run: ProgramRun) -> None:
    deployment = api_run.one("aws:apigateway/deployment:Deployment")

    expected = redeployment_hash(
        api_definition(ROUTES, gateway_request_schemas(), api_run.one(FUNCTION).inputs["name"])
    )
    assert deployment.inputs["triggers"] == {"redeployment": expected}


def test_redeployment_hash_is_the_same_for_the_same_definition_in_any_key_order() -> None:
    schemas = gateway_request_schemas()
    reordered = {name: dict(reversed(list(schema.items()))) for name, schema in reversed(list(schemas.items()))}

    assert redeployment_hash(api_definition(ROUTES, schemas, "fn")) == redeployment_hash(
        api_definition(ROUTES, reordered, "fn")
    )


def test_redeployment_hash_changes_when_a_route_changes() -> None:
    schemas = gateway_request_schemas()
    listing = next(i for i, r in enumerate(ROUTES) if r.method == "GET" and r.path == "/items")
    changed = list(ROUTES)
    changed[listing] = dataclasses.replace(
        ROUTES[listing], query_parameters=(*ROUTES[listing].query_parameters, QueryParameter("sort", False, "order"))
    )

    assert redeployment_hash(api_definition(changed, schemas, "fn")) != redeployment_hash(
        api_definition(ROUTES, schemas, "fn")
    )


def test_redeployment_hash_changes_when_a_model_changes() -> None:
    schemas = gateway_request_schemas()
    name = sorted(schemas)[0]
    changed = {**schemas, name: {**schemas[name], "maxProperties": 3}}

    assert redeployment_hash(api_definition(ROUTES, changed, "fn")) != redeployment_hash(
        api_definition(ROUTES, schemas, "fn")
    )


def test_redeployment_hash_changes_when_the_integrations_target_another_function() -> None:
    schemas = gateway_request_schemas()

    assert redeployment_hash(api_definition(ROUTES, schemas, "fn")) != redeployment_hash(
        api_definition(ROUTES, schemas, "other-fn")
    )


def test_api_definition_refuses_a_route_naming_an_unknown_model() -> None:
    route = dataclasses.replace(ROUTES[0], request_model="NoSuchModel")

    with pytest.raises(ValueError, match="NoSuchModel"):
        api_definition([route], gateway_request_schemas(), "fn")


# --- stage, logs and account ------------------------------------------------------------------------------------


def test_stage_has_xray_and_the_configured_name(api_run: ProgramRun) -> None:
    stage = api_run.one(STAGE)

    assert stage.inputs["xrayTracingEnabled"] is True
    assert stage.inputs["stageName"] == api_run.settings.api_gateway.stage_name


def test_stage_writes_json_access_logs_to_its_own_group_with_retention(api_run: ProgramRun) -> None:
    settings = api_run.one(STAGE).inputs["accessLogSettings"]
    group = next(
        g
        for g in api_run.of_type(LOG_GROUP)
        if f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{g.inputs['name']}" == settings["destinationArn"]
    )

    assert json.loads(settings["format"]) == access_log_format()
    assert group.inputs["retentionInDays"] == api_run.settings.log_retention_days


def test_access_log_format_names_the_fields_operators_and_the_local_stack_rely_on() -> None:
    fields = access_log_format()

    assert fields["requestId"] == "$context.requestId"
    assert fields["ip"] == "$context.identity.sourceIp"
    assert fields["apiKeyId"] == "$context.identity.apiKeyId"
    assert fields["status"] == "$context.status"
    assert fields["wafResponseCode"] == "$context.wafResponseCode"
    assert {
        "caller",
        "user",
        "userAgent",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "protocol",
        "responseLength",
    } <= set(fields)
    assert {"integrationLatency", "responseLatency"} <= set(fields)
    assert all(value.startswith("$context.") for value in fields.values())


def test_execution_log_group_exists_before_api_gateway_would_create_it_without_retention(api_run: ProgramRun) -> None:
    rest_api = api_run.one("aws:apigateway/restApi:RestApi")
    stage = api_run.one(STAGE)
    name = f"API-Gateway-Execution-Logs_{rest_api.name}-id/{stage.inputs['stageName']}"

    group = _log_group(api_run, name)

    assert group.inputs["retentionInDays"] == api_run.settings.log_retention_days
    assert api_run.depends_on(stage, group)


def test_method_settings_for_all_methods_follow_the_stage_settings(api_run: ProgramRun) -> None:
    method_settings = api_run.one("aws:apigateway/methodSettings:MethodSettings")
    gateway = api_run.settings.api_gateway

    assert method_settings.inputs["methodPath"] == "*/*"
    assert method_settings.inputs["stageName"] == gateway.stage_name
    assert method_settings.inputs["settings"] == {
        "metricsEnabled": True,
        "loggingLevel": gateway.logging_level.value,
        "dataTraceEnabled": False,
        "throttlingRateLimit": gateway.throttle.rate_limit,
        "throttlingBurstLimit": gateway.throttle.burst_limit,
    }


def test_managed_account_role_pushes_to_cloudwatch_before_stage_and_method_settings(api_run: ProgramRun) -> None:
    account = api_run.one(ACCOUNT)
    role = api_run.named("test-api-cloudwatch-role")
    attachment = api_run.named("test-api-cloudwatch-push")

    assert api_run.settings.api_gateway.manage_account_role
    assert account.inputs["cloudwatchRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}"
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )
    # API Gateway refuses a CloudWatch role that cannot write to CloudWatch Logs yet.
    assert api_run.depends_on(account, attachment)
    assert api_run.depends_on(api_run.one(STAGE), account)
    assert api_run.depends_on(api_run.one("aws:apigateway/methodSettings:MethodSettings"), account)


def test_opting_out_of_the_account_role_creates_no_account_and_no_role() -> None:
    settings = stack_settings("dev")
    gateway = settings.api_gateway.model_copy(update={"manage_account_role": False})

    run = _run_api(settings.model_copy(update={"api_gateway": gateway}))

    assert run.of_type(ACCOUNT) == []
    assert all("apigateway.amazonaws.com" not in r.inputs["assumeRolePolicy"] for r in run.of_type("aws:iam/role:Role"))
    assert run.one(STAGE).inputs["xrayTracingEnabled"] is True


def test_children_are_parented_by_the_component(api_run: ProgramRun) -> None:
    component = api_run.one("tieredapi:api:Api")

    assert len(api_run.children_of(component)) == len(api_run.resources) - 1
