"""One stack's local resources: its settings, local names, API keys and DynamoDB Local tables."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from components.settings import PROJECT, StackSettings
from handler.tables import ITEMS_TABLE, RATE_LIMIT_TABLE, RATE_LIMIT_TTL_ATTRIBUTE, create_table_request
from local.gateway import ApiKey, new_api_key
from tools.mocks import ACCOUNT_ID

__all__ = [
    "LOCAL_ACCOUNT_ID",
    "LOCAL_CREDENTIALS",
    "UNRESERVED_LOCAL_CONCURRENCY",
    "LocalNames",
    "ensure_tables",
    "load_api_keys",
    "local_concurrency",
]

LOCAL_ACCOUNT_ID: Final = ACCOUNT_ID
# DynamoDB Local accepts any credentials but keeps tables apart per access key and region: the server and every
# worker use these, so they all see the same tables.
LOCAL_CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# A function without reserved concurrency draws on the account's unreserved pool (1,000 by default), which is no
# number for a laptop: this many execution environments is what two cores hold while the rest keeps answering.
UNRESERVED_LOCAL_CONCURRENCY: Final = 4


@dataclass(frozen=True)
class LocalNames:
    items_table: str
    rate_limit_table: str
    function: str

    @classmethod
    def of(cls, stack: str) -> LocalNames:
        prefix = f"{PROJECT}-{stack}"
        return cls(items_table=f"{prefix}-items", rate_limit_table=f"{prefix}-rate-limit", function=f"{prefix}-handler")


def local_concurrency(settings: StackSettings) -> int:
    """How many execution environments the function may have at once."""
    return settings.lambda_.reserved_concurrency or UNRESERVED_LOCAL_CONCURRENCY


def load_api_keys(path: Path, settings: StackSettings) -> dict[str, ApiKey]:
    """One key per consumer, kept in ``path`` across runs; a new consumer (or a changed plan) gets a new key."""
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            stored = {}
    keys: dict[str, ApiKey] = {}
    for consumer, consumer_settings in settings.consumers.items():
        previous = stored.get(consumer)
        if isinstance(previous, dict) and previous.get("plan") == consumer_settings.plan:
            try:
                keys[consumer] = ApiKey(**previous)
                continue
            except TypeError:
                pass
        keys[consumer] = new_api_key(consumer, consumer_settings.plan)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Local-only values, but keys all the same: readable by their owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({consumer: asdict(key) for consumer, key in keys.items()}, file, indent=2)
    return keys


def ensure_tables(client: Any, names: LocalNames) -> None:
    """Create the tables the handler uses, from the same definitions as the deployed ones, where absent."""
    existing = set(client.list_tables()["TableNames"])
    for definition, name in ((ITEMS_TABLE, names.items_table), (RATE_LIMIT_TABLE, names.rate_limit_table)):
        if name not in existing:
            client.create_table(**create_table_request(definition, name))
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = client.describe_time_to_live(TableName=names.rate_limit_table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=names.rate_limit_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": RATE_LIMIT_TTL_ATTRIBUTE},
        )
