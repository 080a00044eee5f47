"""The Lambda proxy integration's event (payload 1.0) and how API Gateway reads the function's answer."""

from __future__ import annotations

import base64

import pytest

from local.gateway import Admitted, ApiKey
from local.integration import RequestContext, parse_proxy_response, proxy_event

KEY = ApiKey(consumer="c", plan="p", id="abcdefghij", value="v" * 40)
ADMITTED = Admitted("GET", "/items/{id}", "/items/12", {"id": "12"}, KEY)


def context() -> RequestContext:
    return RequestContext.new("dev", "local", "123456789012", "127.0.0.1:3000", "127.0.0.5", "curl/8", 1_700_000_000.5)


def test_the_event_carries_the_request_context_lambda_handlers_read():
    ctx = context()
    event = proxy_event(ADMITTED, ctx, [("x-api-key", KEY.value), ("Accept", "a"), ("Accept", "b")], "year=2023", b"")
    request_context = event["requestContext"]
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/items/{id}", "/items/12", "GET")
    assert event["pathParameters"] == {"id": "12"}
    assert event["queryStringParameters"] == {"year": "2023"}
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert (request_context["requestId"], request_context["stage"], request_context["path"]) == (
        ctx.request_id,
        "dev",
        "/dev/items/12",
    )
    assert request_context["requestTimeEpoch"] == 1_700_000_000_500
    assert request_context["identity"]["sourceIp"] == "127.0.0.5"
    assert (request_context["identity"]["apiKeyId"], request_context["identity"]["apiKey"]) == (KEY.id, KEY.value)
    assert (request_context["resourcePath"], request_context["identity"]["userAgent"]) == ("/items/{id}", "curl/8")
    assert event["body"] is None


def test_what_the_request_lacks_is_null_in_the_event():
    root = Admitted("POST", "/", "/", {}, KEY)
    event = proxy_event(root, context(), [], "", b"")
    absent = (
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
    )
    assert {name: event[name] for name in absent} == dict.fromkeys(absent)


def test_a_query_parameter_without_a_value_reaches_the_function_as_an_empty_string():
    event = proxy_event(ADMITTED, context(), [], "cursor=&year=2023", b"")
    assert event["queryStringParameters"] == {"cursor": "", "year": "2023"}


def test_a_repeated_query_parameter_is_its_last_value_single_and_every_value_multi():
    event = proxy_event(ADMITTED, context(), [], "name=you&name=me", b"")
    assert (event["queryStringParameters"], event["multiValueQueryStringParameters"]) == (
        {"name": "me"},
        {"name": ["you", "me"]},
    )


def test_a_binary_body_is_sent_base64_encoded():
    event = proxy_event(ADMITTED, context(), [], "", b"\xff\xfe")
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, b"\xff\xfe")


def test_a_proxy_response_gives_status_headers_and_body():
    response = parse_proxy_response(
        {"statusCode": 201, "multiValueHeaders": {"Set": ["a", "b"]}, "headers": {"X": "1"}, "body": "{}"}
    )
    assert response is not None
    assert (response.status, response.headers, response.body) == (201, [("Set", "a"), ("Set", "b"), ("X", "1")], b"{}")


def test_a_header_in_both_forms_takes_the_multi_value_headers_values_only():
    response = parse_proxy_response(
        {"statusCode": 200, "headers": {"X": "single"}, "multiValueHeaders": {"X": ["a", "b"]}, "body": ""}
    )
    assert response is not None
    assert response.headers == [("X", "a"), ("X", "b")]


def test_a_base64_proxy_body_is_decoded():
    response = parse_proxy_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True}
    )
    assert response is not None
    assert response.body == b"\x00"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "text",
        {"body": "{}"},
        {"statusCode": 99},
        {"statusCode": 600},
        {"statusCode": True},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 200, "headers": ["X"]},
        {"statusCode": 200, "multiValueHeaders": [["X", "a"]]},
    ],
)
def test_a_malformed_proxy_response_is_refused(payload):
    assert parse_proxy_response(payload) is None
