"""The public HTTP contract as data: the routes API Gateway must expose and the metrics the function emits.

The infrastructure builds API Gateway resources, methods, validators and alarms from this module; a test
holds it equal to the routes the resolver in ``handler.app`` actually registers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from http import HTTPStatus
from typing import Final

__all__ = ["MAX_BODY_BYTES", "ROUTES", "Metric", "QueryParameter", "Route", "path_pattern"]

# API Gateway accepts 10 MB; an item is three short fields, so anything near this is not a real client.
MAX_BODY_BYTES: Final = 16 * 1024

_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def path_pattern(path: str) -> re.Pattern[str]:
    """Matches the concrete paths of ``path`` (API Gateway's ``{param}`` syntax), one named group per parameter."""
    # split() alternates literal text and parameter names, starting and ending with literal text.
    parts = _PATH_PARAMETER.split(path)
    return re.compile(
        "^" + "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)) + "$"
    )


class Metric(StrEnum):
    """EMF metric names (namespace from ``POWERTOOLS_METRICS_NAMESPACE``); alarms and dashboards use these."""

    ITEMS_CREATED = "ItemsCreated"
    RATE_LIMITED = "RateLimited"
    VALIDATION_FAILURES = "ValidationFailures"
    RATE_LIMITER_FAILED_OPEN = "RateLimiterFailedOpen"
    RATE_LIMITER_FAILED_CLOSED = "RateLimiterFailedClosed"
    # Emitted by Powertools itself, with a function_name dimension.
    COLD_START = "ColdStart"


@dataclass(frozen=True)
class QueryParameter:
    name: str
    required: bool
    description: str


@dataclass(frozen=True)
class Route:
    """One API operation. ``path`` uses API Gateway's ``{param}`` syntax."""

    method: str
    path: str
    operation_id: str
    summary: str
    success_status: HTTPStatus
    response_model: str | None
    request_model: str | None = None
    query_parameters: tuple[QueryParameter, ...] = ()
    error_statuses: tuple[HTTPStatus, ...] = ()

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAMETER.findall(self.path))

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """Matches the concrete paths of this route, one named group per path parameter."""
        return path_pattern(self.path)


_BODY_ERRORS: Final = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
)
_CREATE_ERRORS: Final = (*_BODY_ERRORS, HTTPStatus.CONFLICT)

ROUTES: Final[tuple[Route, ...]] = (
    Route(
        method="POST",
        path="/",
        operation_id="createItemSeedRoute",
        summary="Create an item (the seeds' original call)",
        success_status=HTTPStatus.CREATED,
        response_model="MessageResponse",
        request_model="CreateItemRequest",
        error_statuses=_CREATE_ERRORS,
    ),
    Route(
        method="POST",
        path="/items",
        operation_id="createItem",
        summary="Create an item; a repeated identical create succeeds again",
        success_status=HTTPStatus.CREATED,
        response_model="MessageResponse",
        request_model="CreateItemRequest",
        error_statuses=_CREATE_ERRORS,
    ),
    Route(
        method="GET",
        path="/items",
        operation_id="listItems",
        summary="List the items of one year, a page at a time",
        success_status=HTTPStatus.OK,
        response_model="ItemList",
        query_parameters=(
            QueryParameter("year", required=True, description="four-digit year"),
            QueryParameter("limit", required=False, description="page size, 1-100, default 25"),
            QueryParameter("cursor", required=False, description="next_cursor of the previous page"),
        ),
        error_statuses=(HTTPStatus.BAD_REQUEST,),
    ),
    Route(
        method="GET",
        path="/items/{id}",
        operation_id="getItem",
        summary="Read one item",
        success_status=HTTPStatus.OK,
        response_model="Item",
        error_statuses=(HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND),
    ),
    Route(
        method="PUT",
        path="/items/{id}",
        operation_id="updateItem",
        summary="Change the year and/or title of an item",
        success_status=HTTPStatus.OK,
        response_model="Item",
        request_model="UpdateItemRequest",
        error_statuses=(*_BODY_ERRORS, HTTPStatus.NOT_FOUND),
    ),
    Route(
        method="DELETE",
        path="/items/{id}",
        operation_id="deleteItem",
        summary="Delete an item",
        success_status=HTTPStatus.NO_CONTENT,
        response_model=None,
        error_statuses=(HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND),
    ),
)
