"""A hand-built, minimal resource graph that passes every checklist row: the pack's own fixture.

Written to the infrastructure contract (infra-contract.md) and the checklist, independently of ``components/``, so
the rules and their negative tests can be judged without the program (and a program bug cannot make a rule look
right). It has what a recorded graph has: pulumi_aws 7 type tokens, camelCase inputs with numbers as floats, URNs
with parent chains, and dependency URNs where an input is another resource's output.
"""

from __future__ import annotations

import json
from typing import Any

from components.settings import PROJECT, StackSettings
from handler.contract import ROUTES
from handler.models import gateway_request_schemas
from tools.mocks import ACCOUNT_ID, DYNAMODB_PREFIX_LIST_ID, RecordedResource

__all__ = ["reference_graph"]


class _Graph:
    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.resources: list[RecordedResource] = []

    def add(
        self,
        type_: str,
        name: str,
        inputs: dict[str, Any],
        parent: RecordedResource | None = None,
        deps: tuple[RecordedResource, ...] = (),
        custom: bool = True,
        computed: dict[str, Any] | None = None,
    ) -> RecordedResource:
        """``computed``: what the provider adds to the inputs once the resource exists."""
        qualified = f"{parent.urn.split('::')[2]}${type_}" if parent else type_
        resource = RecordedResource(
            urn=f"urn:pulumi:{self.stack}::{PROJECT}::{qualified}::{name}",
            type=type_,
            name=name,
            inputs=json.loads(json.dumps(inputs)),
            parent=parent.urn if parent else None,
            dependencies=tuple(d.urn for d in deps),
            custom=custom,
            outputs=None if computed is None else json.loads(json.dumps({**inputs, **computed})),
        )
        self.resources.append(resource)
        return resource


