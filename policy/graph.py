"""Read-only helpers over the resources CrossGuard hands a policy: types, links between resources, documents.

Everything here works on the engine's view: camelCase property names, values that may be ``Mapping``/``Sequence``
proxies (CrossGuard wraps props to detect unknowns), and links only through parents and dependencies (a policy
never sees ids). Rules use these helpers so that a property is read one way everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pulumi_policy.proxy import UnknownValueError

__all__ = [
    "Finding",
    "LinkedResource",
    "ResourceLike",
    "StackGraph",
    "StageKey",
    "T",
    "as_list",
    "boolean",
    "flag",
    "json_document",
    "known_items",
    "known_text",
    "mapping",
    "number",
    "plain",
    "policy_statements",
    "same_stage",
    "stage_key",
    "statement_values",
]


class T:
    """pulumi_aws 7 type tokens the rules read."""

    ACCOUNT = "aws:apigateway/account:Account"
    API_KEY = "aws:apigateway/apiKey:ApiKey"
    DEPLOYMENT = "aws:apigateway/deployment:Deployment"
    INTEGRATION = "aws:apigateway/integration:Integration"
    METHOD = "aws:apigateway/method:Method"
    METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
    MODEL = "aws:apigateway/model:Model"
    REQUEST_VALIDATOR = "aws:apigateway/requestValidator:RequestValidator"
    API_RESOURCE = "aws:apigateway/resource:Resource"
    GATEWAY_RESPONSE = "aws:apigateway/response:Response"
    REST_API = "aws:apigateway/restApi:RestApi"
    STAGE = "aws:apigateway/stage:Stage"
    USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
    USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
    SCALING_TARGET = "aws:appautoscaling/target:Target"
    LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
    METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
    TABLE = "aws:dynamodb/table:Table"
    DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
    FLOW_LOG = "aws:ec2/flowLog:FlowLog"
    ROUTE = "aws:ec2/route:Route"
    ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
    INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
    EGRESS_ONLY_INTERNET_GATEWAY = "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway"
    NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
    ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
    SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
    SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
    EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
    INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    SUBNET = "aws:ec2/subnet:Subnet"
    VPC = "aws:ec2/vpc:Vpc"
    VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
    IAM_POLICY = "aws:iam/policy:Policy"
    ROLE = "aws:iam/role:Role"
    ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
    ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    ROLE_POLICY_ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
    POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
    KMS_KEY = "aws:kms/key:Key"
    FUNCTION = "aws:lambda/function:Function"
    PERMISSION = "aws:lambda/permission:Permission"
    TOPIC = "aws:sns/topic:Topic"
    WEB_ACL = "aws:wafv2/webAcl:WebAcl"
    WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
    WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"


class ResourceLike(Protocol):
    """What ``ResourceValidationArgs`` and ``PolicyResource`` have in common."""

    @property
    def resource_type(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def urn(self) -> str: ...
    @property
    def name(self) -> str: ...


class LinkedResource(ResourceLike, Protocol):
    """A ``PolicyResource``: a resource with its parent and dependencies resolved to resources."""

    @property
    def dependencies(self) -> list[Any]: ...


def known_text(props: Mapping[str, Any], key: str) -> str | None:
    """``props[key]`` as text, empty when absent; ``None`` while it is unknown (at a stack's first preview, what AWS
    assigns: ids, ARNs). Reading it through this, a rule can still check what is known rather than turn advisory."""
    try:
        return str(props.get(key) or "")
    except UnknownValueError:
        return None


def known_items(props: Mapping[str, Any], key: str) -> list[Any] | None:
    """``props[key]`` as ``as_list`` gives it, each unknown element as ``None``; ``None`` when the whole value is."""
    try:
        value = props.get(key)
    except UnknownValueError:
        return None
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return as_list(value)
    items = []
    for index in range(len(value)):
        try:
            items.append(value[index])
        except UnknownValueError:
            items.append(None)
    return items


StageKey = tuple[str | None, str]


def stage_key(resource: ResourceLike) -> StageKey:
    """(REST API id, stage name) of a stage, or of a resource naming one by its ``restApi`` and ``stageName`` inputs.

    A policy never sees a REST API's id itself, but a stage's ``restApi`` input holds it; the same stage name on
    another API is another stage. The id is ``None`` until AWS has created the API.
    """
    return known_text(resource.props, "restApi"), str(resource.props.get("stageName", ""))


def same_stage(one: StageKey, other: StageKey) -> bool:
    """The same stage name on the same REST API; at a first preview, where an API id is not known yet, the same name."""
    (one_api, one_name), (other_api, other_name) = one, other
    return one_name == other_name and (one_api is None or other_api is None or one_api == other_api)


@dataclass(frozen=True)
class Finding:
    """One violation found by a stack rule; ``urn`` None blames the stack as a whole."""

    message: str
    urn: str | None = None


def as_list(value: Any) -> list[Any]:
    """A property that may be absent, a single value, or a (proxied) sequence, as a list."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def mapping(value: Any) -> Mapping[str, Any]:
    """A nested block property that may be absent (or not a block at all) as a mapping, empty then."""
    return value if isinstance(value, Mapping) else {}


