"""What every benchmark runs against: one DynamoDB Local, its tables, and the handlers' environments.

Both handlers talk to the same DynamoDB Local through the standard ``AWS_ENDPOINT_URL_DYNAMODB``, so neither
has a local code path and neither gets a faster backend than the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any, Final

from bench import reference
from handler.config import ENV_POWERTOOLS_TRACE_DISABLED
from handler.tables import ITEMS_TABLE, RATE_LIMIT_TABLE, create_table_request

__all__ = [
    "ROOT",
    "SEED_EVENT_FILE",
    "BenchTables",
    "HandlerVariant",
    "aws_environment",
    "dynamodb_client",
    "ours_environment",
    "run_python",
    "running_dynamodb",
    "sample_environment",
    "seed_event",
    "seed_limited_environment",
    "start_python",
]

ROOT: Final = Path(__file__).resolve().parent.parent
# The seeds' request as API Gateway's REST proxy integration delivers it; the handler's tests use the same file.
SEED_EVENT_FILE: Final = ROOT / "tests" / "handler" / "events" / "seed_post_root.json"
REGION: Final = "us-east-1"
# DynamoDB Local accepts any credentials; without -sharedDb each key id sees its own tables, so all share one.
_CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
# Limits far above anything a benchmark sends, so only the limiter's cost is measured, never its rejections.
UNTHROTTLED_REQUESTS: Final = 1_000_000_000


@dataclass(frozen=True)
class HandlerVariant:
    """One handler under measurement: ``module.function`` run with ``environment``."""

    key: str
    label: str
    module: str
    function: str
    environment: Mapping[str, str]


def _child_options(environment: Mapping[str, str]) -> dict[str, Any]:
    """How every child starts: from the project's root, with ``environment`` and little else (the developer's AWS
    settings must not leak in), its stdout discarded, text streams."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {
        "env": {**keep, "PYTHONPATH": str(ROOT), **environment},
        "cwd": ROOT,
        "stdout": subprocess.DEVNULL,
        "text": True,
    }


def run_python(
    args: Sequence[str], environment: Mapping[str, str], what: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Our own interpreter on ``args``, to completion."""
    finished: subprocess.CompletedProcess[str] = subprocess.run(  # noqa: S603 (our own interpreter and modules)
        [sys.executable, *args], **_child_options(environment), stderr=subprocess.PIPE, timeout=timeout, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{what} failed: {finished.stderr[-2000:]}")
    return finished


def start_python(
    args: Sequence[str], environment: Mapping[str, str], pass_fds: Sequence[int], stderr: IO[bytes]
) -> subprocess.Popen[str]:
    """Our own interpreter on ``args``, left running: its stdin is a text pipe."""
    process: subprocess.Popen[str] = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
        [sys.executable, *args], **_child_options(environment), stdin=subprocess.PIPE, stderr=stderr, pass_fds=pass_fds
    )
    return process


@dataclass(frozen=True)
class BenchTables:
    endpoint_url: str
    items: str
    rate_limit: str
    seed_rate_limit: str


def aws_environment(endpoint_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        **_CREDENTIALS,
    }


def ours_environment(tables: BenchTables, *, traced: bool) -> dict[str, str]:
    """tiered-api's function environment exactly as the stack sets it (``components.api.function_environment``),
    with a limit no benchmark reaches; ``traced`` makes it believe it runs in Lambda with X-Ray active."""
    from components.api import function_environment, service_name
    from components.settings import AppRateLimitSettings

    limiter = AppRateLimitSettings(requests=UNTHROTTLED_REQUESTS, window_seconds=60, fail_open=False)
    deployed = function_environment(limiter, tables.items, tables.rate_limit, service_name("bench"))
    environment = {**aws_environment(tables.endpoint_url), **{name: str(value) for name, value in deployed.items()}}
    if traced:
        # What Lambda sets: Powertools' Tracer and the X-Ray SDK take these to mean "inside Lambda, sampled".
        # Segments go over UDP to a daemon address nobody listens on, which costs what the real send costs.
        environment |= {
            "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "bench-handler",
            "_X_AMZN_TRACE_ID": "Root=1-65f0c0de-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        }
    else:
        environment[ENV_POWERTOOLS_TRACE_DISABLED] = "true"
    return environment


def sample_environment(tables: BenchTables) -> dict[str, str]:
    return {**aws_environment(tables.endpoint_url), "TABLE_NAME": tables.items}


def seed_limited_environment(tables: BenchTables) -> dict[str, str]:
    """The sample behind seed 003's limiter (``bench.reference.seed_limited_sample``), never rejecting."""
    return {
        **sample_environment(tables),
        reference.ENV_SEED_TABLE: tables.seed_rate_limit,
        reference.ENV_SEED_REQUESTS: str(UNTHROTTLED_REQUESTS),
        reference.ENV_SEED_WINDOW_SECONDS: "60",
    }


@cache
def _seed_event_text() -> str:
    return SEED_EVENT_FILE.read_text()


def seed_event(item_id: str | None = None) -> dict[str, Any]:
    """The seeds' request, with a fresh item id so every call stores a new item as a real client's would."""
    event: dict[str, Any] = json.loads(_seed_event_text())  # the file is read once; every event a new copy
    body = json.loads(event["body"])
    body["id"] = item_id or uuid.uuid4().hex
    event["body"] = json.dumps(body, separators=(",", ":"))
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def dynamodb_client(endpoint_url: str, max_pool_connections: int = 10) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(max_pool_connections=max_pool_connections),
    )


def create_table(client: Any, definition: dict[str, Any], prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_table(**create_table_request(definition, name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


@contextmanager
def running_dynamodb() -> Iterator[BenchTables]:
    """An in-memory DynamoDB Local with the tables of ``handler.tables`` and seed 003's; stopped on exit.
    Long-lived: it serves every benchmark of the run, tens of thousands of requests."""
    from local.dynamodb_local import DynamoDBLocal
    from tests.handler.seed_rate_limiter import SEED_TABLE_DEFINITION

    with DynamoDBLocal(long_lived=True) as server:
        client = dynamodb_client(server.endpoint_url)
        yield BenchTables(
            endpoint_url=server.endpoint_url,
            items=create_table(client, ITEMS_TABLE, "bench-items"),
            rate_limit=create_table(client, RATE_LIMIT_TABLE, "bench-rate-limit"),
            seed_rate_limit=create_table(client, SEED_TABLE_DEFINITION, "bench-seed-rate-limit"),
        )
