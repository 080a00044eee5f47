"""What WAF and API Gateway decide about a request before the function sees it, in AWS's order.

WAF's per-IP rate rule, the stage and route, the API key, the key's usage-plan throttle and quota, the stage
throttle, then request validation against the generated draft-4 model. Every limit comes from
``StackSettings``; every route and model from the handler's contract, as the deployed API is built from them.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fastjsonschema

from components.settings import StackSettings
from handler.contract import ROUTES, Route
from handler.models import gateway_request_schemas
from local.limits import Clock, QuotaCounter, TokenBucket, WafRateRule

__all__ = [
    "BAD_REQUEST_BODY",
    "INVALID_API_KEY",
    "LAMBDA_ERROR",
    "LAMBDA_THROTTLED",
    "MISSING_AUTHENTICATION_TOKEN",
    "QUOTA_EXCEEDED",
    "THROTTLED",
    "UNKNOWN_STAGE",
    "WAF_FILTERED",
    "Admitted",
    "ApiKey",
    "Gateway",
    "GatewayAnswer",
    "IncomingRequest",
    "new_api_key",
]


@dataclass(frozen=True)
class GatewayAnswer:
    """A response API Gateway produces itself (a "gateway response"), never reaching the function."""

    status: int
    message: str
    error_type: str
    response_type: str


WAF_FILTERED = GatewayAnswer(403, "Forbidden", "ForbiddenException", "WAF_FILTERED")
UNKNOWN_STAGE = GatewayAnswer(403, "Forbidden", "ForbiddenException", "MISSING_AUTHENTICATION_TOKEN")
MISSING_AUTHENTICATION_TOKEN = GatewayAnswer(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException", "MISSING_AUTHENTICATION_TOKEN"
)
INVALID_API_KEY = GatewayAnswer(403, "Forbidden", "ForbiddenException", "INVALID_API_KEY")
THROTTLED = GatewayAnswer(429, "Too Many Requests", "TooManyRequestsException", "THROTTLED")
QUOTA_EXCEEDED = GatewayAnswer(429, "Limit Exceeded", "LimitExceededException", "QUOTA_EXCEEDED")
BAD_REQUEST_BODY = GatewayAnswer(400, "Invalid request body", "BadRequestException", "BAD_REQUEST_BODY")
# Lambda's Invoke answered TooManyRequestsException (no concurrency left): a REST proxy integration turns it into 500.
LAMBDA_THROTTLED = GatewayAnswer(500, "Internal server error", "InternalServerErrorException", "DEFAULT_5XX")
# The function raised, timed out, crashed or returned something that is not a proxy response.
LAMBDA_ERROR = GatewayAnswer(502, "Internal server error", "InternalServerErrorException", "DEFAULT_5XX")

_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_VALUE_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ApiKey:
    consumer: str
    plan: str
    id: str
    value: str


def new_api_key(consumer: str, plan: str) -> ApiKey:
    """A key shaped like API Gateway's: a 10-character id and a 40-character value (local use only)."""
    return ApiKey(
        consumer=consumer,
        plan=plan,
        id="".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(10)),
        value="".join(secrets.choice(_KEY_VALUE_ALPHABET) for _ in range(40)),
    )


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    source_ip: str
    body: bytes


@dataclass(frozen=True)
class Admitted:
    """A request API Gateway hands to the integration."""

    route: Route
    path: str
    path_parameters: dict[str, str]
    api_key: ApiKey


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str]


def _compile(route: Route) -> _CompiledRoute:
    pattern = re.sub(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
    return _CompiledRoute(route, re.compile(f"^{pattern}$"))


class Gateway:
    """The decisions of one stage; thread-safe (one lock around every counter)."""

    def __init__(self, settings: StackSettings, api_keys: Mapping[str, ApiKey], clock: Clock = time.time) -> None:
        self.stage_name = settings.api_gateway.stage_name
        self._keys = {key.value: key for key in api_keys.values()}
        self._lock = threading.Lock()
        self._waf = WafRateRule(settings.waf.rate_limit, settings.waf.window_seconds, clock)
        stage = settings.api_gateway.throttle
        self._stage_bucket = TokenBucket(stage.rate_limit, stage.burst_limit, clock)
        self._key_buckets: dict[str, TokenBucket] = {}
        self._quotas: dict[str, QuotaCounter] = {}
        for key in api_keys.values():
            plan = settings.plans[key.plan]
            self._key_buckets[key.id] = TokenBucket(plan.throttle.rate_limit, plan.throttle.burst_limit, clock)
            self._quotas[key.id] = QuotaCounter(plan.quota.limit, plan.quota.period, clock)
        self._routes = tuple(_compile(route) for route in ROUTES)
        self._validators: dict[str, Callable[[Any], Any]] = {
            name: fastjsonschema.compile(schema) for name, schema in gateway_request_schemas().items()
        }

    def admit(self, request: IncomingRequest) -> Admitted | GatewayAnswer:
        with self._lock:
            if not self._waf.allow(request.source_ip):
                return WAF_FILTERED
            prefix = f"/{self.stage_name}"
            if request.path != prefix and not request.path.startswith(prefix + "/"):
                return UNKNOWN_STAGE
            path = request.path.removeprefix(prefix) or "/"
            matched = self._match(request.method, path)
            if matched is None:
                return MISSING_AUTHENTICATION_TOKEN
            route, parameters = matched
            api_key = self._keys.get(request.headers.get("x-api-key", ""))
            if api_key is None:
                return INVALID_API_KEY
            if not self._key_buckets[api_key.id].take():
                return THROTTLED
            if not self._quotas[api_key.id].consume():
                return QUOTA_EXCEEDED
            if not self._stage_bucket.take():
                return THROTTLED
        if not self._valid_body(route, request):
            return BAD_REQUEST_BODY
        return Admitted(route=route, path=path, path_parameters=parameters, api_key=api_key)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for compiled in self._routes:
            if compiled.route.method != method:
                continue
            found = compiled.pattern.match(path)
            if found:
                return compiled.route, found.groupdict()
        return None

    def _valid_body(self, route: Route, request: IncomingRequest) -> bool:
        if route.request_model is None:
            return True
        content_type = request.headers.get("content-type", "application/json")
        # The model is mapped to application/json only; other types pass through to the function (which says 415).
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            return True
        try:
            self._validators[route.request_model](json.loads(request.body or b"null"))
        except (ValueError, fastjsonschema.JsonSchemaException):
            return False
        return True
