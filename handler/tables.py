"""The two DynamoDB tables' shapes, as plain data in boto3 ``create_table`` form.

This module is the single source for the Pulumi ``DataTier``, the local stack and the tests; it holds no
table names (those are deployment facts, passed in through the environment) and imports nothing heavy.
Treat the mappings as read-only: ``create_table_request`` hands out deep copies.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = [
    "ITEMS_KEY",
    "ITEMS_TABLE",
    "ITEMS_YEAR_INDEX",
    "RATE_LIMIT_KEY",
    "RATE_LIMIT_TABLE",
    "RATE_LIMIT_TTL_ATTRIBUTE",
    "create_table_request",
]

ITEMS_KEY: Final = "id"
ITEMS_YEAR_INDEX: Final = "year-index"

RATE_LIMIT_KEY: Final = "pk"
# Clean-up only: DynamoDB deletes expired items eventually (up to days later on AWS, seconds later on
# DynamoDB Local), so the limiter never reads this attribute to decide anything.
RATE_LIMIT_TTL_ATTRIBUTE: Final = "expires_at"

ITEMS_TABLE: Final[dict[str, Any]] = {
    "AttributeDefinitions": [
        {"AttributeName": ITEMS_KEY, "AttributeType": "S"},
        {"AttributeName": "year", "AttributeType": "N"},
    ],
    "KeySchema": [{"AttributeName": ITEMS_KEY, "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": ITEMS_YEAR_INDEX,
            # The range key keeps pages in a stable order, so a cursor resumes exactly where a page ended.
            "KeySchema": [
                {"AttributeName": "year", "KeyType": "HASH"},
                {"AttributeName": ITEMS_KEY, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

RATE_LIMIT_TABLE: Final[dict[str, Any]] = {
    "AttributeDefinitions": [{"AttributeName": RATE_LIMIT_KEY, "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": RATE_LIMIT_KEY, "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_table_request(definition: dict[str, Any], table_name: str) -> dict[str, Any]:
    """Return keyword arguments for ``client.create_table`` creating ``definition`` as ``table_name``."""
    return {"TableName": table_name, **copy.deepcopy(definition)}
