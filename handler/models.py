"""Request and response models: the only definition of the API's schema.

The API Gateway request models (JSON Schema draft 4, see ``gateway_request_schemas``) and the OpenAPI
document are generated from these classes, so validation in the gateway and in the function cannot drift.
The function imports this module (and so pydantic) only on requests that carry a body or a query to
validate: a cold start serving a GET or DELETE by id never pays for it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from handler._rules import (
    DEFAULT_PAGE_SIZE,
    ID_PATTERN,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_SIZE,
    MAX_TITLE_LENGTH,
    MAX_YEAR,
    MIN_YEAR,
    YEAR_MESSAGE,
    YEAR_PATTERN,
    parse_year,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "GATEWAY_REQUEST_MODELS",
    "ID_PATTERN",
    "MAX_CURSOR_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_TITLE_LENGTH",
    "YEAR_PATTERN",
    "CreateItemRequest",
    "ErrorResponse",
    "FieldError",
    "Item",
    "ItemList",
    "ListItemsQuery",
    "MessageResponse",
    "UpdateItemRequest",
    "gateway_request_schemas",
]


Year = Annotated[
    int,
    PlainValidator(parse_year),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": YEAR_PATTERN},
                {"type": "integer", "minimum": MIN_YEAR, "maximum": MAX_YEAR},
            ],
            "description": YEAR_MESSAGE,
        },
        mode="validation",
    ),
]
ItemId = Annotated[str, StringConstraints(strict=True, pattern=ID_PATTERN)]
Title = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_TITLE_LENGTH)]

_REQUEST: Final = ConfigDict(extra="forbid")


class CreateItemRequest(BaseModel):
    """Body of ``POST /`` and ``POST /items``; the seeds' call sends the year as a string."""

    model_config = _REQUEST

    id: ItemId
    year: Year
    title: Title


class UpdateItemRequest(BaseModel):
    """Body of ``PUT /items/{id}``: the fields to change, at least one; the id comes from the path."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    year: Year | None = None
    title: Title | None = None

    @model_validator(mode="after")
    def _at_least_one_non_null_field(self) -> UpdateItemRequest:
        if not self.model_fields_set:
            raise ValueError("give at least one of: year, title")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"may not be null: {', '.join(nulls)}")
        return self


class ListItemsQuery(BaseModel):
    """Query string of ``GET /items``."""

    model_config = _REQUEST

    year: Year
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1, max_length=MAX_CURSOR_LENGTH)


class Item(BaseModel):
    id: str
    year: int
    title: str


class ItemList(BaseModel):
    items: list[Item]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next page; null on the last")


class MessageResponse(BaseModel):
    message: str


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending field; empty for the body as a whole")
    message: str


class ErrorResponse(BaseModel):
    message: str
    request_id: str
    errors: list[FieldError] | None = Field(default=None, description="present for field problems only")


GATEWAY_REQUEST_MODELS: Final[tuple[type[BaseModel], ...]] = (CreateItemRequest, UpdateItemRequest)


def gateway_request_schemas() -> dict[str, dict[str, Any]]:
    """API Gateway request models as JSON Schema draft 4, keyed by model name (as ``Route.request_model``)."""
    from handler._draft4 import to_draft4

    return {model.__name__: to_draft4(model.model_json_schema()) for model in GATEWAY_REQUEST_MODELS}
