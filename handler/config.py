"""The handler's configuration: environment variables only, read and validated once per cold start.

The infrastructure and the local stack set these variables; their names are exported as constants so
nobody spells them twice. The DynamoDB endpoint is not configuration here: boto3 honours the standard
``AWS_ENDPOINT_URL_DYNAMODB``, so local runs need no special code path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ENV_ITEMS_TABLE_NAME",
    "ENV_POWERTOOLS_METRICS_NAMESPACE",
    "ENV_POWERTOOLS_SERVICE_NAME",
    "ENV_POWERTOOLS_TRACE_DISABLED",
    "ENV_RATE_LIMIT_FAIL_OPEN",
    "ENV_RATE_LIMIT_REQUESTS",
    "ENV_RATE_LIMIT_TABLE_NAME",
    "ENV_RATE_LIMIT_WINDOW_SECONDS",
    "MAX_RATE_LIMIT_WINDOW_SECONDS",
    "REQUIRED_VARIABLES",
    "ConfigError",
    "Settings",
    "load_settings",
]

ENV_ITEMS_TABLE_NAME: Final = "ITEMS_TABLE_NAME"
ENV_RATE_LIMIT_TABLE_NAME: Final = "RATE_LIMIT_TABLE_NAME"
ENV_RATE_LIMIT_REQUESTS: Final = "RATE_LIMIT_REQUESTS"
ENV_RATE_LIMIT_WINDOW_SECONDS: Final = "RATE_LIMIT_WINDOW_SECONDS"
ENV_RATE_LIMIT_FAIL_OPEN: Final = "RATE_LIMIT_FAIL_OPEN"
# Powertools reads these itself; they are required here because metrics cannot be flushed without a
# namespace, and a function that fails every flush is worse than one that refuses to start.
ENV_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
# Optional: "true" turns X-Ray off (Powertools' own variable; also read by handler._observability).
ENV_POWERTOOLS_TRACE_DISABLED: Final = "POWERTOOLS_TRACE_DISABLED"

REQUIRED_VARIABLES: Final = (
    ENV_ITEMS_TABLE_NAME,
    ENV_RATE_LIMIT_TABLE_NAME,
    ENV_RATE_LIMIT_REQUESTS,
    ENV_RATE_LIMIT_WINDOW_SECONDS,
    ENV_RATE_LIMIT_FAIL_OPEN,
    ENV_POWERTOOLS_SERVICE_NAME,
    ENV_POWERTOOLS_METRICS_NAMESPACE,
)

MAX_RATE_LIMIT_WINDOW_SECONDS: Final = 86_400
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_BOOLEANS: Final = {"true": True, "false": False}


class ConfigError(Exception):
    """The environment does not describe a working handler; the message names every bad variable."""


@dataclass(frozen=True)
class Settings:
    items_table_name: str
    rate_limit_table_name: str
    rate_limit_requests: int
    rate_limit_window_seconds: int
    rate_limit_fail_open: bool
    service_name: str
    metrics_namespace: str


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Validate the environment; raise ``ConfigError`` listing every missing or invalid variable."""
    problems: list[str] = []

    def text(name: str) -> str:
        value = environ.get(name, "").strip()
        if not value:
            problems.append(f"{name} is missing")
        return value

    def table_name(name: str) -> str:
        value = text(name)
        if value and not _TABLE_NAME.fullmatch(value):
            problems.append(f"{name}={value!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
        return value

    def integer(name: str, maximum: int | None = None) -> int:
        value = text(name)
        if not value:
            return 0
        bound = f" and <= {maximum}" if maximum is not None else ""
        try:
            number = int(value)
        except ValueError:
            problems.append(f"{name}={value!r} is not an integer >= 1{bound}")
            return 0
        if number < 1 or (maximum is not None and number > maximum):
            problems.append(f"{name}={value!r} must be an integer >= 1{bound}")
        return number

    def boolean(name: str) -> bool:
        value = text(name)
        if value and value.lower() not in _BOOLEANS:
            problems.append(f"{name}={value!r} must be 'true' or 'false'")
        return _BOOLEANS.get(value.lower(), False)

    settings = Settings(
        items_table_name=table_name(ENV_ITEMS_TABLE_NAME),
        rate_limit_table_name=table_name(ENV_RATE_LIMIT_TABLE_NAME),
        rate_limit_requests=integer(ENV_RATE_LIMIT_REQUESTS),
        rate_limit_window_seconds=integer(ENV_RATE_LIMIT_WINDOW_SECONDS, MAX_RATE_LIMIT_WINDOW_SECONDS),
        rate_limit_fail_open=boolean(ENV_RATE_LIMIT_FAIL_OPEN),
        service_name=text(ENV_POWERTOOLS_SERVICE_NAME),
        metrics_namespace=text(ENV_POWERTOOLS_METRICS_NAMESPACE),
    )
    if problems:
        raise ConfigError("invalid handler configuration: " + "; ".join(problems))
    return settings
