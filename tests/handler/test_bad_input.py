"""Bad input never reaches DynamoDB: every case is a 4xx with a clear message, and the table is unchanged."""

from __future__ import annotations

import base64
import json

import pytest

from handler.contract import MAX_BODY_BYTES

from .conftest import scan_all

VALID = {"id": "ok-1", "year": "2023", "title": "kkkg"}
_MISSING = object()


def _with(**changes):
    body = dict(VALID)
    for name, value in changes.items():
        if value is _MISSING:
            del body[name]
        else:
            body[name] = value
    return body


# (case id, event arguments for build_event, expected status, text the message or a field error must hold)
CASES = [
    ("malformed-json", {"raw_body": '{"id": "1", "year": '}, 400, "not valid JSON"),
    ("trailing-garbage", {"raw_body": json.dumps(VALID) + "}"}, 400, "not valid JSON"),
    ("empty-body", {"raw_body": ""}, 400, "empty"),
    ("whitespace-body", {"raw_body": "  \n"}, 400, "empty"),
    ("null-body", {"body": None}, 400, "empty"),
    ("json-array", {"body": [VALID]}, 400, "JSON object"),
    ("json-string", {"body": "kkkg"}, 400, "JSON object"),
    ("json-null", {"raw_body": "null"}, 400, "JSON object"),
    ("deeply-nested", {"raw_body": "[" * 5000 + "]" * 5000}, 400, "JSON"),
    ("year-bool", {"body": _with(year=True)}, 400, "year"),
    ("year-float", {"body": _with(year=2023.0)}, 400, "year"),
    ("year-five-digits", {"body": _with(year="20231")}, 400, "year"),
    ("year-leading-zero", {"body": _with(year="0999")}, 400, "year"),
    ("year-three-digit-int", {"body": _with(year=999)}, 400, "year"),
    ("year-five-digit-int", {"body": _with(year=10000)}, 400, "year"),
    ("year-with-spaces", {"body": _with(year=" 2023")}, 400, "year"),
    ("year-arabic-indic-digits", {"body": _with(year="٢٠٢٣")}, 400, "year"),
    ("year-object", {"body": _with(year={"value": 2023})}, 400, "year"),
    ("title-number", {"body": _with(title=42)}, 400, "title"),
    ("title-empty", {"body": _with(title="")}, 400, "title"),
    ("title-list", {"body": _with(title=["kkkg"])}, 400, "title"),
    ("title-257-chars", {"body": _with(title="t" * 257)}, 400, "title"),
    ("title-257-emoji", {"body": _with(title="🦆" * 257)}, 400, "title"),
    ("title-null", {"body": _with(title=None)}, 400, "title"),
    ("id-number", {"body": _with(id=12)}, 400, "id"),
    ("id-empty", {"body": _with(id="")}, 400, "id"),
    ("id-65-chars", {"body": _with(id="a" * 65)}, 400, "id"),
    ("id-space", {"body": _with(id="a b")}, 400, "id"),
    ("id-slash", {"body": _with(id="a/b")}, 400, "id"),
    ("id-unicode", {"body": _with(id="é")}, 400, "id"),
    ("id-trailing-newline", {"body": _with(id="abc\n")}, 400, "id"),
    ("missing-id", {"body": _with(id=_MISSING)}, 400, "id"),
    ("missing-year", {"body": _with(year=_MISSING)}, 400, "year"),
    ("missing-title", {"body": _with(title=_MISSING)}, 400, "title"),
    ("extra-field", {"body": _with(owner="me")}, 400, "owner"),
    ("oversize-body", {"body": _with(title="t" * (MAX_BODY_BYTES + 1))}, 413, "too large"),
    # Whitespace is valid JSON: the body is one byte over the limit and nothing else is wrong with it.
    ("one-byte-over-the-limit", {"raw_body": json.dumps(VALID).ljust(MAX_BODY_BYTES + 1)}, 413, "too large"),
    ("huge-title", {"body": _with(title="t" * 1_000_000)}, 413, "too large"),
    ("text-plain", {"body": VALID, "content_type": "text/plain"}, 415, "application/json"),
    ("form-encoded", {"raw_body": "id=1", "content_type": "application/x-www-form-urlencoded"}, 415, "json"),
    ("bad-base64", {"raw_body": "%%%not-base64", "base64_encoded": True}, 400, "base64"),
    (
        "title-unpaired-surrogate-escape",
        {"raw_body": '{"id": "ok-1", "year": "2023", "title": "a\\ud800"}'},
        400,
        "Unicode",
    ),
    (
        # Not through API Gateway, which hands over valid UTF-8, but a direct invoke can pass a lone surrogate.
        "title-unpaired-surrogate-in-the-event",
        {"raw_body": '{"id": "ok-1", "year": "2023", "title": "a\ud800"}'},
        400,
        "Unicode",
    ),
    (
        "title-utf8-encoded-surrogate",
        {
            "raw_body": base64.b64encode(b'{"id": "ok-1", "year": "2023", "title": "a\xed\xa0\x80"}').decode(),
            "base64_encoded": True,
        },
        400,
        "Unicode",
    ),
]


