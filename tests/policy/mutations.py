"""For every checklist row, one mutation that breaks exactly the property the row checks.

A mutation takes a graph's resources and returns a changed deep copy; it selects resources by type and by what they
are (never by generated names), so the same table breaks the hand-built graph and the real stacks' graphs alike.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.graph import T
from tools.mocks import DYNAMODB_PREFIX_LIST_ID, RecordedResource

__all__ = ["MUTATIONS", "VARIANTS", "Mutation"]

Mutation = Callable[[list[RecordedResource]], list[RecordedResource]]
Inputs = dict[str, Any]


def _always(_: RecordedResource) -> bool:
    return True


def edit(type_: str, change: Callable[[Inputs], None], where: Callable[[RecordedResource], bool] = _always) -> Mutation:
    """Apply ``change`` to the first resource of ``type_`` that ``where`` selects: to its inputs, and to its outputs
    too, as the provider would report the changed resource once deployed."""

    def mutate(resources: list[RecordedResource]) -> list[RecordedResource]:
        copied = copy.deepcopy(resources)
        for resource in copied:
            if resource.type == type_ and where(resource):
                for properties in (resource.inputs, resource.outputs):
                    if properties is not None:
                        change(properties)
                return copied
        raise AssertionError(f"no {type_} to mutate")

    return mutate


def add_beside(
    type_: str,
    new_type: str,
    inputs: Callable[[RecordedResource], Inputs],
    where: Callable[[RecordedResource], bool] = _always,
    *,
    depending: bool = False,
) -> Mutation:
    """Add a resource of ``new_type`` with ``inputs(first)`` beside the first ``type_`` that ``where`` selects (same
    parent and dependencies; with ``depending``, the same parent and a dependency on that resource alone)."""

    def mutate(resources: list[RecordedResource]) -> list[RecordedResource]:
        copied = copy.deepcopy(resources)
        first = next((r for r in copied if r.type == type_ and where(r)), None)
        if first is None:
            raise AssertionError(f"no {type_} to add a {new_type} beside")
        name = f"{first.name}-added"
        urn = f"{first.urn.rsplit('::', 1)[0].replace(first.type, new_type)}::{name}"
        dependencies = (first.urn,) if depending else first.dependencies
        added = dataclasses.replace(
            first, urn=urn, type=new_type, name=name, inputs=inputs(first), outputs=None, dependencies=dependencies
        )
        copied.append(added)
        return copied

    return mutate


def drop(type_: str, where: Callable[[RecordedResource], bool] = _always) -> Mutation:
    """Remove the first resource of ``type_`` that ``where`` selects (links to it vanish, as in CrossGuard)."""

    def mutate(resources: list[RecordedResource]) -> list[RecordedResource]:
        victim = next((r for r in resources if r.type == type_ and where(r)), None)
        if victim is None:
            raise AssertionError(f"no {type_} to drop")
        return [copy.deepcopy(r) for r in resources if r is not victim]

    return mutate


def unlink(type_: str, dependency_type: str) -> Mutation:
    """Make the first resource of ``type_`` stop waiting for the resources of ``dependency_type`` it depends on."""

    def mutate(resources: list[RecordedResource]) -> list[RecordedResource]:
        copied = copy.deepcopy(resources)
        kinds = {r.urn: r.type for r in copied}
        for index, resource in enumerate(copied):
            if resource.type == type_:
                kept = tuple(d for d in resource.dependencies if kinds.get(d) != dependency_type)
                if kept == resource.dependencies:
                    raise AssertionError(f"the first {type_} does not depend on a {dependency_type}")
                copied[index] = dataclasses.replace(resource, dependencies=kept)
                return copied
        raise AssertionError(f"no {type_} to unlink")

    return mutate


def in_turn(*mutations: Mutation) -> Mutation:
    """Apply ``mutations`` one after the other."""

    def mutate(resources: list[RecordedResource]) -> list[RecordedResource]:
        for mutation in mutations:
            resources = mutation(resources)
        return resources

    return mutate


def at_a_first_preview(resources: list[RecordedResource]) -> list[RecordedResource]:
    """A stack's first preview as CrossGuard sees it: nothing exists yet, so every value AWS assigns (each resource's
    id and the outputs it computes) is unknown, and so is every input built from one. What the program reads from
    invokes (the DynamoDB prefix list) is known."""
    assigned = {f"{r.name}-id" for r in resources}
    assigned |= {v for r in resources for k, v in (r.outputs or {}).items() if k not in r.inputs and isinstance(v, str)}
    assigned -= {DYNAMODB_PREFIX_LIST_ID}

    def planned(value: Any) -> Any:
        if isinstance(value, str):
            return UNKNOWN_STRING_VALUE if any(part in value for part in assigned) else value
        if isinstance(value, list):
            return [planned(item) for item in value]
        if isinstance(value, dict):
            return {key: planned(item) for key, item in value.items()}
        return value

    return [dataclasses.replace(r, inputs=planned(r.inputs), outputs=None) for r in resources]


def setting(*path: str, value: Any) -> Callable[[Inputs], None]:
    def change(inputs: Inputs) -> None:
        target = inputs
        for step in path[:-1]:
            target = target.setdefault(step, {})
        target[path[-1]] = value

    return change


def remove(key: str) -> Callable[[Inputs], None]:
    def change(inputs: Inputs) -> None:
        inputs.pop(key)

    return change


def _json_edit(key: str, change: Callable[[Any], None]) -> Callable[[Inputs], None]:
    """Edit a JSON-string property (policy documents, schemas, log formats) as data."""

    def edit_json(inputs: Inputs) -> None:
        document = json.loads(inputs[key])
        change(document)
        inputs[key] = json.dumps(document)

    return edit_json


def _access_log_without_api_key(inputs: Inputs) -> None:
    log_format = json.loads(inputs["accessLogSettings"]["format"])
    inputs["accessLogSettings"]["format"] = json.dumps(
        {k: v for k, v in log_format.items() if v != "$context.identity.apiKeyId"}
    )


def _loosen_schema(schema: dict[str, Any]) -> None:
    schema["additionalProperties"] = True


def _common_rules_count_only(inputs: Inputs) -> None:
    for rule in inputs["rules"]:
        group = rule.get("statement", {}).get("managedRuleGroupStatement", {})
        if group.get("name") == "AWSManagedRulesCommonRuleSet":
            rule["overrideAction"] = {"count": {}}


def in_group(group: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Inputs], None]:
    """Edit the managed rule group statement running ``group``."""

    def change_group(inputs: Inputs) -> None:
        for rule in inputs["rules"]:
            statement = rule.get("statement", {}).get("managedRuleGroupStatement")
            if statement is not None and statement.get("name") == group:
                change(statement)

    return change_group


def override_rules(action: str, *rules: str) -> Callable[[dict[str, Any]], None]:
    def override(statement: dict[str, Any]) -> None:
        added = [{"name": r, "actionToUse": {action: {}}} for r in rules]
        statement["ruleActionOverrides"] = [*statement.get("ruleActionOverrides", []), *added]

    return override


def _scope_down(statement: dict[str, Any]) -> None:
    statement["scopeDownStatement"] = {
        "byteMatchStatement": {
            "fieldToMatch": {"uriPath": {}},
            "positionalConstraint": "STARTS_WITH",
            "searchString": "/admin",
            "textTransformations": [{"priority": 0.0, "type": "NONE"}],
        }
    }


def _exclude_rules(*rules: str) -> Callable[[dict[str, Any]], None]:
    def exclude(statement: dict[str, Any]) -> None:
        statement["excludedRules"] = [{"name": r} for r in rules]

    return exclude


# S3's in us-east-1: a real AWS-managed list, of another service.
S3_PREFIX_LIST_ID = "pl-63a5400a"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
COMMON = "AWSManagedRulesCommonRuleSet"
LOG4J_RULES = ("Log4JRCE_HEADER", "Log4JRCE_QUERYSTRING", "Log4JRCE_BODY", "Log4JRCE_URIPATH")


def in_rate_rule(change: Callable[[dict[str, Any]], None]) -> Callable[[Inputs], None]:
    """Edit the rate-based statement of the web ACL's rate rule."""

    def change_rate_rule(inputs: Inputs) -> None:
        for rule in inputs["rules"]:
            statement = rule.get("statement", {}).get("rateBasedStatement")
            if statement is not None:
                change(statement)

    return change_rate_rule


