"""Handler fixtures: tables built from handler/tables.py, the app imported under a test environment,
API Gateway REST (v1) events built from the JSON files in events/, and a fake Lambda context."""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from handler import config
from handler.contract import ROUTES
from handler.tables import ITEMS_TABLE, RATE_LIMIT_TABLE, create_table_request
from tools.mocks import ROOT

EVENTS = Path(__file__).parent / "events"
# The limiter is exercised on its own tables and limits; the app's is out of the other tests' way.
APP_RATE_LIMIT = 1_000_000


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_table(client: Any, definition: dict[str, Any], prefix: str) -> str:
    name = unique_name(prefix)
    client.create_table(**create_table_request(definition, name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


def scan_all(client: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of a table (tests only: the handler itself never scans)."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@dataclass(frozen=True)
class AppTables:
    items: str
    rate_limit: str


@pytest.fixture(scope="session")
def app_tables(dynamodb_client: Any) -> AppTables:
    return AppTables(
        items=create_table(dynamodb_client, ITEMS_TABLE, "items"),
        rate_limit=create_table(dynamodb_client, RATE_LIMIT_TABLE, "rate-limit"),
    )


def app_environment(tables: AppTables) -> dict[str, str]:
    return {
        config.ENV_ITEMS_TABLE_NAME: tables.items,
        config.ENV_RATE_LIMIT_TABLE_NAME: tables.rate_limit,
        config.ENV_RATE_LIMIT_REQUESTS: str(APP_RATE_LIMIT),
        config.ENV_RATE_LIMIT_WINDOW_SECONDS: "60",
        config.ENV_RATE_LIMIT_FAIL_OPEN: "false",
        config.ENV_POWERTOOLS_SERVICE_NAME: "tiered-api-test",
        config.ENV_POWERTOOLS_METRICS_NAMESPACE: "TieredApiTest",
        config.ENV_POWERTOOLS_TRACE_DISABLED: "true",
    }


@pytest.fixture(scope="session")
def app_module(app_tables: AppTables) -> Iterator[ModuleType]:
    """``handler.app``, imported (cold start) with a valid environment pointing at DynamoDB Local."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in app_environment(app_tables).items():
            patch.setenv(name, value)
        module = importlib.import_module("handler.app")
        # Lambda's stdout never changes; pytest swaps sys.stdout per test, so the Logger must look it up
        # at each write instead of keeping the stream it was built with.
        module.logger.registered_handler.setStream(_CurrentStdout())
        yield module


class _CurrentStdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class FakeLambdaContext:
    function_name = "tiered-api-handler"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tiered-api-handler"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/tiered-api-handler"
    log_stream_name = "2026/11/22/[$LATEST]0123456789abcdef"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


_NOT_GIVEN: Any = object()


def _resource_for(path: str) -> tuple[str, dict[str, str] | None]:
    """API Gateway's resource template and path parameters for ``path``, as its router would set them."""
    for route in ROUTES:
        match = route.pattern.match(path)
        if match:
            return route.path, (match.groupdict() or None)
    return "/{proxy+}", {"proxy": path.lstrip("/")}


EventBuilder = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def build_event() -> EventBuilder:
    """Build a REST proxy event from the seeds' request, changing only what the test names."""
    template = load_event("seed_post_root.json")

    def build(
        method: str = "POST",
        path: str = "/",
        body: Any = _NOT_GIVEN,
        *,
        raw_body: str | None = None,
        base64_encoded: bool = False,
        content_type: str | None = "application/json",
        query: dict[str, str] | None = None,
        api_key_id: str | None = "k1a2b3c4d5",
        source_ip: str = "198.51.100.23",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event = copy.deepcopy(template)
        resource, path_parameters = _resource_for(path)
        event.update(
            httpMethod=method,
            path=path,
            resource=resource,
            pathParameters=path_parameters,
            queryStringParameters=query,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        )
        event["isBase64Encoded"] = base64_encoded
        if raw_body is not None:
            event["body"] = raw_body
        elif body is not _NOT_GIVEN:
            event["body"] = None if body is None else json.dumps(body)
        all_headers = {k: v for k, v in event["headers"].items() if k != "Content-Type"}
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        event["headers"] = all_headers
        event["multiValueHeaders"] = {k: [v] for k, v in all_headers.items()}
        context = event["requestContext"]
        context.update(
            httpMethod=method,
            resourcePath=resource,
            path=f"/{context['stage']}{path}",
            requestId=str(uuid.uuid4()),
        )
        context["identity"].update(apiKeyId=api_key_id, sourceIp=source_ip)
        return event

    return build


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any
    request_id: str


Invoke = Callable[[dict[str, Any]], HttpResult]


@pytest.fixture
def invoke(app_module: ModuleType, lambda_context: FakeLambdaContext) -> Invoke:
    """Call ``lambda_handler`` as Lambda would and decode the proxy response."""

    def call(event: dict[str, Any]) -> HttpResult:
        response = app_module.lambda_handler(event, lambda_context)
        # Powertools answers REST v1 events with multiValueHeaders; API Gateway merges both forms.
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ", ".join(values)
        text = response.get("body") or ""
        return HttpResult(
            status=response["statusCode"],
            headers=headers,
            body=json.loads(text) if text else None,
            request_id=event["requestContext"]["requestId"],
        )

    return call


@pytest.fixture
def new_id() -> str:
    """An item id no other test uses."""
    return uuid.uuid4().hex


@pytest.fixture
def items_table(app_module: ModuleType, dynamodb_client: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty items table behind the app for this test only, so the test can see all of it."""
    from handler.store import ItemStore

    name = create_table(dynamodb_client, ITEMS_TABLE, "items")
    monkeypatch.setattr(app_module, "_items", ItemStore(app_module._dynamodb, name))
    return name


HookRegistrar = Callable[[str, Callable[..., Any]], None]


@pytest.fixture
def on_dynamodb_call(app_module: ModuleType) -> Iterator[HookRegistrar]:
    """Register a botocore ``before-parameter-build`` handler on the app's DynamoDB client, for this test.

    The handler sees the operation's API parameters (``params``) before anything is sent: one that raises
    stands in for DynamoDB failing after the client's retries; one that returns None just observes.
    """
    events = app_module._dynamodb.meta.events
    registered: list[tuple[str, Callable[..., Any]]] = []

    def register(operation: str, handler: Callable[..., Any]) -> None:
        name = f"before-parameter-build.dynamodb.{operation}"
        events.register(name, handler)
        registered.append((name, handler))

    yield register
    for name, handler in registered:
        events.unregister(name, handler)


@pytest.fixture
def output(app_module: ModuleType, capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything the function wrote to stdout so far in the test: Logger lines and EMF metric blobs."""
    return lambda: capsys.readouterr().out


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def emitted_metrics(text: str) -> list[str]:
    """Names of the EMF metrics in the output, one entry per emission."""
    names: list[str] = []
    for record in json_lines(text):
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            names.extend(metric["Name"] for metric in directive["Metrics"])
    return names


# --- a real cold start: the handler imported and invoked in a fresh interpreter, as Lambda runs it ---

COLD_START = """
import json, sys
from handler.app import lambda_handler
heavy = sorted(name for name in ("pydantic", "aws_xray_sdk", "pulumi", "yaml") if name in sys.modules)
print(json.dumps({"heavy_modules_after_import": heavy}))

class Context:
    function_name = "tiered-api-handler"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tiered-api-handler"
    aws_request_id = "cold-start-request"

for event in json.loads(sys.stdin.read()):
    print(json.dumps({"status": lambda_handler(event, Context())["statusCode"]}))
heavy = sorted(name for name in ("pydantic", "fastjsonschema") if name in sys.modules)
print(json.dumps({"validation_modules_after_request": heavy}))
"""


LAMBDA_WITH_TRACING = {
    "LAMBDA_TASK_ROOT": str(ROOT),
    "POWERTOOLS_TRACE_DISABLED": "false",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}


def cold_start(environment: dict[str, str], *events: dict[str, Any]) -> str:
    """The stdout of a fresh interpreter that imports the handler, then invokes it with each event in turn."""
    result = subprocess.run(
        [sys.executable, "-c", COLD_START],
        input=json.dumps(events),
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout
