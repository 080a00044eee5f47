"""Logs and metrics: one JSON "request completed" line per request with the fields operators need, EMF
metrics for what matters, and never the API key itself."""

from __future__ import annotations

import pytest

from handler.contract import Metric

from .conftest import emitted_metrics, json_lines

SECRET_KEY_VALUE = "SECRET-KEY-VALUE-d41d8cd98f00b204e9800998ecf8427e"


def _with_secret_key(event: dict) -> dict:
    event["headers"]["x-api-key"] = SECRET_KEY_VALUE
    event["multiValueHeaders"]["x-api-key"] = [SECRET_KEY_VALUE]
    event["requestContext"]["identity"]["apiKey"] = SECRET_KEY_VALUE
    return event


def test_every_output_line_is_json(invoke, build_event, output, new_id):
    invoke(build_event("POST", "/items", body={"id": new_id, "year": 2000, "title": "t"}))
    invoke(build_event("POST", "/items", raw_body="{bad"))

    lines = output().splitlines()

    assert lines
    assert all(isinstance(record, dict) for record in json_lines("\n".join(lines)))


def test_one_request_completed_line_carries_request_context_status_and_latency(invoke, build_event, output):
    event = build_event("GET", "/items/absent", api_key_id="k-123", source_ip="192.0.2.44")

    result = invoke(event)

    completed = [line for line in json_lines(output()) if line.get("message") == "request completed"]
    assert len(completed) == 1
    line = completed[0]
    assert line["correlation_id"] == result.request_id
    assert (line["source_ip"], line["user_agent"], line["api_key_id"]) == (
        "192.0.2.44",
        "curl/8.5.0",
        "k-123",
    )
    assert (line["route"], line["status"]) == ("GET /items/{id}", 404)
    assert line["latency_ms"] >= 0
    assert line["level"] == "INFO"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/items", {"id": "k", "year": 2000, "title": "t"}),
        ("POST", "/items", {"id": "k", "extra": "x"}),
        ("GET", "/items/k", None),
        ("DELETE", "/nope", None),
    ],
)
def test_api_key_value_never_reaches_the_output(invoke, build_event, output, method, path, body):
    invoke(_with_secret_key(build_event(method, path, body=body)))

    assert SECRET_KEY_VALUE not in output()


def test_created_item_counts_items_created_once_and_a_retry_does_not(invoke, build_event, output, new_id):
    body = {"id": new_id, "year": 2000, "title": "t"}
    invoke(build_event("POST", "/items", body=body))
    invoke(build_event("POST", "/items", body=body))

    assert emitted_metrics(output()).count(Metric.ITEMS_CREATED) == 1


def test_validation_failure_is_counted(invoke, build_event, output):
    invoke(build_event("POST", "/items", body={"id": "bad id"}))

    assert emitted_metrics(output()).count(Metric.VALIDATION_FAILURES) == 1


def test_a_conflict_is_not_counted_as_a_validation_failure(invoke, build_event, output, new_id):
    invoke(build_event("POST", "/items", body={"id": new_id, "year": 2000, "title": "first"}))
    conflict = invoke(build_event("POST", "/items", body={"id": new_id, "year": 2000, "title": "second"}))

    assert conflict.status == 409
    assert Metric.VALIDATION_FAILURES not in emitted_metrics(output())


def test_requests_without_metrics_emit_no_empty_metric_blob(invoke, build_event, output, app_module, monkeypatch):
    monkeypatch.setattr(app_module, "_cold_start", False)  # this process' cold start is another test's

    invoke(build_event("GET", "/items/absent"))

    assert emitted_metrics(output()) == []


def test_dynamodb_calls_name_the_service_first_in_their_user_agent(invoke, build_event, app_module, new_id):
    """CloudTrail records each call's User-Agent: it says which function made it, then which SDK."""
    sent: list[str] = []  # headers as sent, in bytes

    def observe(request, **_):
        sent.append(request.headers["User-Agent"].decode())

    events = app_module._dynamodb.meta.events
    events.register("before-send.dynamodb", observe)
    try:
        invoke(build_event("POST", "/items", body={"id": new_id, "year": 2000, "title": "t"}))
    finally:
        events.unregister("before-send.dynamodb", observe)

    assert len(sent) == 2  # the limiter's counter, then the item
    assert all(agent.startswith(f"{app_module.SETTINGS.service_name} Boto3/") for agent in sent)