def _messages(body) -> str:
    errors = " ".join(f"{error['field']} {error['message']}" for error in body.get("errors", []))
    return f"{body['message']} {errors}"


@pytest.mark.parametrize(("arguments", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_create_is_rejected_with_a_clear_message_and_writes_nothing(
    invoke, build_event, items_table, dynamodb_client, arguments, status, text
):
    # GIVEN an empty table and a bad create request
    event = build_event("POST", "/items", **arguments)

    # WHEN it is handled
    result = invoke(event)

    # THEN it is refused with the expected 4xx and a message that says why
    assert result.status == status
    assert result.body["request_id"] == result.request_id
    assert text.lower() in _messages(result.body).lower()
    # AND nothing was written
    assert scan_all(dynamodb_client, items_table) == []


def test_field_errors_list_every_problem_at_once(invoke, build_event, items_table):
    result = invoke(build_event("POST", "/items", body={"id": "a b", "year": "x", "title": "", "extra": 1}))

    assert result.status == 400
    assert sorted(error["field"] for error in result.body["errors"]) == ["extra", "id", "title", "year"]


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("POST", "/items", _with(owner="me"), {"field": "owner", "message": "unknown field"}),
        ("POST", "/items", _with(id=_MISSING), {"field": "id", "message": "required"}),
        # A model-wide rule: no field, and its own words without pydantic's "Value error, " prefix.
        ("PUT", "/items/ok-1", {}, {"field": "", "message": "give at least one of: year, title"}),
    ],
    ids=["unknown-field", "missing-field", "empty-update"],
)
def test_field_errors_are_worded_for_the_client(invoke, build_event, items_table, method, path, body, error):
    result = invoke(build_event(method, path, body=body))

    assert result.status == 400
    assert result.body["errors"] == [error]


def test_error_messages_do_not_echo_the_input(invoke, build_event, items_table):
    marker = "MARKER-" + "x" * 300

    result = invoke(build_event("POST", "/items", body=_with(title=marker)))

    assert result.status == 400
    assert "MARKER" not in json.dumps(result.body)


def test_base64_encoded_valid_body_is_accepted(invoke, build_event, items_table, dynamodb_client):
    encoded = base64.b64encode(json.dumps(VALID).encode()).decode()
    event = build_event("POST", "/items", raw_body=encoded, base64_encoded=True)

    assert invoke(event).status == 201
    assert len(scan_all(dynamodb_client, items_table)) == 1


def test_body_of_exactly_the_maximum_size_is_accepted(invoke, build_event, items_table):
    raw_body = json.dumps(VALID).ljust(MAX_BODY_BYTES)

    assert invoke(build_event("POST", "/items", raw_body=raw_body)).status == 201


