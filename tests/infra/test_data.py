"""DataTier under mocks, from the real stack files: durability, encryption and keys from handler/tables.py."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pytest

from components.data import DataTier, DataTierArgs, handler_table_statements, table_schema_args
from components.settings import StackSettings
from handler.tables import (
    ITEMS_TABLE,
    ITEMS_YEAR_INDEX,
    RATE_LIMIT_TABLE,
    RATE_LIMIT_TTL_ATTRIBUTE,
)
from policy.graph import policy_statements
from tools.mocks import (
    ACCOUNT_ID,
    ProgramRun,
    RecordedResource,
    run_components,
    stack_settings,
)

TABLE = "aws:dynamodb/table:Table"
KEY = "aws:kms/key:Key"


def _run(settings: StackSettings) -> ProgramRun:
    def build(settings: StackSettings) -> None:
        data = DataTier("test-data", DataTierArgs(settings=settings.data, tags=settings.tags))
        pulumi.export("items_table_arn", data.items_table_arn)
        pulumi.export("items_year_index_arn", data.items_year_index_arn)
        pulumi.export("items_table_stream_arn", data.items_table_stream_arn)
        if data.kms_key_arn is not None:
            pulumi.export("kms_key_arn", data.kms_key_arn)

    return run_components(settings, build)


def _hash_key(definition: Mapping[str, Any]) -> str:
    return next(e["AttributeName"] for e in definition["KeySchema"] if e["KeyType"] == "HASH")


def _table(run: ProgramRun, definition: Mapping[str, Any]) -> RecordedResource:
    """The table built from ``definition``, told apart by its hash key rather than its generated name."""
    (table,) = [t for t in run.of_type(TABLE) if t.get("hashKey") == _hash_key(definition)]
    return table


# --- the pure translation, against a boto3-shaped fixture independent of the handler's tables -----------------

BOTO3_ORDERS_TABLE = {
    "AttributeDefinitions": [
        {"AttributeName": "customer", "AttributeType": "S"},
        {"AttributeName": "placed_at", "AttributeType": "N"},
        {"AttributeName": "status", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "customer", "KeyType": "HASH"},
        {"AttributeName": "placed_at", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by-status",
            "KeySchema": [
                {"AttributeName": "status", "KeyType": "HASH"},
                {"AttributeName": "placed_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def test_translation_maps_boto3_keys_attributes_and_indexes_to_table_arguments() -> None:
    args = table_schema_args(BOTO3_ORDERS_TABLE)

    assert args == {
        "hash_key": "customer",
        "range_key": "placed_at",
        "attributes": [
            {"name": "customer", "type": "S"},
            {"name": "placed_at", "type": "N"},
            {"name": "status", "type": "S"},
        ],
        "billing_mode": "PAY_PER_REQUEST",
        "global_secondary_indexes": [
            {
                "name": "by-status",
                "key_schemas": [
                    {"attribute_name": "status", "key_type": "HASH"},
                    {"attribute_name": "placed_at", "key_type": "RANGE"},
                ],
                "projection_type": "INCLUDE",
                "non_key_attributes": ["total"],
            }
        ],
    }


def test_translation_of_a_hash_only_table_declares_no_range_key_or_index() -> None:
    args = table_schema_args(
        {
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    )

    assert "range_key" not in args
    assert "global_secondary_indexes" not in args


def test_translation_rejects_provisioned_billing() -> None:
    provisioned = {**BOTO3_ORDERS_TABLE, "BillingMode": "PROVISIONED"}

    with pytest.raises(ValueError, match="PAY_PER_REQUEST"):
        table_schema_args(provisioned)


def test_translation_rejects_parts_of_the_shape_it_would_otherwise_drop() -> None:
    with_local_index = {**BOTO3_ORDERS_TABLE, "LocalSecondaryIndexes": []}

    with pytest.raises(ValueError, match="LocalSecondaryIndexes"):
        table_schema_args(with_local_index)


# --- the handler's IAM statements ----------------------------------------------------------------------------


def test_handler_statements_grant_exactly_the_handlers_operations_each_on_its_resource() -> None:
    statements = handler_table_statements("arn:items", "arn:items/index/year", "arn:rate-limit")

    granted = {(resource, action) for s in statements for resource in s["Resource"] for action in s["Action"]}
    assert granted == {
        ("arn:items", "dynamodb:PutItem"),
        ("arn:items", "dynamodb:GetItem"),
        ("arn:items", "dynamodb:UpdateItem"),
        ("arn:items", "dynamodb:DeleteItem"),
        ("arn:items/index/year", "dynamodb:Query"),
        ("arn:rate-limit", "dynamodb:UpdateItem"),
    }
    assert all(s["Effect"] == "Allow" for s in statements)


# --- the component, from the real stack files ----------------------------------------------------------------


def test_items_table_keys_attributes_and_year_index_come_from_handler_tables(run: ProgramRun) -> None:
    items = _table(run, ITEMS_TABLE)

    assert {(a["name"], a["type"]) for a in items.get("attributes")} == {
        (a["AttributeName"], a["AttributeType"]) for a in ITEMS_TABLE["AttributeDefinitions"]
    }
    (index,) = items.get("globalSecondaryIndexes")
    assert index["name"] == ITEMS_YEAR_INDEX
    (boto3_index,) = ITEMS_TABLE["GlobalSecondaryIndexes"]
    assert [(k["attributeName"], k["keyType"]) for k in index["keySchemas"]] == [
        (k["AttributeName"], k["KeyType"]) for k in boto3_index["KeySchema"]
    ]


def test_every_table_is_on_demand_with_point_in_time_recovery_and_encryption(run: ProgramRun) -> None:
    tables = run.of_type(TABLE)

    assert {_hash_key(ITEMS_TABLE), _hash_key(RATE_LIMIT_TABLE)} == {t.get("hashKey") for t in tables}
    for table in tables:
        assert table.get("billingMode") == "PAY_PER_REQUEST"
        assert table.get("pointInTimeRecovery", "enabled") is True
        assert table.get("serverSideEncryption", "enabled") is True


def test_items_table_streams_new_and_old_images(run: ProgramRun) -> None:
    items = _table(run, ITEMS_TABLE)

    assert items.get("streamEnabled") is True
    assert items.get("streamViewType") == "NEW_AND_OLD_IMAGES"


def test_rate_limit_table_expires_items_by_the_handlers_ttl_attribute(run: ProgramRun) -> None:
    rate_limit = _table(run, RATE_LIMIT_TABLE)

    assert rate_limit.get("ttl") == {"enabled": True, "attributeName": RATE_LIMIT_TTL_ATTRIBUTE}


def test_year_index_arn_is_the_items_table_arn_and_index_name(run: ProgramRun) -> None:
    assert run.outputs["items_year_index_arn"] == f"{run.outputs['items_table_arn']}/index/{ITEMS_YEAR_INDEX}"


def test_items_stream_arn_is_exposed(run: ProgramRun) -> None:
    assert run.outputs["items_table_stream_arn"].startswith(run.outputs["items_table_arn"] + "/stream/")


def test_prod_tables_are_deletion_protected_and_encrypted_with_its_rotating_key(
    runs: dict[str, ProgramRun],
) -> None:
    prod = runs["prod"]

    key = prod.one(KEY)
    assert key.get("enableKeyRotation") is True
    # Pulumi refuses to delete or replace them too: a replaced table would be created, empty, and the function
    # pointed at it before AWS refused to delete the old one; a deleted key leaves its tables unreadable.
    assert key.protect is True
    for table in prod.of_type(TABLE):
        assert table.get("deletionProtectionEnabled") is True
        assert table.protect is True
        assert table.get("serverSideEncryption", "kmsKeyArn") == prod.outputs["kms_key_arn"]


def test_dev_tables_have_neither_deletion_protection_nor_a_customer_managed_key(
    runs: dict[str, ProgramRun],
) -> None:
    dev = runs["dev"]

    assert dev.of_type(KEY) == []
    assert "kms_key_arn" not in dev.outputs
    for table in dev.of_type(TABLE):
        assert table.get("deletionProtectionEnabled") is False
        assert table.protect is False
        assert table.get("serverSideEncryption", "kmsKeyArn") is None


def test_customer_managed_key_and_deletion_protection_are_chosen_independently(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("dev")
    config["tiered-api:data"] = {"customerManagedKey": True, "deletionProtection": False}

    run = _run(stack_settings("dev", config))

    assert run.one(KEY).get("enableKeyRotation") is True
    assert run.one(KEY).protect is False
    for table in run.of_type(TABLE):
        assert table.get("serverSideEncryption", "kmsKeyArn") == run.outputs["kms_key_arn"]
        assert table.get("deletionProtectionEnabled") is False
        assert table.protect is False


def _key_statements(run: ProgramRun) -> list[Mapping[str, Any]]:
    return policy_statements(run.one(KEY).get("policy"))


def test_key_policy_lets_the_account_administer_the_key_and_use_it_only_through_dynamodb(
    runs: dict[str, ProgramRun],
) -> None:
    prod = runs["prod"]
    statements = _key_statements(prod)

    account_root = f"arn:aws:iam::{ACCOUNT_ID}:root"
    administers = [s for s in statements if s["Principal"] == {"AWS": account_root} and "Condition" not in s]
    assert administers
    assert all("kms:Decrypt" not in s["Action"] and "kms:*" not in s["Action"] for s in administers)
    (uses,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
    assert uses["Principal"] == {"AWS": account_root}
    assert uses["Condition"]["StringEquals"]["kms:ViaService"] == f"dynamodb.{prod.settings.region}.amazonaws.com"
    assert any("kms:PutKeyPolicy" in s["Action"] or "kms:Put*" in s["Action"] for s in administers), (
        "without PutKeyPolicy the account locks itself out of the key"
    )


# AWS's default key policy's key-administrators statement (Create* Describe* Enable* List* Put* Update* Revoke*
# Disable* Get* Delete* TagResource UntagResource ScheduleKeyDeletion CancelKeyDeletion), one action per entry.
KEY_ADMINISTRATION_ACTIONS = (
    "kms:CreateAlias",
    "kms:DescribeKey",
    "kms:EnableKeyRotation",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:UpdateKeyDescription",
    "kms:RevokeGrant",
    "kms:DisableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:DeleteAlias",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)


@pytest.mark.parametrize("action", KEY_ADMINISTRATION_ACTIONS)
def test_key_policy_lets_the_account_do_what_awss_key_administrators_may(
    runs: dict[str, ProgramRun], action: str
) -> None:
    statements = _key_statements(runs["prod"])

    administers = [s for s in statements if "Condition" not in s]
    assert any(fnmatch.fnmatchcase(action, allowed) for s in administers for allowed in s["Action"])


def test_key_policy_lets_the_account_use_the_key_for_exactly_what_dynamodb_needs(runs: dict[str, ProgramRun]) -> None:
    statements = _key_statements(runs["prod"])

    (uses,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
    # AWS: "Key policy for a customer managed key" (DynamoDB's encryption at rest), the actions its table users need.
    assert set(uses["Action"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
        "kms:CreateGrant",
    }


def test_every_key_policy_statement_is_about_this_key(runs: dict[str, ProgramRun]) -> None:
    statements = _key_statements(runs["prod"])

    # In a key policy the resource "*" means the key the policy is attached to, and is the only value KMS documents.
    assert {s["Resource"] for s in statements} == {"*"}


def test_key_policy_lets_dynamodb_read_the_keys_metadata_only_for_this_account(runs: dict[str, ProgramRun]) -> None:
    statements = _key_statements(runs["prod"])

    (service,) = [s for s in statements if s["Principal"] == {"Service": "dynamodb.amazonaws.com"}]
    assert all(action.startswith(("kms:Describe", "kms:Get", "kms:List")) for action in service["Action"])
    # Confused-deputy protection: DynamoDB acting for another account's table must not reach this key.
    assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def test_children_are_parented_by_the_component(run: ProgramRun) -> None:
    component = run.one("tieredapi:data:DataTier")

    assert len(run.children_of(component)) == len(run.resources) - 1
