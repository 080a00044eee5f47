"""The HTTP edge of the function: reading JSON bodies and turning typed errors into responses.

``_STATUS`` is the one place where an error type meets its HTTP status. Nothing here imports pydantic
at module level: error and item responses are plain JSON (their shapes are ``handler.models``'
``ErrorResponse`` and ``Item``, which the tests hold them to), so the requests that need no validation
never load it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, TypeVar

from aws_lambda_powertools.event_handler import Response

from handler.contract import MAX_BODY_BYTES
from handler.errors import (
    BodyTooLargeError,
    ConflictError,
    FieldProblem,
    HandlerError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
    from pydantic import BaseModel, ValidationError

    from handler.rate_limit import Decision

_M = TypeVar("_M", bound="BaseModel")

_STATUS: Final[dict[type[HandlerError], HTTPStatus]] = {
    InvalidRequestError: HTTPStatus.BAD_REQUEST,
    NotFoundError: HTTPStatus.NOT_FOUND,
    MethodNotAllowedError: HTTPStatus.METHOD_NOT_ALLOWED,
    ConflictError: HTTPStatus.CONFLICT,
    BodyTooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaTypeError: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    RateLimitedError: HTTPStatus.TOO_MANY_REQUESTS,
    ServiceUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
}
INTERNAL_ERROR_MESSAGE: Final = "Internal server error"
# DynamoDB throttling clears within a second or two; the client's own backoff does the rest.
RETRY_AFTER_UNAVAILABLE_SECONDS: Final = 1
JSON: Final = "application/json"

_PROBLEM_MESSAGES: Final = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}


def json_response(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response:
    """``body`` is JSON-ready data; ``None`` sends no body (204)."""
    if body is None:
        return Response(status_code=status, content_type=None, body="", headers=headers)
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def error_response(error: HandlerError | None, request_id: str) -> Response:
    """The client's view of ``error`` (an ``ErrorResponse``); ``None`` means an unexpected failure (500)."""
    if error is None:
        return json_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, {"message": INTERNAL_ERROR_MESSAGE, "request_id": request_id}
        )
    status = next(_STATUS[cls] for cls in type(error).__mro__ if cls in _STATUS)
    body: dict[str, Any] = {"message": error.message, "request_id": request_id}
    if isinstance(error, InvalidRequestError) and error.problems:
        body["errors"] = [{"field": problem.field, "message": problem.message} for problem in error.problems]
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowedError):
        headers["Allow"] = ", ".join(error.allowed)
    elif isinstance(error, RateLimitedError):
        headers["Retry-After"] = str(error.reset_seconds)
    elif isinstance(error, ServiceUnavailableError):
        headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_SECONDS)
    return json_response(status, body, headers)


def decision_headers(decision: Decision) -> dict[str, str]:
    """The IETF httpapi draft's RateLimit header fields (sent on every answer the limiter counted)."""
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }


def read_json_body(event: APIGatewayProxyEvent) -> Any:
    """The request body, parsed as JSON, or the matching typed error (415, 413, 400)."""
    content_type = event.headers.get("content-type")
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != JSON and not media_type.endswith("+json"):
            raise UnsupportedMediaTypeError
    raw = _body_bytes(event)
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"Request body too large: at most {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise InvalidRequestError("Request body is empty: send a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequestError("Request body is not valid JSON") from None
    # JSON's grammar lets a string hold an unpaired surrogate, which no UTF-8 text (so no DynamoDB string)
    # can. Only a \u escape or a non-ASCII byte can bring one in, so a plain ASCII body skips the check.
    if (b"\\u" in raw or not raw.isascii()) and not _is_unicode(body):
        raise InvalidRequestError("Request body holds a string that is not valid Unicode (an unpaired surrogate)")
    return body


def matches_schema(check: Callable[[Any], object], data: Any) -> bool:
    """Whether ``check`` (a ``handler._request_validators`` function) accepts ``data``.

    Whatever it accepts, its pydantic model accepts with the same values (a property test holds them to
    that); what it rejects goes to ``validate``, so the model alone decides and words every field error.
    """
    try:
        check(data)
    except ValueError:
        return False
    return True


def validate(model: type[_M], data: Any) -> _M:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidRequestError("Invalid fields", problems=field_problems(error)) from None


def field_problems(error: ValidationError) -> tuple[FieldProblem, ...]:
    # The input value is never echoed back: it may be large, or something the client should not see logged.
    return tuple(
        FieldProblem(
            field=".".join(str(part) for part in detail["loc"]),
            message=_PROBLEM_MESSAGES.get(detail["type"], detail["msg"].removeprefix("Value error, ")),
        )
        for detail in error.errors(include_url=False, include_input=False)
    )


def _is_unicode(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _body_bytes(event: APIGatewayProxyEvent) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        # A lone surrogate (a direct invoke can pass one) goes on to the Unicode check, a 400, not a 500 here.
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise InvalidRequestError("Request body is not valid base64") from None


def invalid_field(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError("Invalid fields", problems=(FieldProblem(field, message),))
