"""Every row of SECURITY_CHECKLIST.md, evaluated over each real stack's recorded resource graph.

A plain in-test evaluator (the policy pack turns the same rows into CrossGuard policies): each test is one row,
named by its id, reading only recorded inputs and dependencies.
"""

from __future__ import annotations

import json
import re
from typing import Any

from handler.models import gateway_request_schemas
from tools.mocks import ACCOUNT_ID, ProgramRun, RecordedResource

STAGE = "aws:apigateway/stage:Stage"
METHOD = "aws:apigateway/method:Method"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
TABLE = "aws:dynamodb/table:Table"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

# Actions that accept no resource-level permission: "*" is their only valid resource.
UNSCOPABLE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
MANAGED_POLICY_ALLOW_LIST = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
}


def _id(resource: RecordedResource) -> str:
    return f"{resource.name}-id"  # the mocks' physical ids


def _physical_name(resource: RecordedResource) -> str:
    """The explicit name, or (auto-named) the mocks' stand-in: the resource's own name."""
    return str(resource.inputs.get("name", resource.name))


def _log_group_arn(run: ProgramRun, group: RecordedResource) -> str:
    return f"arn:aws:logs:{run.settings.region}:{ACCOUNT_ID}:log-group:{_physical_name(group)}"


def _table_arns(run: ProgramRun) -> set[str]:
    return {
        f"arn:aws:dynamodb:{run.settings.region}:{ACCOUNT_ID}:table/{_physical_name(t)}" for t in run.of_type(TABLE)
    }


def _stage_arn(run: ProgramRun, stage: RecordedResource) -> str:
    return f"arn:aws:apigateway:{run.settings.region}::/restapis/{stage.inputs['restApi']}/stages/{stage.inputs['stageName']}"


def _statements(document: str) -> list[dict[str, Any]]:
    statements = json.loads(document)["Statement"]
    return [statements] if isinstance(statements, dict) else statements


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _identity_statements(run: ProgramRun) -> list[dict[str, Any]]:
    documents = [r.inputs["policy"] for r in run.of_type("aws:iam/rolePolicy:RolePolicy")]
    documents += [r.inputs["policy"] for r in run.of_type("aws:iam/policy:Policy")]
    return [s for document in documents for s in _statements(document)]


# --- API Gateway ---------------------------------------------------------------------------------------------------


def test_apigw_accesslog(stack_run: ProgramRun) -> None:
    groups = {_log_group_arn(stack_run, g) for g in stack_run.of_type(LOG_GROUP)}
    for stage in stack_run.of_type(STAGE):
        settings = stage.inputs["accessLogSettings"]
        values = set(json.loads(settings["format"]).values())
        assert settings["destinationArn"] in groups
        assert {
            "$context.requestId",
            "$context.status",
            "$context.identity.sourceIp",
            "$context.identity.apiKeyId",
        } <= values


def test_apigw_xray(stack_run: ProgramRun) -> None:
    assert all(stage.inputs["xrayTracingEnabled"] is True for stage in stack_run.of_type(STAGE))


def test_apigw_methodsettings(stack_run: ProgramRun) -> None:
    for stage in stack_run.of_type(STAGE):
        settings = next(
            m.inputs["settings"]
            for m in stack_run.of_type("aws:apigateway/methodSettings:MethodSettings")
            if m.inputs["methodPath"] == "*/*"
            and m.inputs["stageName"] == stage.inputs["stageName"]
            and m.inputs["restApi"] == stage.inputs["restApi"]
        )
        assert settings["metricsEnabled"] is True
        assert settings["loggingLevel"] in ("ERROR", "INFO")
        assert settings["dataTraceEnabled"] is False
        assert settings["throttlingRateLimit"] > 0
        assert settings["throttlingBurstLimit"] > 0


def test_apigw_account(stack_run: ProgramRun) -> None:
    accounts = stack_run.of_type("aws:apigateway/account:Account")

    assert stack_run.settings.api_gateway.manage_account_role
    assert len(accounts) == 1
    assert accounts[0].inputs["cloudwatchRoleArn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/")


def test_apigw_auth(stack_run: ProgramRun) -> None:
    methods = [m for m in stack_run.of_type(METHOD) if m.inputs["httpMethod"] != "OPTIONS"]

    assert methods
    assert all(m.inputs["apiKeyRequired"] is True for m in methods)


