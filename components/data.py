"""DataTier: the items table, the rate-limit table and, where the stack asks, their customer-managed KMS key.

Both tables' keys, attributes, index and TTL attribute come from ``handler/tables.py`` (the boto3 ``create_table``
shape the handler and the local stack use), translated by ``table_schema_args``: no key name is written here.
PITR, encryption and on-demand billing are always on; deletion protection and the key follow ``DataSettings``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.settings import DataSettings
from handler.tables import ITEMS_TABLE, ITEMS_YEAR_INDEX, RATE_LIMIT_TABLE, RATE_LIMIT_TTL_ATTRIBUTE

__all__ = [
    "ITEMS_INDEX_OPERATIONS",
    "ITEMS_TABLE_OPERATIONS",
    "RATE_LIMIT_TABLE_OPERATIONS",
    "DataTier",
    "DataTierArgs",
    "dynamodb_via_service",
    "handler_table_statements",
    "key_administration_statement",
    "table_key_policy",
    "table_schema_args",
]

# The DynamoDB operations the handler performs, per resource: the single source for its IAM policy, the VPC
# endpoint policy and the per-operation DynamoDB alarms.
ITEMS_TABLE_OPERATIONS = ("DeleteItem", "GetItem", "PutItem", "UpdateItem")
ITEMS_INDEX_OPERATIONS = ("Query",)
RATE_LIMIT_TABLE_OPERATIONS = ("UpdateItem",)

# Without autoscaling, on-demand is the only billing mode that cannot starve the API (DDB-BILLING).
_ON_DEMAND = "PAY_PER_REQUEST"
_TABLE_SHAPE_KEYS = frozenset({"AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"})


def table_schema_args(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a boto3 ``create_table`` shape into ``aws.dynamodb.Table`` keyword arguments.

    Covers keys, attribute definitions, global secondary indexes and billing mode. Anything else in the shape
    (a local index, provisioned capacity) is rejected rather than silently dropped.
    """
    unknown = sorted(set(definition) - _TABLE_SHAPE_KEYS)
    if unknown:
        raise ValueError(f"table definition has keys the DataTier does not translate: {unknown}")
    billing_mode = definition.get("BillingMode")
    if billing_mode != _ON_DEMAND:
        raise ValueError(f"table definition must use BillingMode {_ON_DEMAND} (got {billing_mode!r})")
    keys = _key_names(definition["KeySchema"])
    args: dict[str, Any] = {
        "hash_key": keys["HASH"],
        "attributes": [
            {"name": attribute["AttributeName"], "type": attribute["AttributeType"]}
            for attribute in definition["AttributeDefinitions"]
        ],
        "billing_mode": billing_mode,
    }
    if "RANGE" in keys:
        args["range_key"] = keys["RANGE"]
    indexes = definition.get("GlobalSecondaryIndexes") or []
    if indexes:
        args["global_secondary_indexes"] = [_index_args(index) for index in indexes]
    return args


def _key_names(key_schema: list[Mapping[str, str]]) -> dict[str, str]:
    return {element["KeyType"]: element["AttributeName"] for element in key_schema}


def _index_args(index: Mapping[str, Any]) -> dict[str, Any]:
    projection = index["Projection"]
    args: dict[str, Any] = {
        "name": index["IndexName"],
        # key_schemas, not hash_key/range_key: pulumi_aws 7 deprecates those on indexes.
        "key_schemas": [
            {"attribute_name": element["AttributeName"], "key_type": element["KeyType"]}
            for element in index["KeySchema"]
        ],
        "projection_type": projection["ProjectionType"],
    }
    if projection.get("NonKeyAttributes"):
        args["non_key_attributes"] = list(projection["NonKeyAttributes"])
    return args


def handler_table_statements(
    items_table_arn: str, items_year_index_arn: str, rate_limit_table_arn: str
) -> list[dict[str, Any]]:
    """IAM statements for exactly the DynamoDB operations the handler performs, each on its own resource.

    The single source of both the Lambda role's table policy and the DynamoDB gateway endpoint policy.
    """
    scoped = (
        ("ItemsTable", ITEMS_TABLE_OPERATIONS, items_table_arn),
        ("ItemsYearIndex", ITEMS_INDEX_OPERATIONS, items_year_index_arn),
        ("RateLimitTable", RATE_LIMIT_TABLE_OPERATIONS, rate_limit_table_arn),
    )
    return [
        {
            "Sid": sid,
            "Effect": "Allow",
            "Action": [f"dynamodb:{operation}" for operation in operations],
            "Resource": [resource],
        }
        for sid, operations, resource in scoped
    ]


