"""Network rows of the security checklist."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.context import StackContext
from policy.graph import (
    Finding,
    LinkedResource,
    StackGraph,
    T,
    as_list,
    known_text,
    number,
    policy_statements,
    statement_values,
)
from policy.rules._base import stack_rule

__all__ = ["RULES", "function_dynamodb_actions"]

ANYWHERE = ("0.0.0.0/0", "::/0")
ALL_PROTOCOLS = ("-1", "all")
HTTPS = 443


@stack_rule("VPC-FLOWLOG", "Every VPC has a flow log of ALL traffic to a log group the stack creates")
def flow_logs(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    for vpc in graph.of_type(T.VPC):
        # A flow log of a subnet or an interface depends on the VPC too, but logs only part of its traffic.
        # vpcId set (known or not: the VPC's id is unknown at a first preview) and the VPC's own.
        logs = [f for f in graph.of_type(T.FLOW_LOG) if known_text(f.props, "vpcId") != "" and graph.depends_on(f, vpc)]
        if not logs:
            yield Finding(f"VPC {vpc.name} has no flow log", vpc.urn)
        for flow_log in logs:
            props = flow_log.props
            if props.get("trafficType") != "ALL":
                yield Finding(f"{flow_log.name}: traffic type {props.get('trafficType')!r}, not ALL", flow_log.urn)
            destination = known_text(props, "logDestination")  # the group's ARN: unknown until it exists
            kind = props.get("logDestinationType", "cloud-watch-logs")
            if kind != "cloud-watch-logs" or (
                destination is not None and graph.log_group_for_arn(destination, flow_log) is None
            ):
                yield Finding(f"{flow_log.name} does not deliver to a log group this stack creates", flow_log.urn)
            elif known_text(props, "iamRoleArn") == "":
                yield Finding(f"{flow_log.name} has no delivery role", flow_log.urn)


@stack_rule("VPC-DEFAULT-SG", "Every VPC's default security group is taken over with no rules")
def default_security_group(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    for vpc in graph.of_type(T.VPC):
        defaults = [g for g in graph.of_type(T.DEFAULT_SECURITY_GROUP) if graph.depends_on(g, vpc)]
        if not defaults:
            yield Finding(f"VPC {vpc.name}: its default security group is not managed (AWS opens it)", vpc.urn)
        for group in defaults:
            if as_list(group.props.get("ingress")) or as_list(group.props.get("egress")):
                yield Finding(f"{group.name}: the default security group has rules", group.urn)
            # Rule resources add to the group what its inline lists do not show.
            for rule in graph.dependents(group, T.SECURITY_GROUP_RULE, T.INGRESS_RULE, T.EGRESS_RULE):
                yield Finding(f"{rule.name} adds a rule to the default security group {group.name}", rule.urn)


@stack_rule(
    "VPC-DDB-ENDPOINT",
    "A DynamoDB gateway endpoint serves the private route tables, limited to this stack's tables and the "
    "handler's actions",
)
def dynamodb_endpoint(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    endpoints = _dynamodb_endpoints(graph, context.settings.region)
    if not endpoints:
        yield Finding(f"no VPC endpoint for {_dynamodb_service(context.settings.region)}")
        return
    private_tables = _private_route_tables(graph)
    handler_actions = {a for f in graph.of_type(T.FUNCTION) for a in function_dynamodb_actions(graph, f)}
    for endpoint in endpoints:
        if endpoint.props.get("vpcEndpointType", "Gateway") != "Gateway":
            yield Finding(f"{endpoint.name} is not a gateway endpoint", endpoint.urn)
        missing = sorted(t.name for t in private_tables if not graph.depends_on(endpoint, t))
        if missing or not as_list(endpoint.props.get("routeTableIds")):
            yield Finding(f"{endpoint.name} is not on the private route tables {missing}", endpoint.urn)
        statements = policy_statements(endpoint.props.get("policy"))
        if not statements:
            yield Finding(f"{endpoint.name} has no policy: it admits every table of every account", endpoint.urn)
        for statement in statements:
            yield from _endpoint_statement_problems(
                graph, endpoint, statement, handler_actions, context.settings.region
            )


def _endpoint_statement_problems(
    graph: StackGraph,
    endpoint: LinkedResource,
    statement: Mapping[str, Any],
    handler_actions: set[str],
    region: str,
) -> Iterator[Finding]:
    if statement.get("Effect") != "Allow":
        return
    if "NotAction" in statement or "NotResource" in statement:
        yield Finding(f"{endpoint.name}: its policy allows by exclusion (NotAction/NotResource)", endpoint.urn)
    extra = sorted(set(statement_values(statement, "Action")) - handler_actions)
    if extra:
        yield Finding(f"{endpoint.name}: its policy allows {extra}, which the handler does not use", endpoint.urn)
    foreign = [r for r in statement_values(statement, "Resource") if graph.table_for_arn(r, region) is None]
    if foreign:
        yield Finding(f"{endpoint.name}: its policy reaches {foreign}, not this stack's tables", endpoint.urn)


def _dynamodb_service(region: str) -> str:
    return f"com.amazonaws.{region}.dynamodb"


def _dynamodb_endpoints(graph: StackGraph, region: str) -> list[LinkedResource]:
    service = _dynamodb_service(region)
    return [e for e in graph.of_type(T.VPC_ENDPOINT) if e.props.get("serviceName") == service]


def _private_route_tables(graph: StackGraph) -> list[LinkedResource]:
    """Route tables associated with the subnets the functions run in."""
    subnets = {s.urn: s for f in graph.of_type(T.FUNCTION) for s in graph.dependencies(f, T.SUBNET)}
    tables = {t.urn: t for s in subnets.values() for t in graph.route_tables_of(s)}
    return list(tables.values())


def function_dynamodb_actions(graph: StackGraph, function: LinkedResource) -> set[str]:
    """The DynamoDB actions the function's role allows: what the handler uses, as the stack grants it."""
    actions: set[str] = set()
    for role in graph.dependencies(function, T.ROLE):
        documents = [p.props.get("policy") for p in graph.dependents(role, T.ROLE_POLICY)]
        documents += [p.get("policy") for p in as_list(role.props.get("inlinePolicies")) if isinstance(p, Mapping)]
        for document in documents:
            for statement in policy_statements(document):
                if statement.get("Effect") == "Allow":
                    actions.update(a for a in statement_values(statement, "Action") if a.startswith("dynamodb:"))
    return actions


