"""Seed 003's rate limiter, kept as the reference ours replaces (its shape, from the seed's README: a
table keyed by ``ip`` holding ``request_count`` and ``last_request_time``; Lambda reads the item, returns
429 when the count reached the limit, otherwise writes the incremented count back: a get, then a put).

The write is unconditional and based on what was read, so requests that read the same count all pass
and then overwrite each other's increments: it over-admits under concurrency. ``after_read`` lets a test
make that interleaving certain instead of hoping for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SEED_TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": "ip", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "ip", "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


class SeedRateLimiter:
    def __init__(
        self,
        client: Any,
        table_name: str,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
        after_read: Callable[[], object] = lambda: None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._after_read = after_read

    def allow(self, ip: str) -> bool:
        now = int(self._clock())
        item = self._client.get_item(TableName=self._table, Key={"ip": {"S": ip}}, ConsistentRead=True).get("Item")
        self._after_read()
        if item is not None and now - int(item["last_request_time"]["N"]) < self._window:
            count = int(item["request_count"]["N"])
            if count >= self._limit:
                return False
            # The whole item written back with the count read plus one: the window's start stays.
            self._put(ip, count + 1, int(item["last_request_time"]["N"]))
            return True
        self._put(ip, 1, now)
        return True

    def _put(self, ip: str, count: int, window_start: int) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"ip": {"S": ip}, "request_count": {"N": str(count)}, "last_request_time": {"N": str(window_start)}},
        )

    def stored_count(self, ip: str) -> int:
        item = self._client.get_item(TableName=self._table, Key={"ip": {"S": ip}}, ConsistentRead=True)["Item"]
        return int(item["request_count"]["N"])