# HTTP allows whitespace around the ";" before a media type's parameters (RFC 9110, 8.3.1).
@pytest.mark.parametrize(
    "content_type",
    [None, "application/json; charset=utf-8", "application/json ; charset=utf-8", "application/vnd.api+json"],
)
def test_json_content_types_and_a_missing_one_are_accepted(invoke, build_event, items_table, content_type):
    assert invoke(build_event("POST", "/items", body=VALID, content_type=content_type)).status == 201


def test_unicode_title_of_256_characters_round_trips(invoke, build_event, items_table):
    title = "ü🦆漢" * 85 + "ä"  # 256 characters, many more bytes

    created = invoke(build_event("POST", "/items", body=_with(title=title)))

    assert created.status == 201
    assert invoke(build_event("GET", "/items/ok-1")).body["title"] == title


def test_escaped_surrogate_pair_is_one_character_and_round_trips(invoke, build_event, items_table):
    raw_body = '{"id": "ok-1", "year": "2023", "title": "duck \\ud83e\\udd86"}'

    created = invoke(build_event("POST", "/items", raw_body=raw_body))

    assert created.status == 201
    assert invoke(build_event("GET", "/items/ok-1")).body["title"] == "duck 🦆"


@pytest.mark.parametrize("raw_body", ['{"title": "\\udc00"}', '{"title": "\udc00"}'], ids=["escaped", "in-the-event"])
def test_update_with_an_unpaired_surrogate_is_400_and_leaves_the_item_unchanged(
    invoke, build_event, items_table, raw_body
):
    invoke(build_event("POST", "/items", body=VALID))

    result = invoke(build_event("PUT", "/items/ok-1", raw_body=raw_body))

    assert result.status == 400
    assert "Unicode" in result.body["message"]
    assert invoke(build_event("GET", "/items/ok-1")).body == {"id": "ok-1", "year": 2023, "title": "kkkg"}


# API Gateway's {id} takes any segment as sent; Powertools' router refuses some of these characters itself.
# A trailing slash reaches the same resource in API Gateway, so it must not turn the id error into a 404.
@pytest.mark.parametrize("item_id", ["a%20b", "a" * 65, "é", "a.b", 'a"b', "a`b", "a\\b", "\N{DUCK}"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("trailing", ["", "/"], ids=["no-trailing-slash", "trailing-slash"])
def test_bad_path_id_is_400_naming_id(invoke, build_event, items_table, dynamodb_client, method, item_id, trailing):
    result = invoke(build_event(method, f"/items/{item_id}{trailing}", body={"title": "t"}))

    assert result.status == 400
    assert [error["field"] for error in result.body["errors"]] == ["id"]
    assert scan_all(dynamodb_client, items_table) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, ""),
        ({"title": None}, ""),
        ({"id": "other"}, "id"),
        ({"title": ""}, "title"),
        ({"year": "20"}, "year"),
    ],
)
def test_bad_update_is_400_and_leaves_the_item_unchanged(invoke, build_event, items_table, body, field):
    invoke(build_event("POST", "/items", body=VALID))

    result = invoke(build_event("PUT", "/items/ok-1", body=body))

    assert result.status == 400
    assert field in [error["field"] for error in result.body["errors"]]
    assert invoke(build_event("GET", "/items/ok-1")).body == {"id": "ok-1", "year": 2023, "title": "kkkg"}


@pytest.mark.parametrize("path", ["/nope", "/items/a/b", "/itemsx"])
def test_unknown_route_is_404(invoke, build_event, path):
    result = invoke(build_event("GET", path))

    assert result.status == 404
    assert result.body["request_id"] == result.request_id


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/items/abc", {"GET", "PUT", "DELETE"}),
        ("PATCH", "/items/abc/", {"GET", "PUT", "DELETE"}),
        ("DELETE", "/items", {"GET", "POST"}),
        ("GET", "/", {"POST"}),
    ],
)
def test_known_path_with_wrong_method_is_405_with_allow(invoke, build_event, items_table, method, path, allowed):
    result = invoke(build_event(method, path, body=VALID))

    assert result.status == 405
    assert set(result.headers["allow"].split(", ")) == allowed
