"""What can go wrong in a request, as types. None of them knows about HTTP: ``handler._http`` maps each
to its status in one table."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BodyTooLargeError",
    "ConflictError",
    "FieldProblem",
    "HandlerError",
    "InvalidRequestError",
    "MethodNotAllowedError",
    "NotFoundError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "UnsupportedMediaTypeError",
]


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class HandlerError(Exception):
    """Base of every error the client is told about; ``message`` is safe to show."""

    message = "Request failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidRequestError(HandlerError):
    """Malformed JSON, a bad cursor or invalid fields (then ``problems`` lists them)."""

    message = "Invalid request"

    def __init__(self, message: str | None = None, problems: tuple[FieldProblem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class NotFoundError(HandlerError):
    message = "Not found"


class MethodNotAllowedError(HandlerError):
    message = "Method not allowed"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__()
        self.allowed = allowed


class ConflictError(HandlerError):
    message = "An item with this id already exists with different content"


class BodyTooLargeError(HandlerError):
    message = "Request body too large"


class UnsupportedMediaTypeError(HandlerError):
    message = "Content-Type must be application/json"


class RateLimitedError(HandlerError):
    message = "Too Many Requests"

    def __init__(self, reset_seconds: int) -> None:
        super().__init__()
        self.reset_seconds = reset_seconds


class ServiceUnavailableError(HandlerError):
    """DynamoDB throttled or did not answer after the client's bounded retries."""

    message = "Service temporarily unavailable, retry later"
