"""Network under mocks, from the real stack files: private isolated subnets, DynamoDB only, closed defaults."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import tools.mocks
from components.data import handler_table_statements
from components.network import SUBNET_SLOTS, Network, NetworkArgs, availability_zones, subnet_cidrs
from components.settings import NetworkSettings, StackSettings
from tools.mocks import (
    ACCOUNT_ID,
    DYNAMODB_PREFIX_LIST_ID,
    ProgramRun,
    TieredApiMocks,
    run_components,
    stack_settings,
)

ITEMS_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/items-5e1f"
INDEX_ARN = f"{ITEMS_ARN}/index/year-index"
RATE_LIMIT_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/rate-limit-77c0"

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AVAILABILITY_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"


def _run(settings: StackSettings) -> ProgramRun:
    def build(settings: StackSettings) -> None:
        network = Network(
            "test-network",
            NetworkArgs(
                settings=settings.network,
                availability_zones=availability_zones(settings),
                log_retention_days=settings.log_retention_days,
                items_table_arn=ITEMS_ARN,
                items_year_index_arn=INDEX_ARN,
                rate_limit_table_arn=RATE_LIMIT_ARN,
                tags=settings.tags,
            ),
        )
        pulumi.export("private_subnet_ids", network.private_subnet_ids)

    return run_components(settings, build)


# --- subnet carving, pure ------------------------------------------------------------------------------------


@given(prefix=st.integers(min_value=16, max_value=24), count=st.integers(min_value=2, max_value=6))
def test_subnets_are_disjoint_blocks_inside_the_vpc(prefix: int, count: int) -> None:
    vpc = ipaddress.IPv4Network(f"10.20.0.0/{prefix}")

    blocks = [ipaddress.IPv4Network(cidr) for cidr in subnet_cidrs(str(vpc), count)]

    assert len(blocks) == count
    assert all(block.subnet_of(vpc) for block in blocks)
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


@given(prefix=st.integers(min_value=16, max_value=24), count=st.integers(min_value=1, max_value=SUBNET_SLOTS - 1))
def test_adding_an_az_keeps_every_existing_subnet_block(prefix: int, count: int) -> None:
    vpc = f"10.30.0.0/{prefix}"

    assert subnet_cidrs(vpc, count + 1)[:count] == subnet_cidrs(vpc, count)


def test_subnet_i_is_the_vpcs_ith_eighth() -> None:
    # Eight slots (SUBNET_SLOTS): the smallest VPC the settings allow, a /24, still gets /27 subnets.
    assert subnet_cidrs("10.20.0.0/24", 3) == ["10.20.0.0/27", "10.20.0.32/27", "10.20.0.64/27"]


def test_the_settings_never_ask_for_more_azs_than_there_are_slots() -> None:
    with pytest.raises(ValidationError, match="availability_zones"):
        NetworkSettings(availability_zones=SUBNET_SLOTS + 1)


def test_more_subnets_than_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="subnets"):
        subnet_cidrs("10.0.0.0/16", SUBNET_SLOTS + 1)


# --- the component, from the real stack files ----------------------------------------------------------------


def test_vpc_has_the_configured_cidr_and_dns(run: ProgramRun) -> None:
    vpc = run.one("aws:ec2/vpc:Vpc")

    assert vpc.get("cidrBlock") == run.settings.network.vpc_cidr
    assert vpc.get("enableDnsSupport") is True
    assert vpc.get("enableDnsHostnames") is True


def test_private_subnets_span_distinct_azs_as_configured_and_never_map_public_ips(run: ProgramRun) -> None:
    subnets = run.of_type(SUBNET)
    vpc = ipaddress.IPv4Network(run.settings.network.vpc_cidr)

    zones = {s.get("availabilityZone") for s in subnets}
    assert len(zones) == len(subnets) == run.settings.network.availability_zones
    assert all(zone.startswith(run.settings.region) for zone in zones)
    assert all(s.get("mapPublicIpOnLaunch") is False for s in subnets)
    assert all(ipaddress.IPv4Network(s.get("cidrBlock")).subnet_of(vpc) for s in subnets)
    assert len(run.outputs["private_subnet_ids"]) == len(subnets)


def test_private_subnets_do_not_overlap(run: ProgramRun) -> None:
    blocks = [ipaddress.IPv4Network(s.get("cidrBlock")) for s in run.of_type(SUBNET)]

    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


def test_every_subnet_is_named_after_its_zone(run: ProgramRun) -> None:
    for subnet in run.of_type(SUBNET):
        assert subnet.get("availabilityZone") in subnet.get("tags", "Name")


class _RegionWithALocalZone(TieredApiMocks):
    """A region whose account opted into a Local Zone, which DescribeAvailabilityZones lists first; it applies the
    ``opt-in-status`` filter as AWS does (regular AZs are ``opt-in-not-required``)."""

    LOCAL_ZONE_SUFFIX = "-bos-1a"

    def _invoke(self, token: str, args: Mapping[str, Any]) -> dict[str, Any]:
        answer = super()._invoke(token, args)
        if token != AVAILABILITY_ZONES:
            return answer
        statuses = {f"{self.region}{self.LOCAL_ZONE_SUFFIX}": "opted-in"}
        statuses.update((name, "opt-in-not-required") for name in answer["names"])
        for asked in args.get("filters") or []:
            if asked["name"] != "opt-in-status":
                raise NotImplementedError(f"filter {asked['name']} has no mock")
            statuses = {name: status for name, status in statuses.items() if status in asked["values"]}
        return {**answer, "names": list(statuses)}


def test_subnets_are_never_placed_in_a_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.mocks, "TieredApiMocks", _RegionWithALocalZone)

    run = _run(stack_settings("prod"))

    zones = [s.get("availabilityZone") for s in run.of_type(SUBNET)]
    # Local and Wavelength Zones lack services (and DynamoDB gateway endpoints): only the region's regular AZs.
    assert len(zones) == run.settings.network.availability_zones
    assert not [zone for zone in zones if zone.endswith(_RegionWithALocalZone.LOCAL_ZONE_SUFFIX)]


def test_network_has_no_internet_path(run: ProgramRun) -> None:
    internet_types = {
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/route:Route",
    }

    assert not [r for r in run.resources if r.type in internet_types]
    assert all(not rt.get("routes") for rt in run.of_type(ROUTE_TABLE))


def test_every_subnet_routes_through_a_table_the_dynamodb_endpoint_serves(run: ProgramRun) -> None:
    endpoint = run.one(ENDPOINT)
    served = [rt for rt in run.of_type(ROUTE_TABLE) if run.depends_on(endpoint, rt)]

    for subnet in run.of_type(SUBNET):
        associations = [a for a in run.of_type(ASSOCIATION) if run.depends_on(a, subnet)]
        assert len(associations) == 1
        assert any(run.depends_on(associations[0], rt) for rt in served)
    assert len(endpoint.get("routeTableIds")) == len(served)


def test_dynamodb_endpoint_is_a_regional_gateway(run: ProgramRun) -> None:
    endpoint = run.one(ENDPOINT)

    assert endpoint.get("vpcEndpointType") == "Gateway"
    assert endpoint.get("serviceName") == f"com.amazonaws.{run.settings.region}.dynamodb"


def test_endpoint_policy_admits_exactly_the_handlers_operations_on_this_stacks_tables(run: ProgramRun) -> None:
    statements = json.loads(run.one(ENDPOINT).get("policy"))["Statement"]

    expected = handler_table_statements(ITEMS_ARN, INDEX_ARN, RATE_LIMIT_ARN)
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
        (s["Effect"], s["Action"], s["Resource"]) for s in expected
    ]
    assert all(s["Principal"] == "*" for s in statements)
    assert all("Condition" not in s and "NotAction" not in s and "NotResource" not in s for s in statements)


def test_lambda_security_group_has_no_ingress_and_only_https_to_dynamodb(run: ProgramRun) -> None:
    group = run.one(SECURITY_GROUP)

    assert group.get("ingress", default=[]) == []
    (egress,) = group.get("egress")
    assert (egress["protocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 443, 443)
    assert egress["prefixListIds"] == [DYNAMODB_PREFIX_LIST_ID]
    assert not egress.get("cidrBlocks")
    assert not egress.get("ipv6CidrBlocks")


@pytest.mark.parametrize("group_type", [SECURITY_GROUP, DEFAULT_SECURITY_GROUP])
def test_security_groups_declare_their_ingress_empty_so_rules_added_outside_are_removed(
    run: ProgramRun, group_type: str
) -> None:
    # The provider manages inline rules only where the argument is given: left out, a rule added by hand would stay.
    assert run.one(group_type).get("ingress") == []


def test_default_security_group_is_taken_over_and_closed(run: ProgramRun) -> None:
    default = run.one(DEFAULT_SECURITY_GROUP)

    assert run.depends_on(default, run.one("aws:ec2/vpc:Vpc"))
    assert default.get("ingress", default=[]) == []
    assert default.get("egress", default=[]) == []


def test_flow_log_records_all_traffic_to_a_group_kept_for_the_stacks_retention(run: ProgramRun) -> None:
    flow_log = run.one(FLOW_LOG)
    log_group = run.one(LOG_GROUP)

    assert flow_log.get("trafficType") == "ALL"
    assert flow_log.get("logDestinationType") == "cloud-watch-logs"
    assert run.depends_on(flow_log, log_group)
    assert run.depends_on(flow_log, run.one("aws:ec2/vpc:Vpc"))
    assert log_group.get("retentionInDays") == run.settings.log_retention_days


def test_flow_log_retention_follows_the_stack_file(stack_config: Callable[[str], dict[str, Any]]) -> None:
    config = stack_config("dev")
    config["tiered-api:logRetentionDays"] = 90

    run = _run(stack_settings("dev", config))

    assert run.one(LOG_GROUP).get("retentionInDays") == 90


def test_flow_log_role_is_assumable_only_by_flow_logs_for_this_account(run: ProgramRun) -> None:
    (statement,) = json.loads(run.one(ROLE).get("assumeRolePolicy"))["Statement"]

    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID


def test_flow_log_role_is_assumable_only_on_behalf_of_this_accounts_flow_logs_in_the_region(run: ProgramRun) -> None:
    (statement,) = json.loads(run.one(ROLE).get("assumeRolePolicy"))["Statement"]

    # AWS's confused-deputy guard for flow logs: the service acting for a flow log of another account or region
    # (or for any other EC2 resource) cannot assume the role.
    flow_logs = f"arn:aws:ec2:{run.settings.region}:{ACCOUNT_ID}:vpc-flow-log/*"
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": flow_logs}


def test_flow_log_waits_for_its_roles_permission_to_write(run: ProgramRun) -> None:
    # Delivery starts when the flow log is created and fails until the role may write to the group.
    assert run.depends_on(run.one(FLOW_LOG), run.one(ROLE_POLICY))


def test_flow_log_delivers_as_the_role_allowed_to_write(run: ProgramRun) -> None:
    # A flow log to CloudWatch Logs needs a role to deliver as: without one AWS refuses to create it.
    assert run.one(FLOW_LOG).get("iamRoleArn") == run.one(ROLE).state["arn"]


def test_flow_log_role_may_only_write_to_its_own_log_group(run: ProgramRun) -> None:
    group_arn = run.one(FLOW_LOG).get("logDestination")
    (statement,) = json.loads(run.one(ROLE_POLICY).get("policy"))["Statement"]

    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert statement["Resource"]
    assert all(resource == group_arn or resource.startswith(f"{group_arn}:") for resource in statement["Resource"])


def test_flow_log_role_may_write_to_its_log_groups_streams(run: ProgramRun) -> None:
    group_arn = run.one(FLOW_LOG).get("logDestination")
    (statement,) = json.loads(run.one(ROLE_POLICY).get("policy"))["Statement"]

    # CreateLogStream acts on the group, PutLogEvents and DescribeLogStreams on its streams.
    assert f"{group_arn}:log-stream:*" in statement["Resource"]


def test_adding_an_az_keeps_the_existing_zones_subnet_blocks(
    runs: dict[str, ProgramRun], stack_config: Callable[[str], dict[str, Any]]
) -> None:
    config = stack_config("dev")
    network = config["tiered-api:network"]
    config["tiered-api:network"] = {**network, "availabilityZones": network["availabilityZones"] + 1}

    grown = _run(stack_settings("dev", config))

    before = {s.get("availabilityZone"): s.get("cidrBlock") for s in runs["dev"].of_type(SUBNET)}
    after = {s.get("availabilityZone"): s.get("cidrBlock") for s in grown.of_type(SUBNET)}
    assert len(after) == len(before) + 1
    assert {zone: after[zone] for zone in before} == before


def test_children_are_parented_by_the_component(run: ProgramRun) -> None:
    component = run.one("tieredapi:network:Network")

    assert len(run.children_of(component)) == len(run.resources) - 1
