"""Every DynamoDB expression of the function, and the translation of DynamoDB failures into typed errors.

``ItemStore`` holds the items; ``WindowCounter`` is the rate limiter's atomic, conditional counter (the
policy around it lives in ``handler.rate_limit``). Both take a boto3 DynamoDB client, so tests can hand
them one pointed at DynamoDB Local or wrapped to inject faults.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from handler._rules import is_valid_id
from handler._tracing import tracer
from handler.errors import ConflictError, InvalidRequestError, NotFoundError, ServiceUnavailableError
from handler.tables import ITEMS_KEY, ITEMS_YEAR_INDEX, RATE_LIMIT_KEY, RATE_LIMIT_TTL_ATTRIBUTE

__all__ = ["ItemStore", "Page", "StoredItem", "WindowCounter"]

# Errors that mean "DynamoDB is overloaded or unreachable right now" once the client's own retries are
# spent: the caller may retry later. So is any 5xx answer, whatever its code: AWS's generic
# ``InternalFailure``, or one botocore names after the status (``"503"``) when the body has no error type.
# Anything else (missing table, access denied) is our bug: a 500.
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"
_CURSOR_FIELDS: Final = frozenset({ITEMS_KEY, "year"})


class _ConditionFailed(Exception):
    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(_CONDITION_FAILED)
        self.response = response

    @property
    def after_retries(self) -> bool:
        """Whether the client sent the request more than once: an earlier attempt may have been applied."""
        return bool(self.response.get("ResponseMetadata", {}).get("RetryAttempts"))


@contextmanager
def _dynamodb_errors() -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == _CONDITION_FAILED:
            raise _ConditionFailed(error.response) from None
        if code in _UNAVAILABLE_CODES or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise ServiceUnavailableError from error
        raise
    except (BotocoreConnectionError, HTTPClientError) as error:
        # Connect/read timeouts and dropped connections, after the configured retries.
        raise ServiceUnavailableError from error


class StoredItem(TypedDict):
    """An item as the API returns it (the shape of ``handler.models.Item``)."""

    id: str
    year: int
    title: str


def _to_item(attributes: dict[str, Any]) -> StoredItem:
    return {
        "id": attributes[ITEMS_KEY]["S"],
        "year": int(attributes["year"]["N"]),
        "title": attributes["title"]["S"],
    }


@dataclass(frozen=True)
class Page:
    items: list[StoredItem]
    next_cursor: str | None


class ItemStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @tracer.capture_method
    def create(self, item: StoredItem) -> bool:
        """Store ``item``; return whether it is new. Raise ``ConflictError`` if the id holds other content.

        One conditional write, so a client retrying a create whose answer it lost gets the same success,
        and two clients racing for one id with different content cannot both win. The write never
        replaces an item: when the id exists, DynamoDB refuses it and returns the stored item in the same
        answer, which then decides between a retry's success and a conflict. (A condition comparing the
        fields, with the old item returned on every write, costs DynamoDB more on every create.)
        """
        try:
            with _dynamodb_errors():
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        ITEMS_KEY: {"S": item["id"]},
                        "year": {"N": str(item["year"])},
                        "title": {"S": item["title"]},
                    },
                    ConditionExpression="attribute_not_exists(#id)",
                    ExpressionAttributeNames={"#id": ITEMS_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except _ConditionFailed as refused:
            if _to_item(refused.response["Item"]) != item:
                raise ConflictError from None
            return False
        return True

    @tracer.capture_method
    def get(self, item_id: str) -> StoredItem:
        with _dynamodb_errors():
            response = self._client.get_item(TableName=self._table, Key={ITEMS_KEY: {"S": item_id}})
        if "Item" not in response:
            raise NotFoundError
        return _to_item(response["Item"])

    @tracer.capture_method
    def update(self, item_id: str, year: int | None, title: str | None) -> StoredItem:
        """Change the given fields of an existing item; ``NotFoundError`` if there is none (no upsert)."""
        names = {"#id": ITEMS_KEY}
        values: dict[str, Any] = {}
        assignments = []
        if year is not None:
            names["#year"] = "year"
            values[":year"] = {"N": str(year)}
            assignments.append("#year = :year")
        if title is not None:
            names["#title"] = "title"
            values[":title"] = {"S": title}
            assignments.append("#title = :title")
        try:
            with _dynamodb_errors():
                response = self._client.update_item(
                    TableName=self._table,
                    Key={ITEMS_KEY: {"S": item_id}},
                    UpdateExpression="SET " + ", ".join(assignments),
                    ConditionExpression="attribute_exists(#id)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except _ConditionFailed:
            raise NotFoundError from None
        return _to_item(response["Attributes"])

    @tracer.capture_method
    def delete(self, item_id: str) -> None:
        """Delete the item; raise ``NotFoundError`` if there was none.

        When the client had to retry, the refusal may be its own first attempt's doing (applied, answer lost):
        the item is gone either way, so that counts as deleted rather than as never there.
        """
        try:
            with _dynamodb_errors():
                self._client.delete_item(
                    TableName=self._table,
                    Key={ITEMS_KEY: {"S": item_id}},
                    ConditionExpression="attribute_exists(#id)",
                    ExpressionAttributeNames={"#id": ITEMS_KEY},
                )
        except _ConditionFailed as refused:
            if not refused.after_retries:
                raise NotFoundError from None

    @tracer.capture_method
    def list_by_year(self, year: int, limit: int, cursor: str | None) -> Page:
        """One page of the year's items in id order, through the year index (never a scan)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ITEMS_YEAR_INDEX,
            "KeyConditionExpression": "#year = :year",
            "ExpressionAttributeNames": {"#year": "year"},
            "ExpressionAttributeValues": {":year": {"N": str(year)}},
            "Limit": limit,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = _decode_cursor(cursor, year)
        with _dynamodb_errors():
            response = self._client.query(**request)
        last_key = response.get("LastEvaluatedKey")
        return Page(
            items=[_to_item(attributes) for attributes in response.get("Items", [])],
            next_cursor=_encode_cursor(last_key) if last_key else None,
        )