@stack_rule(
    "SG-EGRESS",
    "No all-protocol egress to the internet; the function's group allows HTTPS to the prefix list of the stack's "
    "DynamoDB endpoint and to no other prefix list",
)
def security_group_egress(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    rules = _egress_rules(graph)
    for owner, rule in rules:
        protocol = str(rule.get("protocol", rule.get("ipProtocol", ""))).lower()
        cidrs = [*as_list(rule.get("cidrBlocks")), *as_list(rule.get("ipv6CidrBlocks"))]
        cidrs += [rule[k] for k in ("cidrIpv4", "cidrIpv6") if rule.get(k)]
        if protocol in ALL_PROTOCOLS and any(c in ANYWHERE for c in cidrs):
            yield Finding(f"{owner.name}: egress of every protocol to {cidrs}", owner.urn)
    dynamodb_lists = _endpoint_prefix_lists(graph, context.settings.region)
    for function in graph.of_type(T.FUNCTION):
        for group in graph.dependencies(function, T.SECURITY_GROUP):
            own = [rule for owner, rule in rules if owner.urn == group.urn or graph.depends_on(owner, group)]
            if not any(_https_to_prefix_lists(rule, dynamodb_lists) for rule in own):
                yield Finding(
                    f"security group {group.name} of function {function.name} has no HTTPS egress to the "
                    "DynamoDB endpoint's prefix list",
                    group.urn,
                )
            if dynamodb_lists is None:
                continue
            # Any other list (a customer-managed one holds whatever addresses its owner puts in it) widens egress.
            foreign = sorted({p for rule in own for p in _prefix_lists(rule)} - dynamodb_lists)
            if foreign:
                yield Finding(
                    f"security group {group.name} of function {function.name} allows egress to prefix lists "
                    f"{foreign}, not the DynamoDB endpoint's",
                    group.urn,
                )


def _endpoint_prefix_lists(graph: StackGraph, region: str) -> set[str] | None:
    """The prefix lists AWS gave the stack's DynamoDB gateway endpoints. ``None`` without an endpoint (VPC-DDB-ENDPOINT
    reports that) or before AWS has created it (a first preview): any prefix list passes until then."""
    lists = [known_text(e.props, "prefixListId") for e in _dynamodb_endpoints(graph, region)]
    return {p for p in lists if p} if lists and all(lists) else None


def _egress_rules(graph: StackGraph) -> list[tuple[LinkedResource, Mapping[str, Any]]]:
    """Every egress rule with the resource that declares it: inline, SecurityGroupRule or SecurityGroupEgressRule."""
    found: list[tuple[LinkedResource, Mapping[str, Any]]] = []
    for group in graph.of_type(T.SECURITY_GROUP):
        found += [(group, rule) for rule in as_list(group.props.get("egress")) if isinstance(rule, Mapping)]
    for rule in graph.of_type(T.SECURITY_GROUP_RULE):
        if rule.props.get("type") == "egress":
            found.append((rule, rule.props))
    found += [(rule, rule.props) for rule in graph.of_type(T.EGRESS_RULE)]
    return found


def _prefix_lists(rule: Mapping[str, Any]) -> list[str]:
    return [str(p) for p in as_list(rule.get("prefixListIds")) + as_list(rule.get("prefixListId"))]


def _https_to_prefix_lists(rule: Mapping[str, Any], allowed: set[str] | None) -> bool:
    """An HTTPS rule to prefix lists, every one of them ``allowed`` (any while ``allowed`` is not known yet)."""
    protocol = str(rule.get("protocol", rule.get("ipProtocol", ""))).lower()
    ports = (number(rule.get("fromPort")), number(rule.get("toPort")))
    prefix_lists = _prefix_lists(rule)
    all_allowed = allowed is None or set(prefix_lists) <= allowed
    return protocol in ("tcp", "6") and ports == (HTTPS, HTTPS) and bool(prefix_lists) and all_allowed


RULES = [flow_logs, default_security_group, dynamodb_endpoint, security_group_egress]
