"""A real cold start, in a fresh interpreter as Lambda would run it: what gets imported, and what the
first invocation emits."""

from __future__ import annotations

from typing import Any

import pytest

from handler._tracing import tracing_enabled

from .conftest import LAMBDA_WITH_TRACING, app_environment, cold_start, emitted_metrics, json_lines, load_event


def _get_never_created() -> dict[str, Any]:
    event = load_event("get_item.json")
    event["path"] = "/items/never-created"
    event["pathParameters"] = {"id": "never-created"}
    return event


@pytest.fixture(scope="module")
def cold_start_output(app_tables, dynamodb_local) -> str:
    return cold_start(app_environment(app_tables), _get_never_created())


def test_importing_the_handler_loads_neither_pydantic_nor_xray_nor_pulumi(cold_start_output):
    records = json_lines(cold_start_output)

    assert {"heavy_modules_after_import": []} in records


def test_first_invocation_answers_and_emits_the_cold_start_metric(cold_start_output):
    records = json_lines(cold_start_output)

    assert {"status": 404} in records
    assert emitted_metrics(cold_start_output) == ["ColdStart"]


def test_in_lambda_with_tracing_on_xray_is_loaded_and_requests_still_answer(app_tables, dynamodb_local):
    output = cold_start({**app_environment(app_tables), **LAMBDA_WITH_TRACING}, _get_never_created())

    records = json_lines(output)
    assert {"heavy_modules_after_import": ["aws_xray_sdk"]} in records
    assert {"status": 404} in records


def test_a_valid_create_as_first_request_loads_neither_pydantic_nor_fastjsonschema(app_tables, dynamodb_local):
    output = cold_start(app_environment(app_tables), load_event("seed_post_root.json"))

    records = json_lines(output)
    assert {"status": 201} in records
    assert {"validation_modules_after_request": []} in records


@pytest.mark.parametrize(
    ("environment", "enabled"),
    [
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ],
)
def test_tracing_is_on_only_inside_lambda_unless_disabled(environment, enabled):
    assert tracing_enabled(environment) is enabled