def test_apigw_validator(stack_run: ProgramRun) -> None:
    validators = {_id(v): v.inputs for v in stack_run.of_type("aws:apigateway/requestValidator:RequestValidator")}
    models = {m.inputs["name"]: m.inputs for m in stack_run.of_type("aws:apigateway/model:Model")}
    schemas = gateway_request_schemas()
    for method in stack_run.of_type(METHOD):
        validator = validators[method.inputs["requestValidatorId"]]
        assert validator["validateRequestParameters"] is True
        for model_name in (method.inputs.get("requestModels") or {}).values():
            assert validator["validateRequestBody"] is True
            assert json.loads(models[model_name]["schema"]) == schemas[model_name]
    assert any(method.inputs.get("requestModels") for method in stack_run.of_type(METHOD))


def test_apigw_regional(stack_run: ProgramRun) -> None:
    apis = stack_run.of_type("aws:apigateway/restApi:RestApi")

    assert apis
    assert all(api.get("endpointConfiguration", "types") == "REGIONAL" for api in apis)


def test_apigw_usageplans(stack_run: ProgramRun) -> None:
    stages = {(s.inputs["restApi"], s.inputs["stageName"]) for s in stack_run.of_type(STAGE)}
    plans = stack_run.of_type("aws:apigateway/usagePlan:UsagePlan")
    bound_keys = {b.inputs["keyId"] for b in stack_run.of_type("aws:apigateway/usagePlanKey:UsagePlanKey")}
    for plan in plans:
        assert {(s["apiId"], s["stage"]) for s in plan.inputs["apiStages"]} <= stages
        assert plan.inputs["apiStages"]
        assert plan.get("throttleSettings", "rateLimit") > 0
        assert plan.get("quotaSettings", "limit") > 0
    for key in stack_run.of_type("aws:apigateway/apiKey:ApiKey"):
        assert _id(key) in bound_keys
        assert "value" not in key.inputs


def test_apigw_redeploy(stack_run: ProgramRun) -> None:
    deployment = stack_run.one("aws:apigateway/deployment:Deployment")
    parts = (
        stack_run.of_type(METHOD)
        + stack_run.of_type("aws:apigateway/integration:Integration")
        + stack_run.of_type("aws:apigateway/model:Model")
        + stack_run.of_type("aws:apigateway/response:Response")
    )

    assert re.fullmatch(r"[0-9a-f]{40}", deployment.inputs["triggers"]["redeployment"])
    assert all(stack_run.depends_on(deployment, part) for part in parts)


# --- WAF -----------------------------------------------------------------------------------------------------------


def _rules(run: ProgramRun) -> list[dict[str, Any]]:
    return run.one(WEB_ACL).inputs["rules"]


def test_waf_rate(stack_run: ProgramRun) -> None:
    rate_rules = [r for r in _rules(stack_run) if "rateBasedStatement" in r["statement"]]

    assert stack_run.one(WEB_ACL).inputs["scope"] == "REGIONAL"
    assert len(rate_rules) == 1
    statement = rate_rules[0]["statement"]["rateBasedStatement"]
    assert statement["aggregateKeyType"] == "IP"
    assert statement["limit"] >= 10
    assert statement["evaluationWindowSec"] == stack_run.settings.waf.window_seconds
    assert rate_rules[0]["action"] == {"block": {}}


def test_waf_managed(stack_run: ProgramRun) -> None:
    groups = {
        r["statement"]["managedRuleGroupStatement"]["name"]: r["overrideAction"]
        for r in _rules(stack_run)
        if "managedRuleGroupStatement" in r["statement"]
    }

    assert groups == {
        "AWSManagedRulesKnownBadInputsRuleSet": {"none": {}},
        "AWSManagedRulesCommonRuleSet": {"none": {}},
    }


def test_waf_assoc(stack_run: ProgramRun) -> None:
    associations = stack_run.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    for stage in stack_run.of_type(STAGE):
        association = next(a for a in associations if a.inputs["resourceArn"] == _stage_arn(stack_run, stage))
        assert stack_run.depends_on(association, stage)


def test_waf_logging(stack_run: ProgramRun) -> None:
    logging = stack_run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    waf_groups = {
        _log_group_arn(stack_run, g)
        for g in stack_run.of_type(LOG_GROUP)
        if _physical_name(g).startswith("aws-waf-logs-")
    }

    assert set(logging.inputs["logDestinationConfigs"]) <= waf_groups
    assert logging.inputs["logDestinationConfigs"]
    assert {"singleHeader": {"name": "x-api-key"}} in logging.inputs["redactedFields"]


def test_waf_metrics(stack_run: ProgramRun) -> None:
    web_acl = stack_run.one(WEB_ACL)
    configs = [web_acl.inputs["visibilityConfig"], *(r["visibilityConfig"] for r in web_acl.inputs["rules"])]

    assert all(config["cloudwatchMetricsEnabled"] is True for config in configs)


# --- Lambda --------------------------------------------------------------------------------------------------------