def _encode_cursor(last_evaluated_key: dict[str, Any]) -> str:
    position = {ITEMS_KEY: last_evaluated_key[ITEMS_KEY]["S"], "year": int(last_evaluated_key["year"]["N"])}
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, year: int) -> dict[str, Any]:
    """Rebuild the ExclusiveStartKey, accepting only a position inside this very query.

    The cursor is not signed (no secret is configured): a client can only move its own position within
    the year it asked for, which it could do anyway, so structure checks are enough to keep forged
    cursors from reaching DynamoDB as arbitrary keys.
    """
    invalid = InvalidRequestError("Invalid cursor: pass next_cursor from the previous page unchanged")
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if (
        not isinstance(position, dict)
        or position.keys() != _CURSOR_FIELDS
        or not isinstance(position[ITEMS_KEY], str)
        or not is_valid_id(position[ITEMS_KEY])
        or type(position["year"]) is not int
        or position["year"] != year
    ):
        raise invalid
    return {ITEMS_KEY: {"S": position[ITEMS_KEY]}, "year": {"N": str(year)}}


class WindowCounter:
    """Atomic per-key counters for the rate limiter: one conditional UpdateItem per request."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @tracer.capture_method
    def increment_below(self, key: str, limit: int, expires_at: int) -> int | None:
        """Add one to ``key``'s counter unless it already reached ``limit``; return the new count, or
        ``None`` when the limit was reached. DynamoDB evaluates the condition and the increment as one
        atomic step, so concurrent callers can never push the count past ``limit``. (A client retry after a
        lost answer counts one request twice: while DynamoDB struggles, the limiter errs on the strict side.)
        """
        try:
            with _dynamodb_errors():
                response = self._client.update_item(
                    TableName=self._table,
                    Key={RATE_LIMIT_KEY: {"S": key}},
                    UpdateExpression="ADD #count :one SET #expires = :expires",
                    ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                    ExpressionAttributeNames={"#count": "count", "#expires": RATE_LIMIT_TTL_ATTRIBUTE},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                        ":expires": {"N": str(expires_at)},
                    },
                    ReturnValues="UPDATED_NEW",
                )
        except _ConditionFailed:
            return None
        return int(response["Attributes"]["count"]["N"])