def _window(seconds: float) -> Callable[[dict[str, Any]], None]:
    def change(statement: dict[str, Any]) -> None:
        statement["evaluationWindowSec"] = seconds

    return change


def _by_forwarded_ip(statement: dict[str, Any]) -> None:
    statement["aggregateKeyType"] = "FORWARDED_IP"
    statement["forwardedIpConfig"] = {"headerName": "X-Forwarded-For", "fallbackBehavior": "MATCH"}


def _rule_metrics_off(inputs: Inputs) -> None:
    inputs["rules"][-1]["visibilityConfig"]["cloudwatchMetricsEnabled"] = False


def _add_scan(document: dict[str, Any]) -> None:
    statement = document["Statement"][0]
    statement["Action"] = [*_as_list(statement["Action"]), "dynamodb:Scan"]


def in_dynamodb_statement(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """Edit the first statement of a policy document that grants DynamoDB actions."""

    def change_statement(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            if any(str(a).startswith("dynamodb:") for a in _as_list(statement["Action"])):
                change(statement)
                return

    return change_statement


def _every_table(statement: dict[str, Any]) -> None:
    statement["Resource"] = "arn:aws:dynamodb:us-east-1:123456789012:table/*"


def _allow(action: str, resource: str, condition: dict[str, Any] | None = None) -> Callable[[Inputs], None]:
    """Add a statement allowing ``action`` on ``resource`` (under ``condition``, if any) to the policy document (a
    new one where there is none)."""

    def change(inputs: Inputs) -> None:
        document = json.loads(inputs.get("policy") or '{"Version": "2012-10-17", "Statement": []}')
        statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
        if condition is not None:
            statement["Condition"] = condition
        document["Statement"] = [*_as_list(document["Statement"]), statement]
        inputs["policy"] = json.dumps(document)

    return change


ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
_TRUST_LAMBDA = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _attach_to_roles(attachment: RecordedResource) -> Inputs:
    """An aws.iam.PolicyAttachment of AdministratorAccess to the role ``attachment`` attaches a policy to."""
    return {"policyArn": ADMINISTRATOR_ACCESS, "roles": [attachment.inputs["role"]]}


def _attach_exclusively(attachment: RecordedResource) -> Inputs:
    """An aws.iam.RolePolicyAttachmentsExclusive holding ``attachment``'s policy and AdministratorAccess."""
    return {"roleName": attachment.inputs["role"], "policyArns": [attachment.inputs["policyArn"], ADMINISTRATOR_ACCESS]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _egress_anywhere(blocks: str, anywhere: str) -> Callable[[Inputs], None]:
    """Add an every-protocol egress rule to ``anywhere`` (``blocks``: cidrBlocks or ipv6CidrBlocks)."""

    def change(inputs: Inputs) -> None:
        inputs["egress"] = [
            *inputs["egress"],
            {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, blocks: [anywhere]},
        ]

    return change


def _by_exclusion(document: dict[str, Any]) -> None:
    statement = document["Statement"][0]
    statement["NotAction"] = statement.pop("Action")


def _on_another_api(inputs: Inputs) -> None:
    """Point a stage ARN at the stage of the same name of another REST API."""
    before, _, after = inputs["resourceArn"].partition("/restapis/")
    inputs["resourceArn"] = f"{before}/restapis/another-api-id/{after.split('/', 1)[1]}"


def _bound_to_another_api(inputs: Inputs) -> None:
    """Bind a usage plan to the stage of the same name of another REST API."""
    inputs["apiStages"] = [{**stage, "apiId": "another-api-id"} for stage in inputs["apiStages"]]


def _execution_logs_of_another_api(inputs: Inputs) -> None:
    """Name the execution log group after another REST API (same stage name)."""
    stage = inputs["name"].rsplit("/", 1)[1]
    inputs["name"] = f"API-Gateway-Execution-Logs_another-api-id/{stage}"


def _deny_trust(document: dict[str, Any]) -> None:
    for statement in document["Statement"]:
        statement["Effect"] = "Deny"


def _flow_log_of_one_subnet(inputs: Inputs) -> None:
    """Log one subnet's traffic instead of the VPC's."""
    inputs["subnetId"] = inputs.pop("vpcId").removesuffix("-vpc-id") + "-private-subnet-id"


def _https_egress_from(group: RecordedResource) -> Inputs:
    """An aws.vpc.SecurityGroupEgressRule adding HTTPS egress inside the network to ``group``."""
    return {
        "securityGroupId": f"{group.name}-id",
        "ipProtocol": "tcp",
        "fromPort": 443.0,
        "toPort": 443.0,
        "cidrIpv4": "10.0.0.0/8",
    }


def _read_capacity_target(table: RecordedResource) -> Inputs:
    """An aws.appautoscaling.Target scaling ``table``'s reads (and not its writes)."""
    return {
        "serviceNamespace": "dynamodb",
        "resourceId": f"table/{table.name}",
        "scalableDimension": "dynamodb:table:ReadCapacityUnits",
        "minCapacity": 5.0,
        "maxCapacity": 100.0,
    }


def _data_trace_on_one_method(settings: RecordedResource) -> Inputs:
    """Method settings of one method of the stage, as the stage's */* ones but with data trace on."""
    return {
        **settings.inputs,
        "methodPath": "items/POST",
        "settings": {**settings.inputs["settings"], "dataTraceEnabled": True},
    }


def _same_tables_in_another_region(statement: dict[str, Any]) -> None:
    """Point the statement's resources at the tables of the same names in another region."""
    statement["Resource"] = [
        r.replace(":dynamodb:us-east-1:", ":dynamodb:us-west-2:") for r in _as_list(statement["Resource"])
    ]


def _https_to_dynamodb_addresses(inputs: Inputs) -> None:
    """Egress to DynamoDB's published address ranges instead of its prefix list."""
    for rule in inputs["egress"]:
        rule.pop("prefixListIds")
        rule["cidrBlocks"] = ["52.94.0.0/22", "52.119.224.0/20"]


def _https_to_prefix_list(prefix_list: str, *, beside_dynamodb: bool) -> Callable[[Inputs], None]:
    """HTTPS egress to ``prefix_list``: instead of DynamoDB's, or as one more rule beside it."""

    def change(inputs: Inputs) -> None:
        rule = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "prefixListIds": [prefix_list]}
        inputs["egress"] = [*inputs["egress"], rule] if beside_dynamodb else [rule]

    return change


def _validates_parameters_only(resource: RecordedResource) -> bool:
    return resource.inputs.get("validateRequestBody") is False


def _trusts_api_gateway(resource: RecordedResource) -> bool:
    return "apigateway.amazonaws.com" in str(resource.inputs.get("assumeRolePolicy", ""))


def _is_execution_log_group(resource: RecordedResource) -> bool:
    return str(resource.inputs.get("name", "")).startswith("API-Gateway-Execution-Logs_")


def _is_items_table(resource: RecordedResource) -> bool:
    return resource.inputs.get("hashKey") == "id"


def _grants_dynamodb(resource: RecordedResource) -> bool:
    return "dynamodb:" in str(resource.inputs.get("policy", ""))


def _is_body_model(resource: RecordedResource) -> bool:
    return resource.inputs.get("name") == "CreateItemRequest"


def _has_prefix_list_egress(resource: RecordedResource) -> bool:
    return "prefixListIds" in json.dumps(resource.inputs.get("egress", []))


def _watches_waf(resource: RecordedResource) -> bool:
    return resource.inputs.get("namespace") == "AWS/WAFV2"


# Row id -> (stack whose graph is broken, the mutation). Prod where the row only applies to what prod asks for.
MUTATIONS: dict[str, tuple[str, Mutation]] = {
    "APIGW-ACCESSLOG": ("dev", edit(T.STAGE, _access_log_without_api_key)),
    "APIGW-XRAY": ("dev", edit(T.STAGE, setting("xrayTracingEnabled", value=False))),
    "APIGW-METHODSETTINGS": ("dev", edit(T.METHOD_SETTINGS, setting("settings", "dataTraceEnabled", value=True))),
    "APIGW-ACCOUNT": ("dev", drop(T.ACCOUNT)),
    "APIGW-AUTH": ("dev", edit(T.METHOD, setting("apiKeyRequired", value=False))),
    "APIGW-VALIDATOR": ("dev", edit(T.MODEL, _json_edit("schema", _loosen_schema), _is_body_model)),
    "APIGW-REGIONAL": ("dev", edit(T.REST_API, setting("endpointConfiguration", "types", value="EDGE"))),
    "APIGW-USAGEPLANS": ("dev", drop(T.USAGE_PLAN_KEY)),
    "APIGW-REDEPLOY": ("dev", edit(T.DEPLOYMENT, setting("triggers", value={}))),
    "WAF-RATE": ("dev", edit(T.WEB_ACL, in_rate_rule(_window(60.0)))),
    "WAF-MANAGED": ("dev", edit(T.WEB_ACL, _common_rules_count_only)),
    # The CDK sample's bug: the association names the REST API, not its stage.
    "WAF-ASSOC": (
        "dev",
        edit(T.WEB_ACL_ASSOCIATION, setting("resourceArn", value="arn:aws:apigateway:us-east-1::/restapis/api-id")),
    ),
    "WAF-LOGGING": ("dev", edit(T.WEB_ACL_LOGGING, setting("redactedFields", value=[]))),
    "WAF-METRICS": ("dev", edit(T.WEB_ACL, _rule_metrics_off)),
    "LAMBDA-XRAY": ("dev", edit(T.FUNCTION, setting("tracingConfig", "mode", value="PassThrough"))),
    "LAMBDA-VPC": ("dev", edit(T.SUBNET, setting("mapPublicIpOnLaunch", value=True))),
    "LAMBDA-CONCURRENCY": ("dev", edit(T.FUNCTION, remove("reservedConcurrentExecutions"))),
    "LAMBDA-TIMEOUT": ("dev", edit(T.FUNCTION, setting("timeout", value=60.0))),
    "LAMBDA-RUNTIME": ("dev", edit(T.FUNCTION, setting("runtime", value="python3.9"))),
    "LAMBDA-LOGS": ("dev", edit(T.FUNCTION, setting("loggingConfig", "logFormat", value="Text"))),
    "LAMBDA-PERMISSION": (
        "dev",
        edit(T.PERMISSION, setting("sourceArn", value="arn:aws:execute-api:us-east-1:123456789012:*/*/*")),
    ),
    "LAMBDA-ENV-SECRETS": (
        "dev",
        edit(T.FUNCTION, setting("environment", "variables", "DB_PASSWORD", value="correct-horse-battery")),
    ),
    "DDB-PITR": ("dev", edit(T.TABLE, setting("pointInTimeRecovery", "enabled", value=False))),
    "DDB-SSE": ("prod", edit(T.TABLE, lambda inputs: inputs["serverSideEncryption"].pop("kmsKeyArn"), _is_items_table)),
    "DDB-BILLING": ("dev", edit(T.TABLE, setting("billingMode", value="PROVISIONED"))),
    "DDB-STREAM": ("dev", edit(T.TABLE, setting("streamEnabled", value=False), _is_items_table)),
    "DDB-DELETION": ("prod", edit(T.TABLE, setting("deletionProtectionEnabled", value=False))),
    "VPC-FLOWLOG": ("dev", edit(T.FLOW_LOG, setting("trafficType", value="REJECT"))),
    "VPC-DEFAULT-SG": (
        "dev",
        edit(
            T.DEFAULT_SECURITY_GROUP,
            setting("ingress", value=[{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]),
        ),
    ),
    "VPC-DDB-ENDPOINT": ("dev", edit(T.VPC_ENDPOINT, _json_edit("policy", _add_scan))),
    "SG-EGRESS": ("dev", edit(T.SECURITY_GROUP, _egress_anywhere("cidrBlocks", "0.0.0.0/0"), _has_prefix_list_egress)),
    "LOG-RETENTION": ("dev", edit(T.LOG_GROUP, setting("retentionInDays", value=3653.0))),
    "IAM-NO-STAR": (
        "dev",
        edit(T.ROLE_POLICY, _json_edit("policy", in_dynamodb_statement(_every_table)), _grants_dynamodb),
    ),
    "IAM-MANAGED": (
        "dev",
        edit(T.ROLE_POLICY_ATTACHMENT, setting("policyArn", value="arn:aws:iam::aws:policy/AdministratorAccess")),
    ),
    "ALARMS": ("dev", drop(T.METRIC_ALARM, _watches_waf)),
}

# Further ways to break a row, each one the pack once let pass: variant -> (row it must fire, stack, the mutation).
VARIANTS: dict[str, tuple[str, str, Mutation]] = {
    "alarm-actions-disabled": ("ALARMS", "dev", edit(T.METRIC_ALARM, setting("actionsEnabled", value=False))),
    "iam-dynamodb-action-in-other-case-on-every-table": (
        "IAM-NO-STAR",
        "dev",
        edit(
            T.ROLE_POLICY, _allow("DynamoDB:Scan", "arn:aws:dynamodb:us-east-1:123456789012:table/*"), _grants_dynamodb
        ),
    ),
    "iam-key-policy-every-kms-action-in-other-case": (
        "IAM-NO-STAR",
        "prod",
        edit(T.KMS_KEY, _allow("KMS:*", "*")),
    ),
    "iam-policy-attachment-of-administrator-access": (
        "IAM-MANAGED",
        "dev",
        add_beside(T.ROLE_POLICY_ATTACHMENT, T.POLICY_ATTACHMENT, _attach_to_roles),
    ),
    "iam-exclusive-role-attachments-with-administrator-access": (
        "IAM-MANAGED",
        "dev",
        add_beside(T.ROLE_POLICY_ATTACHMENT, T.ROLE_POLICY_ATTACHMENTS_EXCLUSIVE, _attach_exclusively),
    ),
    "waf-log4j-rules-counted": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(KNOWN_BAD_INPUTS, override_rules("count", *LOG4J_RULES))),
    ),
    "waf-known-bad-inputs-rule-allowed": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(KNOWN_BAD_INPUTS, override_rules("allow", "JavaDeserializationRCE_BODY"))),
    ),
    "waf-common-rule-other-than-body-size-counted": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(COMMON, override_rules("count", "CrossSiteScripting_BODY"))),
    ),
    "waf-common-body-size-rule-allowed": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(COMMON, override_rules("allow", "SizeRestrictions_BODY"))),
    ),
    "waf-known-bad-inputs-scoped-down": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(KNOWN_BAD_INPUTS, _scope_down)),
    ),
    "waf-common-scoped-down": ("WAF-MANAGED", "dev", edit(T.WEB_ACL, in_group(COMMON, _scope_down))),
    # A client sets X-Forwarded-For itself: a limit per forwarded address is a limit per header value.
    "waf-rate-by-forwarded-ip": ("WAF-RATE", "dev", edit(T.WEB_ACL, in_rate_rule(_by_forwarded_ip))),
    "waf-logs-redact-another-header": (
        "WAF-LOGGING",
        "dev",
        edit(T.WEB_ACL_LOGGING, setting("redactedFields", value=[{"singleHeader": {"name": "x-forwarded-for"}}])),
    ),
    "iam-every-action-of-a-service": (
        "IAM-NO-STAR",
        "dev",
        edit(T.ROLE_POLICY, _allow("s3:*", "arn:aws:s3:::tiered-api-example"), _grants_dynamodb),
    ),
    "lambda-reserved-concurrency-zero": (
        "LAMBDA-CONCURRENCY",
        "dev",
        edit(T.FUNCTION, setting("reservedConcurrentExecutions", value=0.0)),
    ),
    "lambda-env-temporary-access-key-id": (
        "LAMBDA-ENV-SECRETS",
        "dev",
        edit(T.FUNCTION, setting("environment", "variables", "UPSTREAM_PRINCIPAL", value="ASIAIOSFODNN7EXAMPLE")),
    ),
    "lambda-env-token-by-name": (
        "LAMBDA-ENV-SECRETS",
        "dev",
        edit(T.FUNCTION, setting("environment", "variables", "AUTH_TOKEN", value="placeholder")),
    ),
    # Invocations through another REST API of the account are not this API's.
    "lambda-permission-for-another-api": (
        "LAMBDA-PERMISSION",
        "dev",
        edit(
            T.PERMISSION,
            setting("sourceArn", value="arn:aws:execute-api:us-east-1:123456789012:another-api-id/dev/*/*"),
        ),
    ),
    "lambda-permission-every-action": (
        "LAMBDA-PERMISSION",
        "dev",
        edit(T.PERMISSION, setting("action", value="lambda:*")),
    ),
    "ddb-table-key-without-rotation": ("DDB-SSE", "prod", edit(T.KMS_KEY, setting("enableKeyRotation", value=False))),
    "vpc-flowlog-accepted-traffic-only": (
        "VPC-FLOWLOG",
        "dev",
        edit(T.FLOW_LOG, setting("trafficType", value="ACCEPT")),
    ),
    "sg-egress-ipv6-anywhere": (
        "SG-EGRESS",
        "dev",
        edit(T.SECURITY_GROUP, _egress_anywhere("ipv6CidrBlocks", "::/0"), _has_prefix_list_egress),
    ),
    "apigw-plan-rate-zero": (
        "APIGW-USAGEPLANS",
        "dev",
        edit(T.USAGE_PLAN, setting("throttleSettings", "rateLimit", value=0.0)),
    ),
    "iam-scopable-ec2-action-on-every-resource": (
        "IAM-NO-STAR",
        "dev",
        edit(T.ROLE_POLICY, _allow("ec2:TerminateInstances", "*"), _grants_dynamodb),
    ),
    "iam-govcloud-managed-policy-not-on-the-allow-list": (
        "IAM-MANAGED",
        "dev",
        edit(
            T.ROLE_POLICY_ATTACHMENT,
            setting("policyArn", value="arn:aws-us-gov:iam::aws:policy/AdministratorAccess"),
        ),
    ),
    # A condition narrows who may call, not what the key lets them do.
    "iam-key-policy-every-kms-action-under-a-condition": (
        "IAM-NO-STAR",
        "prod",
        edit(T.KMS_KEY, _allow("kms:*", "*", {"StringEquals": {"kms:CallerAccount": "123456789012"}})),
    ),
    "waf-association-names-another-stage": (
        "WAF-ASSOC",
        "dev",
        edit(
            T.WEB_ACL_ASSOCIATION,
            setting("resourceArn", value="arn:aws:apigateway:us-east-1::/restapis/api-id/stages/canary"),
        ),
    ),
    # The same stage name on another REST API is not this stage: the ARN must name this API too.
    "waf-association-names-the-stage-of-another-api": (
        "WAF-ASSOC",
        "dev",
        edit(T.WEB_ACL_ASSOCIATION, _on_another_api),
    ),
    "lambda-subnet-routed-to-a-nat-gateway-of-another-stack": (
        "LAMBDA-VPC",
        "dev",
        edit(T.ROUTE_TABLE, setting("routes", value=[{"cidrBlock": "0.0.0.0/0", "natGatewayId": "nat-0a1b2c3d4e"}])),
    ),
    "lambda-in-a-subnet-the-stack-does-not-create": (
        "LAMBDA-VPC",
        "dev",
        edit(T.FUNCTION, lambda inputs: inputs["vpcConfig"]["subnetIds"].append("subnet-0elsewhere")),
    ),
    "apigw-parameters-validator-skips-parameters": (
        "APIGW-VALIDATOR",
        "dev",
        edit(T.REQUEST_VALIDATOR, setting("validateRequestParameters", value=False), _validates_parameters_only),
    ),
    "apigw-plan-does-not-wait-for-the-stage": ("APIGW-USAGEPLANS", "dev", unlink(T.USAGE_PLAN, T.STAGE)),
    "apigw-account-role-trusts-another-service": (
        "APIGW-ACCOUNT",
        "dev",
        edit(T.ROLE, setting("assumeRolePolicy", value=_TRUST_LAMBDA), _trusts_api_gateway),
    ),
    "apigw-keys-from-an-authorizer-there-is-none-of": (
        "APIGW-AUTH",
        "dev",
        edit(T.REST_API, setting("apiKeySource", value="AUTHORIZER")),
    ),
    "vpc-endpoint-policy-by-exclusion": (
        "VPC-DDB-ENDPOINT",
        "dev",
        edit(T.VPC_ENDPOINT, _json_edit("policy", _by_exclusion)),
    ),
    "sg-https-to-dynamodb-addresses-not-its-prefix-list": (
        "SG-EGRESS",
        "dev",
        edit(T.SECURITY_GROUP, _https_to_dynamodb_addresses, _has_prefix_list_egress),
    ),
    "sg-https-to-s3s-prefix-list-instead-of-dynamodbs": (
        "SG-EGRESS",
        "dev",
        edit(
            T.SECURITY_GROUP, _https_to_prefix_list(S3_PREFIX_LIST_ID, beside_dynamodb=False), _has_prefix_list_egress
        ),
    ),
    "sg-https-to-a-customer-managed-prefix-list-beside-dynamodbs": (
        "SG-EGRESS",
        "dev",
        edit(
            T.SECURITY_GROUP,
            _https_to_prefix_list("pl-0123456789abcdef0", beside_dynamodb=True),
            _has_prefix_list_egress,
        ),
    ),
    "vpc-default-sg-egress": (
        "VPC-DEFAULT-SG",
        "dev",
        edit(T.DEFAULT_SECURITY_GROUP, _egress_anywhere("cidrBlocks", "0.0.0.0/0")),
    ),
    "vpc-flowlog-without-a-delivery-role": ("VPC-FLOWLOG", "dev", edit(T.FLOW_LOG, remove("iamRoleArn"))),
    "waf-known-bad-inputs-rules-excluded": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(KNOWN_BAD_INPUTS, _exclude_rules(*LOG4J_RULES))),
    ),
    "waf-common-rule-excluded": (
        "WAF-MANAGED",
        "dev",
        edit(T.WEB_ACL, in_group(COMMON, _exclude_rules("CrossSiteScripting_BODY"))),
    ),
    # Method settings of the same stage name on another REST API leave this stage's methods unset.
    "apigw-method-settings-for-the-stage-of-another-api": (
        "APIGW-METHODSETTINGS",
        "dev",
        edit(T.METHOD_SETTINGS, setting("restApi", value="another-api-id")),
    ),
    # A plan bound to the same stage name on another REST API throttles nothing of this stage.
    "apigw-plan-bound-to-the-stage-of-another-api": (
        "APIGW-USAGEPLANS",
        "dev",
        edit(T.USAGE_PLAN, _bound_to_another_api),
    ),
    # API Gateway writes this stage's execution logs to a group named after its own API id: it creates that one itself.
    "log-execution-group-of-another-api": (
        "LOG-RETENTION",
        "dev",
        edit(T.LOG_GROUP, _execution_logs_of_another_api, _is_execution_log_group),
    ),
    # A trust statement that denies API Gateway makes the role unassumable by it.
    "apigw-account-role-trust-denies-api-gateway": (
        "APIGW-ACCOUNT",
        "dev",
        edit(T.ROLE, _json_edit("assumeRolePolicy", _deny_trust), _trusts_api_gateway),
    ),
    # A flow log of one subnet is not the VPC's: the other subnets' traffic goes unlogged.
    "vpc-flowlog-of-one-subnet-only": ("VPC-FLOWLOG", "dev", edit(T.FLOW_LOG, _flow_log_of_one_subnet)),
    # A scoped-down rate rule counts and blocks only the requests inside the scope: an IP flooding other paths is not.
    "waf-rate-scoped-down": ("WAF-RATE", "dev", edit(T.WEB_ACL, in_rate_rule(_scope_down))),
    # An egress-only internet gateway gives the subnet a route to the IPv6 internet.
    "lambda-subnet-routed-to-an-egress-only-gateway-of-another-stack": (
        "LAMBDA-VPC",
        "dev",
        edit(
            T.ROUTE_TABLE,
            setting("routes", value=[{"ipv6CidrBlock": "::/0", "egressOnlyGatewayId": "eigw-0a1b2c3d4e"}]),
        ),
    ),
    # A rule resource attached to the default security group gives it a rule its empty inline lists do not show.
    "vpc-default-sg-rule-resource": (
        "VPC-DEFAULT-SG",
        "dev",
        add_beside(T.DEFAULT_SECURITY_GROUP, T.EGRESS_RULE, _https_egress_from, depending=True),
    ),
    # Provisioned writes without autoscaling throttle under load however the reads scale.
    "ddb-provisioned-with-read-autoscaling-only": (
        "DDB-BILLING",
        "dev",
        in_turn(
            edit(T.TABLE, setting("billingMode", value="PROVISIONED")),
            add_beside(T.TABLE, T.SCALING_TARGET, _read_capacity_target, depending=True),
        ),
    ),
    # One method's settings override the stage's */* ones: its requests and responses land in the logs whole.
    "apigw-data-trace-on-one-method": (
        "APIGW-METHODSETTINGS",
        "dev",
        add_beside(T.METHOD_SETTINGS, T.METHOD_SETTINGS, _data_trace_on_one_method),
    ),
    # A table of the same name in another region is another stack's table.
    "iam-dynamodb-on-the-same-table-in-another-region": (
        "IAM-NO-STAR",
        "dev",
        edit(
            T.ROLE_POLICY, _json_edit("policy", in_dynamodb_statement(_same_tables_in_another_region)), _grants_dynamodb
        ),
    ),
}