def test_lambda_xray(stack_run: ProgramRun) -> None:
    assert all(f.get("tracingConfig", "mode") == "Active" for f in stack_run.of_type(FUNCTION))


def test_lambda_vpc(stack_run: ProgramRun) -> None:
    subnets = {_id(s): s.inputs for s in stack_run.of_type("aws:ec2/subnet:Subnet")}
    for function in stack_run.of_type(FUNCTION):
        vpc = function.inputs["vpcConfig"]
        used = [subnets[subnet_id] for subnet_id in vpc["subnetIds"]]
        assert all(subnet.get("mapPublicIpOnLaunch") is not True for subnet in used)
        assert len({subnet["availabilityZone"] for subnet in used}) >= 2
        assert vpc["securityGroupIds"]


def test_lambda_concurrency(stack_run: ProgramRun) -> None:
    reserved = stack_run.settings.lambda_.reserved_concurrency
    function = stack_run.one(FUNCTION)
    alarms = [
        a
        for a in stack_run.of_type(ALARM)
        if a.inputs.get("metricName") == "ConcurrentExecutions"
        and a.get("dimensions", "FunctionName") == function.inputs["name"]
    ]

    assert reserved is not None
    assert function.inputs["reservedConcurrentExecutions"] == reserved > 0
    assert [a.inputs["threshold"] for a in alarms] == [stack_run.settings.lambda_.concurrency_alarm_threshold]
    assert alarms[0].inputs["alarmActions"]


def test_lambda_timeout(stack_run: ProgramRun) -> None:
    assert all(0 < f.inputs["timeout"] <= 29 for f in stack_run.of_type(FUNCTION))


def test_lambda_runtime(stack_run: ProgramRun) -> None:
    for function in stack_run.of_type(FUNCTION):
        match = re.fullmatch(r"python3\.(\d+)", function.inputs["runtime"])
        assert match is not None
        assert int(match.group(1)) >= 12


def test_lambda_logs(stack_run: ProgramRun) -> None:
    groups = {_physical_name(g): g.inputs for g in stack_run.of_type(LOG_GROUP)}
    for function in stack_run.of_type(FUNCTION):
        logging = function.inputs["loggingConfig"]
        assert logging["logFormat"] == "JSON"
        assert groups[logging["logGroup"]]["retentionInDays"] > 0


def test_lambda_permission(stack_run: ProgramRun) -> None:
    execution_arns = {
        f"arn:aws:execute-api:{stack_run.settings.region}:{ACCOUNT_ID}:{_id(api)}"
        for api in stack_run.of_type("aws:apigateway/restApi:RestApi")
    }
    permissions = stack_run.of_type("aws:lambda/permission:Permission")

    assert permissions
    for permission in permissions:
        assert permission.inputs["principal"] == "apigateway.amazonaws.com"
        assert permission.inputs["sourceArn"].split("/", 1)[0] in execution_arns


def test_lambda_env_secrets(stack_run: ProgramRun) -> None:
    suspicious = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|ACCESS_KEY|API_KEY", re.IGNORECASE)
    for function in stack_run.of_type(FUNCTION):
        variables = function.get("environment", "variables")
        assert variables
        assert not [name for name in variables if suspicious.search(name)]
        assert not [value for value in variables.values() if re.search(r"AKIA[0-9A-Z]{16}", value)]


# --- DynamoDB ------------------------------------------------------------------------------------------------------


def test_ddb_pitr(stack_run: ProgramRun) -> None:
    tables = stack_run.of_type(TABLE)

    assert len(tables) == 2
    assert all(t.get("pointInTimeRecovery", "enabled") is True for t in tables)


def test_ddb_sse(stack_run: ProgramRun) -> None:
    for table in stack_run.of_type(TABLE):
        encryption = table.inputs.get("serverSideEncryption") or {}
        if stack_run.settings.data.customer_managed_key:
            assert encryption["enabled"] is True
            assert encryption["kmsKeyArn"].startswith(f"arn:aws:kms:{stack_run.settings.region}:{ACCOUNT_ID}:key/")
        else:
            # DynamoDB always encrypts at rest; without a stack key it uses the AWS-owned one.
            assert "kmsKeyArn" not in encryption


def test_ddb_billing(stack_run: ProgramRun) -> None:
    assert all(t.inputs["billingMode"] == "PAY_PER_REQUEST" for t in stack_run.of_type(TABLE))


def test_ddb_stream(stack_run: ProgramRun) -> None:
    items = next(t for t in stack_run.of_type(TABLE) if t.inputs["hashKey"] == "id")

    assert items.inputs["streamEnabled"] is True
    assert items.inputs["streamViewType"] == "NEW_AND_OLD_IMAGES"