# What an account administrator needs to manage the key without being able to use it for data.
_KEY_ADMINISTRATION_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
]
# DynamoDB encrypts with grants it creates for the calling principal (AWS: "How DynamoDB uses AWS KMS").
_DYNAMODB_KEY_USE_ACTIONS = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
]


def key_administration_statement(account_id: str, partition: str) -> dict[str, Any]:
    """The key-policy statement letting the account (its IAM policies) administer a key, not use it."""
    return {
        "Sid": "AccountAdministersTheKey",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": _KEY_ADMINISTRATION_ACTIONS,
        # In a key policy "*" means this key.
        "Resource": "*",
    }


def dynamodb_via_service(region: str) -> str:
    """``kms:ViaService`` of the KMS requests DynamoDB makes in ``region`` on a caller's behalf."""
    return f"dynamodb.{region}.amazonaws.com"


def table_key_policy(account_id: str, partition: str, region: str) -> str:
    """The tables' key policy: the account administers the key; principals of the account may use it only
    through DynamoDB in this region; DynamoDB itself may read the key's metadata."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            key_administration_statement(account_id, partition),
            {
                "Sid": "AccountUsesTheKeyOnlyThroughDynamoDB",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": _DYNAMODB_KEY_USE_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": dynamodb_via_service(region),
                    }
                },
            },
            {
                "Sid": "DynamoDBReadsKeyMetadata",
                "Effect": "Allow",
                "Principal": {"Service": "dynamodb.amazonaws.com"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }
    return json.dumps(document)


@dataclass(frozen=True)
class DataTierArgs:
    settings: DataSettings
    """Deletion protection and the customer-managed key; everything else is always on."""
    tags: Mapping[str, str]
    """Tags for every taggable child (provider default tags do not reach mocks or component children reliably)."""


class DataTier(pulumi.ComponentResource):
    """The items table (stream, year index), the rate-limit table (TTL) and their optional KMS key."""

    items_table_name: pulumi.Output[str]
    items_table_arn: pulumi.Output[str]
    items_table_stream_arn: pulumi.Output[str]
    items_year_index_arn: pulumi.Output[str]
    rate_limit_table_name: pulumi.Output[str]
    rate_limit_table_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: DataTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tieredapi:data:DataTier", name, None, opts)
        tags = dict(args.tags)
        # Where the stack keeps its data (deletion protection), Pulumi refuses to delete or replace the tables and
        # their key too: a replacement would repoint the function at a new, empty table before failing to delete.
        guarded = pulumi.ResourceOptions(parent=self, protect=args.settings.deletion_protection)
        self.kms_key_arn = self._build_key(name, tags, guarded) if args.settings.customer_managed_key else None
        encryption: dict[str, Any] = {"enabled": True}
        if self.kms_key_arn is not None:
            encryption["kms_key_arn"] = self.kms_key_arn
        durable: dict[str, Any] = {
            "point_in_time_recovery": {"enabled": True},
            "server_side_encryption": encryption,
            "deletion_protection_enabled": args.settings.deletion_protection,
            "tags": tags,
        }
        items = aws.dynamodb.Table(
            f"{name}-items",
            **table_schema_args(ITEMS_TABLE),
            **durable,
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            opts=guarded,
        )
        rate_limit = aws.dynamodb.Table(
            f"{name}-rate-limit",
            **table_schema_args(RATE_LIMIT_TABLE),
            **durable,
            ttl={"attribute_name": RATE_LIMIT_TTL_ATTRIBUTE, "enabled": True},
            opts=guarded,
        )
        self.items_table_name = items.name
        self.items_table_arn = items.arn
        self.items_table_stream_arn = items.stream_arn
        self.items_year_index_arn = items.arn.apply(lambda arn: f"{arn}/index/{ITEMS_YEAR_INDEX}")
        self.rate_limit_table_name = rate_limit.name
        self.rate_limit_table_arn = rate_limit.arn
        outputs: dict[str, Any] = {
            "items_table_name": self.items_table_name,
            "items_table_arn": self.items_table_arn,
            "items_table_stream_arn": self.items_table_stream_arn,
            "items_year_index_arn": self.items_year_index_arn,
            "rate_limit_table_name": self.rate_limit_table_name,
            "rate_limit_table_arn": self.rate_limit_table_arn,
        }
        if self.kms_key_arn is not None:
            outputs["kms_key_arn"] = self.kms_key_arn
        self.register_outputs(outputs)

    def _build_key(self, name: str, tags: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        identity = aws.get_caller_identity()
        key = aws.kms.Key(
            f"{name}-tables",
            description=f"{name}: DynamoDB tables' encryption at rest",
            enable_key_rotation=True,
            policy=table_key_policy(identity.account_id, aws.get_partition().partition, aws.get_region().region),
            tags=tags,
            opts=opts,
        )
        return key.arn
