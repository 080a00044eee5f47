"""Network: a VPC with private isolated subnets across AZs, reaching DynamoDB only through a gateway endpoint.

No internet gateway and no NAT: the function talks to DynamoDB alone, over HTTPS to the endpoint's prefix list,
and the endpoint's policy admits only the handler's operations on this stack's tables. The default security group
is taken over and left closed; every packet is recorded by a flow log.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.data import handler_table_statements
from components.settings import (
    NAMESPACE,
    RESOURCE_NAME_TAG,
    ConfigError,
    NetworkSettings,
    StackSettings,
    stack_file_name,
)

__all__ = [
    "SUBNET_SLOTS",
    "Network",
    "NetworkArgs",
    "availability_zones",
    "dynamodb_endpoint_policy",
    "flow_log_policy",
    "flow_log_trust_policy",
    "subnet_cidrs",
]

# The VPC is carved into this many equal slots, enough for NetworkSettings' six AZs at most: subnet i always gets
# slot i, so adding an AZ adds a subnet and never renumbers (replaces) the existing ones.
SUBNET_SLOTS = 8
_HTTPS = 443


def subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """The first ``count`` of ``SUBNET_SLOTS`` equal, disjoint blocks of ``vpc_cidr``."""
    if not 1 <= count <= SUBNET_SLOTS:
        raise ValueError(f"between 1 and {SUBNET_SLOTS} subnets fit the VPC's slots (got {count})")
    network = ipaddress.ip_network(vpc_cidr)
    extra_bits = (SUBNET_SLOTS - 1).bit_length()
    return [str(block) for block in network.subnets(prefixlen_diff=extra_bits)][:count]


def dynamodb_endpoint_policy(items_table_arn: str, items_year_index_arn: str, rate_limit_table_arn: str) -> str:
    """The gateway endpoint's policy: the handler's statements, nothing more.

    Endpoint policies require a principal; ``*`` here is narrowed by each statement's actions and resources.
    """
    statements = handler_table_statements(items_table_arn, items_year_index_arn, rate_limit_table_arn)
    return json.dumps({"Version": "2012-10-17", "Statement": [{**s, "Principal": "*"} for s in statements]})


def flow_log_trust_policy(account_id: str, partition: str, region: str) -> str:
    """Only the VPC Flow Logs service, acting for this account's flow logs, may assume the role."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"},
                },
            }
        ],
    }
    return json.dumps(document)


def flow_log_policy(log_group_arn: str) -> str:
    """Write access to one log group and its streams."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            }
        ],
    }
    return json.dumps(document)


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    """The VPC's CIDR."""
    availability_zones: Sequence[str]
    """The AZs of the private subnets, one each: ``availability_zones(settings)``, resolved before any component."""
    log_retention_days: int
    """Retention of the flow log's log group."""
    items_table_arn: pulumi.Input[str]
    items_year_index_arn: pulumi.Input[str]
    rate_limit_table_arn: pulumi.Input[str]
    """The resources the DynamoDB endpoint's policy admits."""
    tags: Mapping[str, str]


class Network(pulumi.ComponentResource):
    """VPC, private isolated subnets, DynamoDB gateway endpoint, the Lambda's security group, flow logs."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    lambda_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tieredapi:network:Network", name, None, opts)
        self._name = name
        self._tags = dict(args.tags)
        region = aws.get_region().region
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.settings.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._named(f"{name}-vpc"),
            opts=self._child(),
        )
        route_table_ids, subnet_ids = self._build_private_subnets(vpc, args.availability_zones, args.settings.vpc_cidr)
        self._build_dynamodb_endpoint(vpc, region, route_table_ids, args)
        security_group = self._build_lambda_security_group(vpc, region)
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=self._named(f"{name}-default-closed"),
            opts=self._child(),
        )
        self._build_flow_log(vpc, region, args.log_retention_days)
        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*subnet_ids)
        self.lambda_security_group_id = security_group.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "lambda_security_group_id": self.lambda_security_group_id,
            }
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _named(self, resource_name: str) -> dict[str, str]:
        return {**self._tags, RESOURCE_NAME_TAG: resource_name}

    def _build_private_subnets(
        self, vpc: aws.ec2.Vpc, zones: Sequence[str], vpc_cidr: str
    ) -> tuple[list[pulumi.Output[str]], list[pulumi.Output[str]]]:
        route_table_ids: list[pulumi.Output[str]] = []
        subnet_ids: list[pulumi.Output[str]] = []
        for zone, cidr in zip(zones, subnet_cidrs(vpc_cidr, len(zones)), strict=True):
            # Keyed by zone name, so the subnet of one AZ keeps its identity whatever the others do.
            subnet_name = f"{self._name}-private-{zone}"
            subnet = aws.ec2.Subnet(
                subnet_name,
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=cidr,
                map_public_ip_on_launch=False,
                tags=self._named(subnet_name),
                opts=self._child(),
            )
            route_table = aws.ec2.RouteTable(
                f"{subnet_name}-rt",
                vpc_id=vpc.id,
                tags=self._named(f"{subnet_name}-rt"),
                opts=self._child(),
            )
            aws.ec2.RouteTableAssociation(
                f"{subnet_name}-rta",
                subnet_id=subnet.id,
                route_table_id=route_table.id,
                opts=self._child(),
            )
            subnet_ids.append(subnet.id)
            route_table_ids.append(route_table.id)
        return route_table_ids, subnet_ids

    def _build_dynamodb_endpoint(
        self, vpc: aws.ec2.Vpc, region: str, route_table_ids: list[pulumi.Output[str]], args: NetworkArgs
    ) -> None:
        policy = pulumi.Output.all(args.items_table_arn, args.items_year_index_arn, args.rate_limit_table_arn).apply(
            lambda arns: dynamodb_endpoint_policy(*arns)
        )
        aws.ec2.VpcEndpoint(
            f"{self._name}-dynamodb",
            vpc_id=vpc.id,
            service_name=_dynamodb_service(region),
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            policy=policy,
            tags=self._named(f"{self._name}-dynamodb"),
            opts=self._child(),
        )

    def _build_lambda_security_group(self, vpc: aws.ec2.Vpc, region: str) -> aws.ec2.SecurityGroup:
        prefix_list = aws.ec2.get_prefix_list_output(name=_dynamodb_service(region))
        return aws.ec2.SecurityGroup(
            f"{self._name}-lambda",
            description="Lambda ENIs: no inbound; HTTPS to DynamoDB through the gateway endpoint only",
            vpc_id=vpc.id,
            ingress=[],
            egress=[
                {
                    "description": "HTTPS to DynamoDB",
                    "protocol": "tcp",
                    "from_port": _HTTPS,
                    "to_port": _HTTPS,
                    "prefix_list_ids": [prefix_list.id],
                }
            ],
            tags=self._named(f"{self._name}-lambda"),
            opts=self._child(),
        )

    def _build_flow_log(self, vpc: aws.ec2.Vpc, region: str, retention_days: int) -> None:
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-flow-logs",
            retention_in_days=retention_days,
            tags=self._tags,
            opts=self._child(),
        )
        role = aws.iam.Role(
            f"{self._name}-flow-logs",
            description="VPC Flow Logs delivery to its log group",
            assume_role_policy=flow_log_trust_policy(
                aws.get_caller_identity().account_id, aws.get_partition().partition, region
            ),
            tags=self._tags,
            opts=self._child(),
        )
        role_policy = aws.iam.RolePolicy(
            f"{self._name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(flow_log_policy),
            opts=self._child(),
        )
        aws.ec2.FlowLog(
            f"{self._name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            tags=self._named(f"{self._name}-flow-log"),
            # Delivery starts at creation and fails until the role may write.
            opts=self._child(depends_on=[role_policy]),
        )


def availability_zones(settings: StackSettings) -> list[str]:
    """The first ``network.availabilityZones`` of the region's regular AZs, for ``NetworkArgs``.

    An invoke, not a resource: the program calls it before its first component, so a stack file asking for more AZs
    than its region offers fails with a ``ConfigError`` naming the file and the key, and creates nothing.
    """
    count = settings.network.availability_zones
    # Local Zones and Wavelength Zones need an opt-in and lack services: regular AZs only.
    zones = aws.get_availability_zones(
        state="available", filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}]
    ).names
    if len(zones) < count:
        raise ConfigError(
            stack_file_name(settings.stack),
            [
                f"{NAMESPACE}network.availabilityZones: must be at most the {len(zones)} regular availability zones "
                f"{settings.region} offers ({', '.join(zones)}) (got {count})"
            ],
        )
    return list(zones[:count])


def _dynamodb_service(region: str) -> str:
    return f"com.amazonaws.{region}.dynamodb"
