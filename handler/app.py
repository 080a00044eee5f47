"""Lambda entry point: ``handler.app.lambda_handler`` behind an API Gateway REST proxy integration.

Routes stay thin: parse with the models, call the store, shape the response. What every request needs is
built once per cold start (configuration first, so a bad environment fails before anything else). The
pydantic models are the largest import left, so the request path avoids them: bodies are checked against
the models' own JSON Schema, compiled ahead of time (``handler._request_validators``), and only a body that
check rejects, or a query to parse, loads the models, which then decide and word the field errors.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

import boto3
import botocore
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from botocore.config import Config

from handler.config import load_settings

SETTINGS: Final = load_settings(os.environ)

from handler import _http  # noqa: E402 (configuration must fail first)
from handler._request_validators import validate_create_item_request, validate_update_item_request  # noqa: E402
from handler._rules import ID_MESSAGE, is_valid_id, parse_year  # noqa: E402
from handler._tracing import tracer  # noqa: E402
from handler.contract import ROUTES, Metric  # noqa: E402
from handler.errors import (  # noqa: E402
    HandlerError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
)
from handler.rate_limit import Degradation, RateLimiter, client_identity  # noqa: E402
from handler.store import ItemStore, StoredItem, WindowCounter  # noqa: E402

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["CREATED_MESSAGE", "DYNAMODB_CLIENT_CONFIG", "app", "lambda_handler"]

CREATED_MESSAGE: Final = "Successfully inserted data!"

# Bounded retries with exponential backoff and jitter ("standard" mode: at most 1 s then 2 s between
# attempts) and short timeouts (DynamoDB answers in milliseconds), so a sick DynamoDB becomes a 503
# rather than a request hanging until Lambda's or API Gateway's timeout. Throttling answers fast: about
# 3 s per call at worst; a DynamoDB that accepts but never answers: 3 x 1.5 s + 3 s = 7.5 s per call.
# No client-side parameter validation: every request is built by handler.store from validated values
# (DynamoDB still refuses a bad one), and botocore's check costs ~45 us per call on every request.
# A User-Agent fixed at start-up, naming the service first so CloudTrail shows which function called:
# botocore's default one is rebuilt from its platform, config and feature metadata twice per call
# (~0.1 ms of each DynamoDB call, a sixth of the client's own work).
DYNAMODB_CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=0.5,
    read_timeout=1.0,
    parameter_validation=False,
    user_agent=(
        f"{SETTINGS.service_name} Boto3/{boto3.__version__} Botocore/{botocore.__version__}"
        f" Python/{platform.python_version()}"
    ),
)

logger = Logger(service=SETTINGS.service_name, utc=True)
metrics = Metrics(namespace=SETTINGS.metrics_namespace, service=SETTINGS.service_name)
_dynamodb = boto3.client("dynamodb", config=DYNAMODB_CLIENT_CONFIG)
_items = ItemStore(_dynamodb, SETTINGS.items_table_name)
_limiter = RateLimiter(
    WindowCounter(_dynamodb, SETTINGS.rate_limit_table_name),
    limit=SETTINGS.rate_limit_requests,
    window_seconds=SETTINGS.rate_limit_window_seconds,
    fail_open=SETTINGS.rate_limit_fail_open,
)
_KNOWN_PATHS: Final = tuple((route.pattern, route.method) for route in ROUTES)

app = APIGatewayRestResolver()
_cold_start = True


def _request_id() -> str:
    return app.current_event.request_context.request_id or app.lambda_context.aws_request_id


def _called_prefix() -> str:
    """What the client's URL holds before the API's own path: ``/{stage}`` on the execute-api endpoint.

    A REST event's ``path`` never carries the stage; ``requestContext.path`` is the path the client called.
    """
    called = app.current_event.request_context.path or ""
    path = app.current_event.path
    return called.removesuffix(path) if called.endswith(path) else ""


def _path_id(item_id: str) -> str:
    if not is_valid_id(item_id):
        raise _http.invalid_field("id", ID_MESSAGE)
    return item_id


def _rate_limit(resolver: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    identity = resolver.current_event.request_context.identity
    decision = _limiter.check(client_identity(identity.api_key_id, identity.source_ip))
    if decision.degraded is not None:
        failed_open = decision.degraded is Degradation.FAILED_OPEN
        logger.warning("rate limiter unavailable", extra={"rate_limiter_failed": decision.degraded.value})
        metrics.add_metric(
            name=Metric.RATE_LIMITER_FAILED_OPEN if failed_open else Metric.RATE_LIMITER_FAILED_CLOSED,
            unit="Count",
            value=1,
        )
        if not failed_open:
            raise ServiceUnavailableError
        return next_middleware(resolver)
    if not decision.allowed:
        metrics.add_metric(name=Metric.RATE_LIMITED, unit="Count", value=1)
        response = _handled_error(RateLimitedError(reset_seconds=decision.reset_seconds))
    else:
        try:
            response = next_middleware(resolver)
        except HandlerError as error:
            # Answered here rather than by the resolver, so that 4xx answers carry the RateLimit fields too.
            response = _handled_error(error)
    response.headers.update(_http.decision_headers(decision))
    return response


app.use(middlewares=[_rate_limit])


def _body_fields(check: Callable[[Any], object], model_name: str) -> dict[str, Any]:
    """The request body's fields as its ``handler.models`` model parses them: only those sent, the year a number.

    ``check`` is that model's generated schema check: a body it accepts never loads pydantic; one it rejects
    goes to the model, which decides and words the field errors.
    """
    body = _http.read_json_body(app.current_event)
    if _http.matches_schema(check, body):
        return {**body, "year": parse_year(body["year"])} if "year" in body else body
    from handler import models

    return _http.validate(getattr(models, model_name), body).model_dump(exclude_unset=True)


def _create() -> StoredItem:
    fields = _body_fields(validate_create_item_request, "CreateItemRequest")
    item: StoredItem = {"id": fields["id"], "year": fields["year"], "title": fields["title"]}
    if _items.create(item):
        metrics.add_metric(name=Metric.ITEMS_CREATED, unit="Count", value=1)
    return item


@app.post("/")
def create_item_seed_route() -> Response:
    _create()
    return _http.json_response(HTTPStatus.CREATED, {"message": CREATED_MESSAGE})


@app.post("/items")
def create_item() -> Response:
    item = _create()
    # The stage too: a Location without it resolves, against the client's URL, outside the API.
    location = {"Location": f"{_called_prefix()}/items/{item['id']}"}
    return _http.json_response(HTTPStatus.CREATED, {"message": CREATED_MESSAGE}, headers=location)


@app.get("/items")
def list_items() -> Response:
    from handler.models import ListItemsQuery

    query = _http.validate(ListItemsQuery, app.current_event.query_string_parameters or {})
    page = _items.list_by_year(query.year, query.limit, query.cursor)
    return _http.json_response(HTTPStatus.OK, {"items": page.items, "next_cursor": page.next_cursor})


@app.get("/items/<id>")
def get_item(id: str) -> Response:
    return _http.json_response(HTTPStatus.OK, _items.get(_path_id(id)))


@app.put("/items/<id>")
def update_item(id: str) -> Response:
    item_id = _path_id(id)
    fields = _body_fields(validate_update_item_request, "UpdateItemRequest")
    return _http.json_response(HTTPStatus.OK, _items.update(item_id, fields.get("year"), fields.get("title")))


@app.delete("/items/<id>")
def delete_item(id: str) -> Response:
    _items.delete(_path_id(id))
    return _http.json_response(HTTPStatus.NO_CONTENT, None)


@app.not_found
def _no_route(_: Exception) -> Response:
    path = app.current_event.path.rstrip("/") or "/"
    allowed = tuple(method for pattern, method in _KNOWN_PATHS if pattern.match(path))
    if app.current_event.http_method in allowed:
        # API Gateway's {id} takes any path segment, but Powertools' <id> refuses a few characters (quote,
        # backquote, backslash, emoji): such a request misses the very route that has its method; its id is wrong.
        return _handled_error(_http.invalid_field("id", ID_MESSAGE))
    error = MethodNotAllowedError(allowed) if allowed else NotFoundError("No such route")
    return _handled_error(error)


@app.exception_handler(HandlerError)
def _handled_error(error: HandlerError) -> Response:
    if isinstance(error, InvalidRequestError):
        metrics.add_metric(name=Metric.VALIDATION_FAILURES, unit="Count", value=1)
    elif isinstance(error, ServiceUnavailableError) and error.__cause__ is not None:
        logger.warning("dynamodb unavailable", extra={"cause": _describe(error.__cause__)})
    return _http.error_response(error, _request_id())


@app.exception_handler(Exception)
def _unexpected_error(error: Exception) -> Response:
    logger.exception("unhandled error")
    return _http.error_response(None, _request_id())


def _describe(cause: BaseException) -> str:
    response = getattr(cause, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code or type(cause).__name__


@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _cold_start
    started = time.perf_counter()
    if _cold_start:
        _cold_start = False
        metrics.provider.add_cold_start_metric(context)
    request_context = event.get("requestContext") or {}
    identity = request_context.get("identity") or {}
    # The key's id only: never identity.apiKey nor the x-api-key header, which carry the secret itself.
    logger.append_keys(
        source_ip=identity.get("sourceIp"),
        user_agent=identity.get("userAgent"),
        api_key_id=identity.get("apiKeyId"),
        route=f"{event.get('httpMethod')} {event.get('resource')}",
    )
    try:
        response = app.resolve(event, context)
    finally:
        # Powertools warns on every flush without metrics (most GETs); only flush when there is something.
        if metrics.metric_set:
            metrics.flush_metrics()
    logger.info(
        "request completed",
        extra={
            "status": response["statusCode"],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response
