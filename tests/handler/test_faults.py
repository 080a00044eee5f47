"""DynamoDB failing under the function: throttling and timeouts become a 503 with Retry-After and leave
nothing half-written; anything unexpected is a generic 500; concurrent creates of one id stay consistent."""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from botocore.stub import Stubber

from handler.store import ItemStore
from handler.tables import ITEMS_TABLE

from .conftest import FakeLambdaContext, create_table, json_lines, scan_all

THROTTLING_CODES = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
]
BODY = {"id": "f-1", "year": "2023", "title": "kkkg"}


@pytest.fixture
def stubbed_store(app_module, items_table, monkeypatch):
    """The app's item store on a client whose answers the test scripts (botocore's Stubber)."""
    client = boto3.client("dynamodb")
    monkeypatch.setattr(app_module, "_items", ItemStore(client, items_table))
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _throttled(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} secret-detail"}}, operation)


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_throttled_create_is_503_with_retry_after_and_writes_nothing(
    invoke, build_event, stubbed_store, items_table, dynamodb_client, code
):
    stubbed_store.add_client_error("put_item", service_error_code=code, service_message="secret-detail")

    result = invoke(build_event("POST", "/items", body=BODY))

    assert result.status == 503
    assert result.headers["retry-after"] == "1"
    assert result.body == {
        "message": "Service temporarily unavailable, retry later",
        "request_id": result.request_id,
    }
    assert scan_all(dynamodb_client, items_table) == []


@pytest.mark.parametrize(
    ("code", "http_status"),
    [("InternalFailure", 500), ("503", 503), ("502", 502)],
    ids=["aws-internal-failure", "503-without-error-type", "502-without-error-type"],
)
def test_any_5xx_from_dynamodb_is_503_with_retry_after_and_writes_nothing(
    invoke, build_event, stubbed_store, items_table, dynamodb_client, code, http_status
):
    # botocore names an error whose body carries no type after its HTTP status, e.g. a bare 503.
    stubbed_store.add_client_error("put_item", service_error_code=code, http_status_code=http_status)

    result = invoke(build_event("POST", "/items", body=BODY))

    assert (result.status, result.headers["retry-after"]) == (503, "1")
    assert scan_all(dynamodb_client, items_table) == []


@pytest.mark.parametrize("code", THROTTLING_CODES[:2])
def test_throttled_read_is_503(invoke, build_event, stubbed_store, code):
    stubbed_store.add_client_error("get_item", service_error_code=code)

    result = invoke(build_event("GET", "/items/f-1"))

    assert (result.status, result.headers["retry-after"]) == (503, "1")


def test_throttled_update_is_503_and_leaves_the_item_as_it_was(invoke, build_event, items_table, on_dynamodb_call):
    invoke(build_event("POST", "/items", body=BODY))

    def throttle(params, **_):
        if params["TableName"] == items_table:
            raise _throttled("ProvisionedThroughputExceededException", "UpdateItem")

    on_dynamodb_call("UpdateItem", throttle)

    result = invoke(build_event("PUT", "/items/f-1", body={"title": "changed", "year": 1999}))

    assert result.status == 503
    assert invoke(build_event("GET", "/items/f-1")).body == {"id": "f-1", "year": 2023, "title": "kkkg"}


@pytest.mark.parametrize(
    "timeout",
    [
        ReadTimeoutError(endpoint_url="http://dynamodb.local"),
        ConnectTimeoutError(endpoint_url="http://dynamodb.local"),
    ],
    ids=["read-timeout", "connect-timeout"],
)
@pytest.mark.parametrize(
    ("operation", "method", "path"), [("PutItem", "POST", "/items"), ("GetItem", "GET", "/items/f-1")]
)
def test_dynamodb_timeout_is_503_with_retry_after(
    invoke, build_event, items_table, dynamodb_client, on_dynamodb_call, timeout, operation, method, path
):
    def time_out(**_):
        raise timeout

    on_dynamodb_call(operation, time_out)

    result = invoke(build_event(method, path, body=BODY))

    assert (result.status, result.headers["retry-after"]) == (503, "1")
    assert scan_all(dynamodb_client, items_table) == []