def test_ddb_deletion(stack_run: ProgramRun) -> None:
    expected = stack_run.settings.data.deletion_protection

    assert all(bool(t.inputs.get("deletionProtectionEnabled")) is expected for t in stack_run.of_type(TABLE))


# --- Network -------------------------------------------------------------------------------------------------------


def test_vpc_flowlog(stack_run: ProgramRun) -> None:
    groups = {_log_group_arn(stack_run, g): g.inputs for g in stack_run.of_type(LOG_GROUP)}
    flow_log = stack_run.one("aws:ec2/flowLog:FlowLog")

    assert flow_log.inputs["trafficType"] == "ALL"
    assert groups[flow_log.inputs["logDestination"]]["retentionInDays"] > 0


def test_vpc_default_sg(stack_run: ProgramRun) -> None:
    default = stack_run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")

    assert not default.inputs.get("ingress")
    assert not default.inputs.get("egress")


def test_vpc_ddb_endpoint(stack_run: ProgramRun) -> None:
    endpoint = stack_run.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    route_tables = {_id(rt) for rt in stack_run.of_type("aws:ec2/routeTable:RouteTable")}
    table_arns = _table_arns(stack_run)
    statements = _statements(endpoint.inputs["policy"])
    resources = {r for s in statements for r in _listed(s["Resource"])}
    actions = {a for s in statements for a in _listed(s["Action"])}

    assert endpoint.inputs["serviceName"].endswith(".dynamodb")
    assert endpoint.inputs.get("vpcEndpointType", "Gateway") == "Gateway"
    assert set(endpoint.inputs["routeTableIds"]) == route_tables
    assert all(any(r == arn or r.startswith(f"{arn}/index/") for arn in table_arns) for r in resources)
    assert actions <= {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    }


def test_sg_egress(stack_run: ProgramRun) -> None:
    groups = stack_run.of_type("aws:ec2/securityGroup:SecurityGroup")
    rules = [rule for g in groups for rule in g.inputs.get("egress") or []]
    rules += [r.inputs for r in stack_run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")]

    assert rules
    for rule in rules:
        assert not (str(rule.get("protocol")) in ("-1", "all") and "0.0.0.0/0" in (rule.get("cidrBlocks") or []))
    assert any(
        rule.get("fromPort") == 443 and rule.get("toPort") == 443 and rule.get("prefixListIds") for rule in rules
    )


# --- Logs, IAM, alarms -------------------------------------------------------------------------------------------


def test_log_retention(stack_run: ProgramRun) -> None:
    groups = stack_run.of_type(LOG_GROUP)

    assert len(groups) >= 5  # function, access, execution, flow, WAF
    assert all(g.inputs["retentionInDays"] == stack_run.settings.log_retention_days for g in groups)


def test_iam_no_star(stack_run: ProgramRun) -> None:
    statements = _identity_statements(stack_run)
    table_arns = _table_arns(stack_run)

    assert statements
    for statement in statements:
        actions = _listed(statement["Action"])
        resources = _listed(statement["Resource"])
        assert not [a for a in actions if a == "*" or a.endswith(":*")]
        if "*" in resources:
            assert set(actions) <= UNSCOPABLE_ACTIONS
        if any(a.startswith("dynamodb:") for a in actions):
            assert all(r in table_arns or r.rsplit("/index/", 1)[0] in table_arns for r in resources)
    for key in stack_run.of_type("aws:kms/key:Key"):
        key_actions = [a for s in _statements(key.inputs["policy"]) for a in _listed(s["Action"])]
        assert not [a for a in key_actions if a in ("*", "kms:*")]


def test_iam_managed(stack_run: ProgramRun) -> None:
    attached = {r.inputs["policyArn"] for r in stack_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    attached |= {
        arn for role in stack_run.of_type("aws:iam/role:Role") for arn in role.inputs.get("managedPolicyArns") or []
    }

    assert attached
    assert attached <= MANAGED_POLICY_ALLOW_LIST


def test_alarms(stack_run: ProgramRun) -> None:
    alarms = stack_run.of_type(ALARM)
    topic = stack_run.outputs["alarm_topic_arn"]

    def metric_names(alarm: RecordedResource) -> set[str]:
        names = {alarm.inputs.get("metricName")}
        names |= {q["metric"]["metricName"] for q in alarm.inputs.get("metricQueries") or [] if "metric" in q}
        return {name for name in names if name}

    covered = set().union(*(metric_names(a) for a in alarms))
    assert all(topic in a.inputs["alarmActions"] for a in alarms)
    assert {
        "ConcurrentExecutions",
        "Errors",
        "Throttles",
        "Duration",
        "5XXError",
        "Latency",
        "4XXError",
        "ThrottledRequests",
        "SystemErrors",
        "BlockedRequests",
    } <= covered
