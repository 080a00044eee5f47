"""A real cold start, in a fresh interpreter as Lambda would run it: what gets imported, and what the
first invocation emits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import app_environment, emitted_metrics, json_lines, load_event

ROOT = Path(__file__).resolve().parents[2]
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

print(json.dumps({"status": lambda_handler(json.loads(sys.stdin.read()), Context())["statusCode"]}))
"""


@pytest.fixture(scope="module")
def cold_start_output(app_tables, dynamodb_local) -> str:
    event = load_event("get_item.json")
    event["path"] = "/items/never-created"
    event["pathParameters"] = {"id": "never-created"}
    result = subprocess.run(
        [sys.executable, "-c", COLD_START],
        input=json.dumps(event),
        cwd=ROOT,
        env={**os.environ, **app_environment(app_tables)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_importing_the_handler_loads_neither_pydantic_nor_xray_nor_pulumi(cold_start_output):
    records = json_lines(cold_start_output)

    assert {"heavy_modules_after_import": []} in records


def test_first_invocation_answers_and_emits_the_cold_start_metric(cold_start_output):
    records = json_lines(cold_start_output)

    assert {"status": 404} in records
    assert emitted_metrics(cold_start_output) == ["ColdStart"]