def _arn(service: str, region: str, rest: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{rest}"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _trust(service: str) -> str:
    return _policy({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def reference_graph(settings: StackSettings) -> list[RecordedResource]:
    """The graph of one stack built from ``settings``: every limit and switch the rows compare comes from them."""
    g = _Graph(settings.stack)
    name = f"{PROJECT}-{settings.stack}"
    region = settings.region
    retention = float(settings.log_retention_days)

    # --- data ---
    data = g.add("tieredapi:data:DataTier", f"{name}-data", {}, custom=False)
    key = None
    sse: dict[str, Any] = {"enabled": True}
    if settings.data.customer_managed_key:
        key = g.add("aws:kms/key:Key", f"{name}-data-tables", {"enableKeyRotation": True}, data)
        sse["kmsKeyArn"] = _arn("kms", region, f"key/{name}-data-tables-id")
    durable = {
        "pointInTimeRecovery": {"enabled": True},
        "serverSideEncryption": sse,
        "deletionProtectionEnabled": settings.data.deletion_protection,
        "billingMode": "PAY_PER_REQUEST",
    }
    key_deps = (key,) if key else ()
    items = g.add(
        "aws:dynamodb/table:Table",
        f"{name}-data-items",
        {**durable, "hashKey": "id", "streamEnabled": True, "streamViewType": "NEW_AND_OLD_IMAGES"},
        data,
        key_deps,
    )
    limiter = g.add(
        "aws:dynamodb/table:Table",
        f"{name}-data-rate-limit",
        {**durable, "hashKey": "pk", "ttl": {"enabled": True, "attributeName": "expires_at"}},
        data,
        key_deps,
    )
    items_arn = _arn("dynamodb", region, f"table/{items.name}")
    limiter_arn = _arn("dynamodb", region, f"table/{limiter.name}")
    table_statements = [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": [items_arn]},
        {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [f"{items_arn}/index/year-index"]},
        {"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": [limiter_arn]},
    ]

    # --- network ---
    net = g.add("tieredapi:network:Network", f"{name}-network", {}, custom=False)
    vpc = g.add("aws:ec2/vpc:Vpc", f"{name}-network-vpc", {"cidrBlock": settings.network.vpc_cidr}, net)
    subnets, route_tables = [], []
    for zone in ("a", "b"):
        subnet = g.add(
            "aws:ec2/subnet:Subnet",
            f"{name}-network-private-{region}{zone}",
            {"vpcId": f"{vpc.name}-id", "availabilityZone": f"{region}{zone}", "mapPublicIpOnLaunch": False},
            net,
            (vpc,),
        )
        table = g.add("aws:ec2/routeTable:RouteTable", f"{subnet.name}-rt", {"vpcId": f"{vpc.name}-id"}, net, (vpc,))
        g.add(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            f"{subnet.name}-rta",
            {"subnetId": f"{subnet.name}-id", "routeTableId": f"{table.name}-id"},
            net,
            (subnet, table),
        )
        subnets.append(subnet)
        route_tables.append(table)
    g.add(
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        f"{name}-network-dynamodb",
        {
            "vpcId": f"{vpc.name}-id",
            "serviceName": f"com.amazonaws.{region}.dynamodb",
            "vpcEndpointType": "Gateway",
            "routeTableIds": [f"{t.name}-id" for t in route_tables],
            "policy": _policy(*({**s, "Principal": "*"} for s in table_statements)),
        },
        net,
        (vpc, items, limiter, *route_tables),
        computed={"prefixListId": DYNAMODB_PREFIX_LIST_ID},
    )
    lambda_sg = g.add(
        "aws:ec2/securityGroup:SecurityGroup",
        f"{name}-network-lambda",
        {
            "vpcId": f"{vpc.name}-id",
            "ingress": [],
            "egress": [
                {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "prefixListIds": [DYNAMODB_PREFIX_LIST_ID]}
            ],
        },
        net,
        (vpc,),
    )
    g.add(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        f"{name}-network-default-sg",
        {"vpcId": f"{vpc.name}-id", "ingress": [], "egress": []},
        net,
        (vpc,),
    )
    flow_group = g.add(
        "aws:cloudwatch/logGroup:LogGroup", f"{name}-network-flow-logs", {"retentionInDays": retention}, net
    )
    flow_role = g.add(
        "aws:iam/role:Role",
        f"{name}-network-flow-logs",
        {"assumeRolePolicy": _trust("vpc-flow-logs.amazonaws.com")},
        net,
    )
    flow_group_arn = _arn("logs", region, f"log-group:{flow_group.name}")
    g.add(
        "aws:iam/rolePolicy:RolePolicy",
        f"{name}-network-flow-logs",
        {
            "role": f"{flow_role.name}-id",
            "policy": _policy(
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [flow_group_arn, f"{flow_group_arn}:log-stream:*"],
                }
            ),
        },
        net,
        (flow_role, flow_group),
    )
    g.add(
        "aws:ec2/flowLog:FlowLog",
        f"{name}-network-flow-log",
        {
            "vpcId": f"{vpc.name}-id",
            "trafficType": "ALL",
            "logDestinationType": "cloud-watch-logs",
            "logDestination": flow_group_arn,
            "iamRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{flow_role.name}",
        },
        net,
        (vpc, flow_group, flow_role),
    )

    # --- api: function ---
    api = g.add("tieredapi:api:Api", f"{name}-api", {}, custom=False)
    function_name = f"{name}-api-handler"
    function_group = g.add(
        "aws:cloudwatch/logGroup:LogGroup",
        f"{name}-api-function-logs",
        {"name": f"/aws/lambda/{function_name}", "retentionInDays": retention},
        api,
    )
    role = g.add(
        "aws:iam/role:Role", f"{name}-api-function-role", {"assumeRolePolicy": _trust("lambda.amazonaws.com")}, api
    )
    vpc_access = g.add(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        f"{name}-api-function-vpc-access",
        {"role": role.name, "policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"},
        api,
        (role,),
    )
    function_group_arn = _arn("logs", region, f"log-group:{function_group.inputs['name']}")
    role_policy = g.add(
        "aws:iam/rolePolicy:RolePolicy",
        f"{name}-api-function-policy",
        {
            "role": f"{role.name}-id",
            "policy": _policy(
                *table_statements,
                {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [function_group_arn, f"{function_group_arn}:*"],
                },
            ),
        },
        api,
        (role, items, limiter, function_group),
    )
    lam = settings.lambda_
    function_inputs: dict[str, Any] = {
        "name": function_name,
        "role": f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}",
        "runtime": "python3.13",
        "architectures": ["arm64"],
        "handler": "handler.app.lambda_handler",
        "memorySize": float(lam.memory_mb),
        "timeout": float(lam.timeout_seconds),
        "tracingConfig": {"mode": "Active"},
        "loggingConfig": {"logFormat": "JSON", "logGroup": f"/aws/lambda/{function_name}"},
        "vpcConfig": {"subnetIds": [f"{s.name}-id" for s in subnets], "securityGroupIds": [f"{lambda_sg.name}-id"]},
        "environment": {
            "variables": {
                "ITEMS_TABLE_NAME": items.name,
                "RATE_LIMIT_TABLE_NAME": limiter.name,
                "RATE_LIMIT_REQUESTS": str(settings.app_rate_limit.requests),
                "RATE_LIMIT_WINDOW_SECONDS": str(settings.app_rate_limit.window_seconds),
                "RATE_LIMIT_FAIL_OPEN": str(settings.app_rate_limit.fail_open).lower(),
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "TieredApi",
            }
        },
    }
    if lam.reserved_concurrency is not None:
        function_inputs["reservedConcurrentExecutions"] = float(lam.reserved_concurrency)
    function = g.add(
        "aws:lambda/function:Function",
        f"{name}-api-function",
        function_inputs,
        api,
        (role, function_group, vpc_access, role_policy, lambda_sg, *subnets, items, limiter),
    )

    # --- api: REST API ---
    rest_api = g.add(
        "aws:apigateway/restApi:RestApi",
        f"{name}-api-rest-api",
        {"name": f"{name}-api", "apiKeySource": "HEADER", "endpointConfiguration": {"types": "REGIONAL"}},
        api,
    )
    api_id = f"{rest_api.name}-id"
    definition: list[RecordedResource] = []
    models = {}
    for model_name, schema in gateway_request_schemas().items():
        models[model_name] = g.add(
            "aws:apigateway/model:Model",
            f"{name}-api-model-{model_name.lower()}",
            {"restApi": api_id, "name": model_name, "contentType": "application/json", "schema": json.dumps(schema)},
            api,
            (rest_api,),
        )
    validators = {
        kind: g.add(
            "aws:apigateway/requestValidator:RequestValidator",
            f"{name}-api-validator-{kind}",
            {"restApi": api_id, "name": kind, "validateRequestBody": kind == "body", "validateRequestParameters": True},
            api,
            (rest_api,),
        )
        for kind in ("body", "parameters")
    }
    definition += [*models.values(), *validators.values()]
    resources: dict[str, RecordedResource] = {}
    for path in sorted({"/" + "/".join(r.path.strip("/").split("/")[:n]) for r in ROUTES for n in (1, 2)} - {"/"}):
        parent_path, _, part = path.rpartition("/")
        parent = resources.get(parent_path)
        resources[path] = g.add(
            "aws:apigateway/resource:Resource",
            f"{name}-api-res{path.replace('/', '-').replace('{', '').replace('}', '')}",
            {
                "restApi": api_id,
                "parentId": f"{parent.name}-id" if parent else f"{rest_api.name}-root",
                "pathPart": part,
            },
            api,
            (rest_api, parent) if parent else (rest_api,),
        )
    definition += list(resources.values())
    for route in ROUTES:
        resource = resources.get(route.path)
        method_key = (
            f"{route.method.lower()}{route.path.replace('/', '-').replace('{', '').replace('}', '') or '-root'}"
        )
        validator = validators["body" if route.request_model else "parameters"]
        parameters = {f"method.request.path.{p}": True for p in route.path_parameters}
        parameters |= {f"method.request.querystring.{q.name}": q.required for q in route.query_parameters}
        method_inputs: dict[str, Any] = {
            "restApi": api_id,
            "resourceId": f"{resource.name}-id" if resource else f"{rest_api.name}-root",
            "httpMethod": route.method,
            "authorization": "NONE",
            "apiKeyRequired": True,
            "requestValidatorId": f"{validator.name}-id",
        }
        deps = [rest_api, validator, *([resource] if resource else [])]
        if parameters:
            method_inputs["requestParameters"] = parameters
        if route.request_model:
            method_inputs["requestModels"] = {"application/json": route.request_model}
            deps.append(models[route.request_model])
        method = g.add(
            "aws:apigateway/method:Method", f"{name}-api-method-{method_key}", method_inputs, api, tuple(deps)
        )
        integration = g.add(
            "aws:apigateway/integration:Integration",
            f"{name}-api-integration-{method_key}",
            {
                "restApi": api_id,
                "resourceId": method_inputs["resourceId"],
                "httpMethod": route.method,
                "type": "AWS_PROXY",
            },
            api,
            (rest_api, method, function),
        )
        definition += [method, integration]
    for kind in ("THROTTLED", "DEFAULT_4XX"):
        definition.append(
            g.add(
                "aws:apigateway/response:Response",
                f"{name}-api-response-{kind.lower()}",
                {"restApiId": api_id, "responseType": kind},
                api,
                (rest_api,),
            )
        )
    g.add(
        "aws:lambda/permission:Permission",
        f"{name}-api-invoke-permission",
        {
            "action": "lambda:InvokeFunction",
            "function": function_name,
            "principal": "apigateway.amazonaws.com",
            "sourceArn": _arn("execute-api", region, f"{api_id}/*/*"),
        },
        api,
        (rest_api, function),
    )
    deployment = g.add(
        "aws:apigateway/deployment:Deployment",
        f"{name}-api-deployment",
        {"restApi": api_id, "triggers": {"redeployment": "3f786850e387550fdab836ed7e6dc881de23001b"}},
        api,
        (rest_api, *definition),
    )
    account_deps: tuple[RecordedResource, ...] = ()
    if settings.api_gateway.manage_account_role:
        cloudwatch_role = g.add(
            "aws:iam/role:Role",
            f"{name}-api-cloudwatch-role",
            {"assumeRolePolicy": _trust("apigateway.amazonaws.com")},
            api,
        )
        push = g.add(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            f"{name}-api-cloudwatch-push",
            {
                "role": cloudwatch_role.name,
                "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            },
            api,
            (cloudwatch_role,),
        )
        account_deps = (
            g.add(
                "aws:apigateway/account:Account",
                f"{name}-api-account",
                {"cloudwatchRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{cloudwatch_role.name}"},
                api,
                (cloudwatch_role, push),
            ),
        )
    gateway = settings.api_gateway
    access_group = g.add(
        "aws:cloudwatch/logGroup:LogGroup",
        f"{name}-api-access-logs",
        {"name": f"/aws/apigateway/{name}/{gateway.stage_name}/access", "retentionInDays": retention},
        api,
    )
    execution_group = g.add(
        "aws:cloudwatch/logGroup:LogGroup",
        f"{name}-api-execution-logs",
        {"name": f"API-Gateway-Execution-Logs_{api_id}/{gateway.stage_name}", "retentionInDays": retention},
        api,
        (rest_api,),
    )
    log_format = {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "status": "$context.status",
        "apiKeyId": "$context.identity.apiKeyId",
    }
    stage = g.add(
        "aws:apigateway/stage:Stage",
        f"{name}-api-stage",
        {
            "restApi": api_id,
            "deployment": f"{deployment.name}-id",
            "stageName": gateway.stage_name,
            "xrayTracingEnabled": True,
            "accessLogSettings": {
                "destinationArn": _arn("logs", region, f"log-group:{access_group.inputs['name']}"),
                "format": json.dumps(log_format),
            },
        },
        api,
        (rest_api, deployment, access_group, execution_group, *account_deps),
    )
    g.add(
        "aws:apigateway/methodSettings:MethodSettings",
        f"{name}-api-method-settings",
        {
            "restApi": api_id,
            "stageName": gateway.stage_name,
            "methodPath": "*/*",
            "settings": {
                "metricsEnabled": True,
                "loggingLevel": gateway.logging_level.value,
                "dataTraceEnabled": False,
                "throttlingRateLimit": gateway.throttle.rate_limit,
                "throttlingBurstLimit": float(gateway.throttle.burst_limit),
            },
        },
        api,
        (rest_api, stage, *account_deps),
    )

    # --- throttling ---
    thr = g.add("tieredapi:throttling:ThrottlingPlans", f"{name}-throttling", {}, custom=False)
    plans = {}
    for tier, plan in settings.plans.items():
        plans[tier] = g.add(
            "aws:apigateway/usagePlan:UsagePlan",
            f"{name}-throttling-plan-{tier}",
            {
                "name": f"{name}-{tier}",
                "apiStages": [{"apiId": api_id, "stage": gateway.stage_name}],
                "throttleSettings": {
                    "rateLimit": plan.throttle.rate_limit,
                    "burstLimit": float(plan.throttle.burst_limit),
                },
                "quotaSettings": {"limit": float(plan.quota.limit), "period": plan.quota.period.value},
            },
            thr,
            (rest_api, stage),
        )
    for consumer, consumer_settings in settings.consumers.items():
        api_key = g.add(
            "aws:apigateway/apiKey:ApiKey", f"{name}-throttling-key-{consumer}", {"name": f"{name}-{consumer}"}, thr
        )
        g.add(
            "aws:apigateway/usagePlanKey:UsagePlanKey",
            f"{name}-throttling-plan-key-{consumer}",
            {
                "keyId": f"{api_key.name}-id",
                "keyType": "API_KEY",
                "usagePlanId": f"{plans[consumer_settings.plan].name}-id",
            },
            thr,
            (plans[consumer_settings.plan], api_key),
        )

    def visibility(metric: str) -> dict[str, Any]:
        return {"cloudwatchMetricsEnabled": True, "metricName": metric, "sampledRequestsEnabled": True}

    rules: list[dict[str, Any]] = [
        {
            "name": "rate-limit-per-ip",
            "priority": 0.0,
            "action": {"block": {}},
            "statement": {
                "rateBasedStatement": {
                    "aggregateKeyType": "IP",
                    "limit": float(settings.waf.rate_limit),
                    "evaluationWindowSec": float(settings.waf.window_seconds),
                }
            },
            "visibilityConfig": visibility("rate"),
        }
    ]
    for priority, group in enumerate(("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesCommonRuleSet"), 1):
        rules.append(
            {
                "name": group,
                "priority": float(priority),
                "overrideAction": {"none": {}},
                "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": group}},
                "visibilityConfig": visibility(group),
            }
        )
    web_acl = g.add(
        "aws:wafv2/webAcl:WebAcl",
        f"{name}-throttling-web-acl",
        {"scope": "REGIONAL", "defaultAction": {"allow": {}}, "rules": rules, "visibilityConfig": visibility("acl")},
        thr,
    )
    web_acl_arn = _arn("wafv2", region, f"regional/webacl/{web_acl.name}/{web_acl.name}-id")
    g.add(
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        f"{name}-throttling-web-acl-association",
        {
            "resourceArn": f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{gateway.stage_name}",
            "webAclArn": web_acl_arn,
        },
        thr,
        (web_acl, stage),
    )
    waf_group = g.add(
        "aws:cloudwatch/logGroup:LogGroup",
        f"{name}-throttling-waf-logs",
        {"name": f"aws-waf-logs-{name}", "retentionInDays": retention},
        thr,
    )
    g.add(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        f"{name}-throttling-waf-logging",
        {
            "resourceArn": web_acl_arn,
            "logDestinationConfigs": [_arn("logs", region, f"log-group:aws-waf-logs-{name}")],
            "redactedFields": [{"singleHeader": {"name": "x-api-key"}}],
        },
        thr,
        (web_acl, waf_group),
    )

    # --- observability ---
    obs = g.add("tieredapi:observability:Observability", f"{name}-observability", {}, custom=False)
    topic = g.add("aws:sns/topic:Topic", f"{name}-observability-alarms", {}, obs)
    topic_arn = _arn("sns", region, topic.name)
    alarms: list[tuple[str, str, str, float, tuple[RecordedResource, ...]]] = [
        ("lambda-errors", "AWS/Lambda", "Errors", float(settings.alarms.lambda_errors), (function,)),
        ("lambda-throttles", "AWS/Lambda", "Throttles", 1.0, (function,)),
        ("lambda-duration", "AWS/Lambda", "Duration", lam.timeout_seconds * 1000 * 0.8, (function,)),
        ("api-5xx", "AWS/ApiGateway", "5XXError", float(settings.alarms.api_5xx), (rest_api,)),
        ("api-latency", "AWS/ApiGateway", "Latency", float(settings.alarms.api_latency_p99_ms), (rest_api,)),
        ("api-4xx", "AWS/ApiGateway", "4XXError", settings.alarms.api_4xx_share, (rest_api,)),
        ("items-throttles", "AWS/DynamoDB", "ThrottledRequests", 1.0, (items,)),
        ("items-system-errors", "AWS/DynamoDB", "SystemErrors", 1.0, (items,)),
        ("waf-blocked", "AWS/WAFV2", "BlockedRequests", float(settings.alarms.waf_blocked_requests), (web_acl,)),
    ]
    threshold = lam.concurrency_alarm_threshold
    if threshold is not None:
        alarms.insert(0, ("lambda-concurrency", "AWS/Lambda", "ConcurrentExecutions", threshold, (function,)))
    for alarm, namespace, metric, value, watched in alarms:
        g.add(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            f"{name}-observability-{alarm}",
            {
                "namespace": namespace,
                "metricName": metric,
                "threshold": value,
                "comparisonOperator": "GreaterThanOrEqualToThreshold",
                "evaluationPeriods": 1.0,
                "period": float(settings.alarms.period_seconds),
                "dimensions": {"FunctionName": function_name} if namespace == "AWS/Lambda" else {},
                "alarmActions": [topic_arn],
            },
            obs,
            (topic, *watched),
        )
    return g.resources
