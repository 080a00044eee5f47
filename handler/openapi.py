"""The OpenAPI 3.1 document of the API, built from ``handler.contract.ROUTES`` and ``handler.models``.

``make openapi`` writes it to docs/openapi.json (``python -m handler.openapi``); a test fails when the
committed file differs from what this builds.
"""

from __future__ import annotations

import json
import sys
from http import HTTPStatus
from typing import Any, Final

from handler import models
from handler.contract import ROUTES, Route

__all__ = ["API_TITLE", "API_VERSION", "build_openapi", "render_openapi"]

API_TITLE: Final = "tiered-api"
API_VERSION: Final = "1.0.0"
_SCHEMA_MODELS: Final = (
    models.CreateItemRequest,
    models.UpdateItemRequest,
    models.Item,
    models.ItemList,
    models.MessageResponse,
    models.ErrorResponse,
)
# Every operation can answer these, whatever the route: the app limiter, DynamoDB trouble, our bugs.
_COMMON_ERRORS: Final = (
    HTTPStatus.TOO_MANY_REQUESTS,
    HTTPStatus.INTERNAL_SERVER_ERROR,
    HTTPStatus.SERVICE_UNAVAILABLE,
)
_FORBIDDEN: Final = HTTPStatus.FORBIDDEN  # API Gateway: missing or invalid x-api-key, or a WAF block.
# Python 3.13 renamed these phrases after RFC 9110; named here so that every Python builds the same document.
_RFC_9110_PHRASES: Final = {
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "Content Too Large",
    HTTPStatus.UNPROCESSABLE_ENTITY: "Unprocessable Content",
}


def _description(status: HTTPStatus) -> str:
    return _RFC_9110_PHRASES.get(status, status.phrase)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": models.ID_PATTERN},
        }
        for name in route.path_parameters
    ]
    query_schemas = models.ListItemsQuery.model_json_schema()["properties"]
    parameters += [
        {
            "name": parameter.name,
            "in": "query",
            "required": parameter.required,
            "description": parameter.description,
            "schema": query_schemas[parameter.name],
        }
        for parameter in route.query_parameters
    ]
    success: dict[str, Any] = {"description": _description(route.success_status)}
    if route.response_model is not None:
        success["content"] = _json_content(route.response_model)
    responses = {str(int(route.success_status)): success}
    for status in sorted({*route.error_statuses, *_COMMON_ERRORS}):
        responses[str(int(status))] = {
            "description": _description(status),
            "content": _json_content("ErrorResponse"),
        }
    responses[str(int(_FORBIDDEN))] = {
        "description": "Missing or invalid x-api-key, or blocked by WAF (answered by API Gateway)",
        "content": _json_content("MessageResponse"),
    }
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if route.request_model is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(route.request_model)}
    return operation


def build_openapi() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in _SCHEMA_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": API_TITLE, "version": API_VERSION},
        "security": [{"api_key": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"api_key": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
    }


def render_openapi() -> str:
    """The document exactly as docs/openapi.json holds it."""
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_openapi())