def plain(value: Any) -> Any:
    """Proxied props as plain dicts and lists (for comparing documents)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


def boolean(value: Any) -> bool | None:
    """A boolean as it arrives: a real one, or "true"/"false" as a string from some providers' state; None when
    absent or anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def flag(value: Any) -> bool:
    """Only a real true counts."""
    return boolean(value) is True


def number(value: Any) -> float | None:
    """Numbers arrive as floats (sometimes strings); None when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def json_document(value: Any) -> Any:
    """A JSON document property (IAM policy, model schema, access-log format) as data; None when unreadable."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def policy_statements(value: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM-style policy document property."""
    document = json_document(value)
    if not isinstance(document, Mapping):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def statement_values(statement: Mapping[str, Any], key: str) -> list[str]:
    return [str(v) for v in as_list(statement.get(key))]


class StackGraph:
    """The stack's resources with their links: by type, by URN, and who depends on whom."""

    def __init__(self, resources: Iterable[LinkedResource]) -> None:
        self.resources = list(resources)

    def of_type(self, *types: str) -> list[LinkedResource]:
        return [r for r in self.resources if r.resource_type in types]

    def dependencies(self, resource: LinkedResource, *types: str) -> list[LinkedResource]:
        """Resources ``resource`` directly depends on, optionally only of ``types``."""
        found = [d for d in resource.dependencies if d is not None]
        return [d for d in found if not types or d.resource_type in types]

    def depends_on(self, dependent: LinkedResource, dependency: LinkedResource) -> bool:
        """True when ``dependent`` waits for ``dependency``, directly or transitively."""
        seen: set[str] = set()
        pending = list(dependent.dependencies)
        while pending:
            current = pending.pop()
            if current is None or current.urn in seen:
                continue
            if current.urn == dependency.urn:
                return True
            seen.add(current.urn)
            pending.extend(current.dependencies)
        return False

    def dependents(self, resource: LinkedResource, *types: str) -> list[LinkedResource]:
        """Resources that directly depend on ``resource``, optionally only of ``types``."""
        candidates = self.of_type(*types) if types else self.resources
        return [r for r in candidates if any(d is not None and d.urn == resource.urn for d in r.dependencies)]

    def log_group_names(self) -> dict[str, LinkedResource]:
        """Log groups the stack creates, by the name they will have when it is known from the inputs."""
        return {name: r for r in self.of_type(T.LOG_GROUP) if (name := known_text(r.props, "name"))}

    def log_group_for_arn(self, arn: str, dependent: LinkedResource) -> LinkedResource | None:
        """The stack's log group a CloudWatch Logs ARN (``...:log-group:<name>[:*]``) names; None if not this stack's."""
        match = re.fullmatch(r"arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:(?P<name>[^:]+)(:\*)?", arn)
        if match is None:
            return None
        named = self.log_group_names().get(match.group("name"))
        if named is not None:
            return named
        # Auto-named groups have no name input: the group ``dependent`` waits for, named like it, is the one.
        for group in self.dependencies(dependent, T.LOG_GROUP):
            if known_text(group.props, "name") == "" and _auto_named(match.group("name"), group.name):
                return group
        return None

    def route_tables_of(self, subnet: LinkedResource) -> list[LinkedResource]:
        """The route tables a subnet is associated with (through RouteTableAssociation resources)."""
        tables: dict[str, LinkedResource] = {}
        for association in self.of_type(T.ROUTE_TABLE_ASSOCIATION):
            if any(s.urn == subnet.urn for s in self.dependencies(association, T.SUBNET)):
                tables.update({t.urn: t for t in self.dependencies(association, T.ROUTE_TABLE)})
        return list(tables.values())

    def table_for_arn(self, arn: str, region: str) -> LinkedResource | None:
        """The stack's table (or index of it, or stream) an ARN names; None when it is not this stack's. The stack's
        tables are in its ``region``: a table of the same name in another region is another one."""
        match = re.fullmatch(
            rf"arn:aws[a-z-]*:dynamodb:{re.escape(region)}:\d{{12}}:table/(?P<table>[A-Za-z0-9_.-]+)(?P<rest>/.*)?",
            arn,
        )
        if not match:
            return None
        if match.group("rest") and not re.fullmatch(r"/(index/[A-Za-z0-9_.-]+|stream/[^/]+)", match.group("rest")):
            return None
        physical = match.group("table")
        for table in self.of_type(T.TABLE):
            arn_output = table.props.get("arn")
            if isinstance(arn_output, str) and arn_output.rsplit("/", 1)[-1] == physical:
                return table
            name = table.props.get("name")
            if isinstance(name, str) and name == physical:
                return table
            if name is None and _auto_named(physical, table.name):
                return table
        return None


def _auto_named(physical: str, logical: str) -> bool:
    """Pulumi auto-names a resource ``<logical>-<7 random chars>``; the mocks keep the logical name as is."""
    return physical == logical or re.fullmatch(re.escape(logical) + r"-[a-z0-9]{7}", physical) is not None
