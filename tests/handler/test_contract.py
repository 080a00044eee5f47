"""What the infrastructure builds from the handler stays true to the handler: routes, request schemas,
OpenAPI document and table definitions."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from pathlib import Path

import pytest

from handler.contract import ROUTES
from handler.models import gateway_request_schemas
from handler.openapi import build_openapi, render_openapi
from handler.tables import (
    ITEMS_TABLE,
    ITEMS_YEAR_INDEX,
    RATE_LIMIT_TABLE,
    RATE_LIMIT_TTL_ATTRIBUTE,
    create_table_request,
)

from .conftest import unique_name

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_route_table_equals_the_routes_the_resolver_registers(app_module):
    resolver = app_module.app
    registered = [
        (route.method, re.sub(r"<(\w+)>", r"{\1}", route.path))
        for route in resolver._static_routes + resolver._dynamic_routes
    ]

    assert sorted(registered) == sorted((route.method, route.path) for route in ROUTES)


def test_route_request_models_are_the_exported_gateway_schemas():
    named = {route.request_model for route in ROUTES if route.request_model is not None}

    assert named == set(gateway_request_schemas())


@pytest.mark.parametrize("name", sorted(gateway_request_schemas()))
def test_gateway_schemas_are_self_contained_draft_4(name):
    schema = gateway_request_schemas()[name]

    keys = {key for node in _walk(schema) if isinstance(node, dict) for key in node}
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert keys.isdisjoint({"$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf", "const"})
    assert schema["additionalProperties"] is False
    types = [node["type"] for node in _walk(schema) if isinstance(node, dict) and "type" in node]
    assert "null" not in json.dumps(types)


def test_create_schema_requires_every_field_and_takes_year_as_string_or_integer():
    schema = gateway_request_schemas()["CreateItemRequest"]

    assert sorted(schema["required"]) == ["id", "title", "year"]
    assert schema["properties"]["year"]["type"] == ["string", "integer"]
    assert schema["properties"]["title"]["maxLength"] == 256


def test_update_schema_expresses_optional_fields_by_leaving_them_out_of_required():
    schema = gateway_request_schemas()["UpdateItemRequest"]

    assert "required" not in schema
    assert schema["minProperties"] == 1
    assert set(schema["properties"]) == {"year", "title"}


def test_committed_openapi_document_is_fresh():
    assert OPENAPI_FILE.read_text() == render_openapi(), "docs/openapi.json is stale: run `make openapi`"


@pytest.mark.parametrize("phrase", ["Request Entity Too Large", "Content Too Large"])
def test_openapi_document_is_the_same_whichever_python_names_the_statuses(monkeypatch, phrase):
    # Python 3.11 and 3.13 name 413 differently; the committed document must be fresh on both.
    monkeypatch.setattr(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "phrase", phrase)

    assert render_openapi() == OPENAPI_FILE.read_text()


def test_openapi_documents_every_route_and_resolves_every_reference():
    document = build_openapi()
    schemas = document["components"]["schemas"]

    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    references = {node["$ref"] for node in _walk(document) if isinstance(node, dict) and "$ref" in node}
    assert operations == {(route.method, route.path) for route in ROUTES}
    assert {reference.rsplit("/", 1)[1] for reference in references} <= set(schemas)


def test_create_table_request_names_a_deep_copy():
    request = create_table_request(ITEMS_TABLE, "t-1")
    request["GlobalSecondaryIndexes"][0]["IndexName"] = "changed"

    assert request["TableName"] == "t-1"
    assert ITEMS_TABLE["GlobalSecondaryIndexes"][0]["IndexName"] == ITEMS_YEAR_INDEX


def test_table_definitions_create_the_tables_and_ttl_on_dynamodb_local(dynamodb_client):
    items, counters = unique_name("items"), unique_name("rate-limit")
    dynamodb_client.create_table(**create_table_request(ITEMS_TABLE, items))
    dynamodb_client.create_table(**create_table_request(RATE_LIMIT_TABLE, counters))

    dynamodb_client.update_time_to_live(
        TableName=counters,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": RATE_LIMIT_TTL_ATTRIBUTE},
    )

    description = dynamodb_client.describe_table(TableName=items)["Table"]
    index = description["GlobalSecondaryIndexes"][0]
    assert (index["IndexName"], index["Projection"]["ProjectionType"]) == (ITEMS_YEAR_INDEX, "ALL")
    ttl = dynamodb_client.describe_time_to_live(TableName=counters)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == RATE_LIMIT_TTL_ATTRIBUTE


def test_draft4_conversion_refuses_what_it_cannot_express():
    from handler._draft4 import to_draft4

    with pytest.raises(ValueError, match="no draft 4 translation"):
        to_draft4({"type": "object", "properties": {"x": {"type": "string", "contentEncoding": "base64"}}})
    with pytest.raises(ValueError, match="cannot be merged"):
        to_draft4({"anyOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]})


def test_draft4_conversion_inlines_references_and_drops_null_branches():
    from handler._draft4 import to_draft4

    schema = {
        "$defs": {"Name": {"type": "string", "minLength": 1}},
        "type": "object",
        "properties": {"name": {"anyOf": [{"$ref": "#/$defs/Name"}, {"type": "null"}], "default": None}},
    }

    assert to_draft4(schema) == {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