def test_delete_retried_after_its_answer_was_lost_is_204(invoke, build_event, stubbed_store):
    # The first attempt deleted the item but its answer never came back; the retry then finds nothing.
    stubbed_store.add_client_error(
        "delete_item", service_error_code="ConditionalCheckFailedException", response_meta={"RetryAttempts": 1}
    )

    assert invoke(build_event("DELETE", "/items/f-1")).status == 204


def test_delete_refused_on_its_first_attempt_is_404(invoke, build_event, stubbed_store):
    stubbed_store.add_client_error(
        "delete_item", service_error_code="ConditionalCheckFailedException", response_meta={"RetryAttempts": 0}
    )

    assert invoke(build_event("DELETE", "/items/f-1")).status == 404


def test_dynamodb_unavailability_is_logged_with_its_cause(invoke, build_event, stubbed_store, output):
    stubbed_store.add_client_error("get_item", service_error_code="ThrottlingException")

    invoke(build_event("GET", "/items/f-1"))

    warnings = [line for line in json_lines(output()) if line.get("message") == "dynamodb unavailable"]
    assert [(line["level"], line["cause"]) for line in warnings] == [("WARNING", "ThrottlingException")]


def test_unexpected_dynamodb_error_is_a_generic_500_that_leaks_nothing(
    invoke, build_event, app_module, monkeypatch, output
):
    # GIVEN the store points at a table that does not exist (a deployment bug, not the client's fault)
    missing = f"missing-{uuid.uuid4().hex}"
    monkeypatch.setattr(app_module, "_items", ItemStore(app_module._dynamodb, missing))

    result = invoke(build_event("GET", "/items/f-1"))

    # THEN the client gets a bare 500; the details go to the log only
    assert result.status == 500
    assert result.body == {"message": "Internal server error", "request_id": result.request_id}
    errors = [line for line in json_lines(output()) if line["level"] == "ERROR"]
    assert [line["message"] for line in errors] == ["unhandled error"]
    assert "ResourceNotFoundException" in errors[0]["exception"]


def test_dynamodb_client_retries_are_bounded_with_standard_backoff_and_timeouts(app_module):
    config = app_module._dynamodb.meta.config

    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (0.5, 1.0)


# Races between concurrent invocations. Lambda runs one request per process at a time (and Powertools'
# resolver keeps the current event on the class), so concurrent invocations are separate processes.


def _invoke_in_process(environment: dict[str, str], event: dict, barrier) -> int:
    os.environ.update(environment)
    from handler.app import lambda_handler

    barrier.wait(timeout=60)
    context: Any = FakeLambdaContext()
    return lambda_handler(event, context)["statusCode"]


def _race(build_event, dynamodb_client, bodies: list[dict]) -> tuple[list[int], list[dict]]:
    table = create_table(dynamodb_client, ITEMS_TABLE, "items-race")
    environment = {"ITEMS_TABLE_NAME": table}
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(len(bodies), mp_context=context) as pool:
        barrier = manager.Barrier(len(bodies))
        events = [build_event("POST", "/items", raw_body=json.dumps(body)) for body in bodies]
        futures = [pool.submit(_invoke_in_process, environment, event, barrier) for event in events]
        statuses = [future.result(timeout=120) for future in futures]
    return statuses, scan_all(dynamodb_client, table)


def test_racing_creates_of_one_id_with_different_content_one_wins_one_conflicts(
    app_module, build_event, dynamodb_client
):
    bodies = [{"id": "race", "year": "2023", "title": title} for title in ("left", "right")]

    statuses, items = _race(build_event, dynamodb_client, bodies)

    assert sorted(statuses) == [201, 409]
    assert len(items) == 1
    winner = bodies[statuses.index(201)]
    assert items[0]["title"] == {"S": winner["title"]}


def test_racing_identical_creates_both_succeed_and_store_one_item(app_module, build_event, dynamodb_client):
    body = {"id": "race", "year": "2023", "title": "same"}

    statuses, items = _race(build_event, dynamodb_client, [body, dict(body)])

    assert statuses == [201, 201]
    assert len(items) == 1
