"""What WAF and API Gateway decide about a request before the function sees it, in AWS's order.

WAF's per-IP rate rule, the stage and method, the API key, the key's usage-plan throttle and quota, the stage
throttle of that method, then the method's request validator (required query parameters, the body against its
draft-4 model).
Limits come from ``StackSettings``; methods, models, validators and gateway responses from the same
``api_definition`` the deployed REST API is built from.
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
from urllib.parse import parse_qs

import fastjsonschema

from components.settings import StackSettings
from handler.contract import path_pattern
from local.limits import Clock, QuotaCounter, TokenBucket, WafRateRule

__all__ = [
    "BAD_REQUEST_BODY",
    "INVALID_API_KEY",
    "LAMBDA_ERROR",
    "LAMBDA_THROTTLED",
    "MISSING_AUTHENTICATION_TOKEN",
    "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE",
    "THROTTLED",
    "UNKNOWN_STAGE",
    "WAF_FILTERED",
    "Admitted",
    "ApiKey",
    "Gateway",
    "GatewayAnswer",
    "IncomingRequest",
    "Rejected",
    "missing_parameters",
    "new_api_key",
]

# API Gateway's own body for its errors where a stage does not customise the response type.
AWS_DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'


@dataclass(frozen=True)
class GatewayAnswer:
    """A response API Gateway produces itself (a "gateway response"), never reaching the function."""

    status: int
    message: str
    error_type: str
    response_type: str
    customisable: bool = True
    """Whether a stage's gateway responses can change its body (AWS does not let them for every type)."""


WAF_FILTERED = GatewayAnswer(403, "Forbidden", "ForbiddenException", "WAF_FILTERED")
UNKNOWN_STAGE = GatewayAnswer(403, "Forbidden", "ForbiddenException", "MISSING_AUTHENTICATION_TOKEN")
MISSING_AUTHENTICATION_TOKEN = GatewayAnswer(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException", "MISSING_AUTHENTICATION_TOKEN"
)
INVALID_API_KEY = GatewayAnswer(403, "Forbidden", "ForbiddenException", "INVALID_API_KEY")
THROTTLED = GatewayAnswer(429, "Too Many Requests", "TooManyRequestsException", "THROTTLED")
QUOTA_EXCEEDED = GatewayAnswer(429, "Limit Exceeded", "LimitExceededException", "QUOTA_EXCEEDED")
BAD_REQUEST_BODY = GatewayAnswer(400, "Invalid request body", "BadRequestException", "BAD_REQUEST_BODY")
# A body over API Gateway's 10 MB payload limit. AWS does not support customising this response type: its body
# stays AWS's own whatever DEFAULT_4XX says, while its headers and access-log line are those of any gateway answer.
REQUEST_TOO_LARGE = GatewayAnswer(
    413, "Request Too Long", "BadRequestException", "REQUEST_TOO_LARGE", customisable=False
)


def missing_parameters(names: list[str]) -> GatewayAnswer:
    return GatewayAnswer(
        400,
        f"Missing required request parameters: [{', '.join(names)}]",
        "BadRequestException",
        "BAD_REQUEST_PARAMETERS",
    )


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
    query: str
    headers: Mapping[str, str]
    source_ip: str
    body: bytes


@dataclass(frozen=True)
class Admitted:
    """A request API Gateway hands to the integration."""

    http_method: str
    resource_path: str
    path: str
    path_parameters: dict[str, str]
    api_key: ApiKey


@dataclass(frozen=True)
class Rejected:
    """A request API Gateway answers itself. ``api_key`` is the caller's key once API Gateway has identified it
    (throttles, quotas, validation): the access log then names the key's id, as the stage's does."""

    answer: GatewayAnswer
    api_key: ApiKey | None = None


@dataclass(frozen=True)
class _Method:
    http_method: str
    resource_path: str
    pattern: re.Pattern[str]
    required_query: tuple[str, ...]
    body_model: str | None


def _method(spec: Mapping[str, Any], validators: Mapping[str, Mapping[str, bool]]) -> _Method:
    flags = validators.get(spec.get("validator") or "", {})
    path: str = spec["path"]
    required = ()
    if flags.get("validateRequestParameters"):
        prefix = "method.request.querystring."
        required = tuple(
            name.removeprefix(prefix)
            for name, needed in (spec.get("requestParameters") or {}).items()
            if needed and name.startswith(prefix)
        )
    return _Method(
        http_method=spec["httpMethod"],
        resource_path=path,
        pattern=path_pattern(path),
        required_query=required,
        body_model=spec.get("requestModel") if flags.get("validateRequestBody") else None,
    )


class Gateway:
    """The decisions of one stage; thread-safe (one lock around every counter).

    ``definition`` is ``components.api.api_definition(...)``: the REST API as data. The stage throttle is the
    stage's default method setting (``*/*``), which API Gateway applies per method: every (HTTP method, resource)
    pair has its own bucket of the stage's rate and burst, shared by every key and every concrete path of that
    resource. A usage plan's bucket is per key, across all methods.
    """

    def __init__(
        self,
        settings: StackSettings,
        api_keys: Mapping[str, ApiKey],
        definition: Mapping[str, Any],
        clock: Clock = time.time,
    ) -> None:
        self.stage_name = settings.api_gateway.stage_name
        self._keys = {key.value: key for key in api_keys.values()}
        self._lock = threading.Lock()
        self._waf = WafRateRule(settings.waf.rate_limit, settings.waf.window_seconds, clock)
        self._key_buckets: dict[str, TokenBucket] = {}
        self._quotas: dict[str, QuotaCounter] = {}
        for key in api_keys.values():
            plan = settings.plans[key.plan]
            self._key_buckets[key.id] = TokenBucket(plan.throttle.rate_limit, plan.throttle.burst_limit, clock)
            self._quotas[key.id] = QuotaCounter(plan.quota.limit, plan.quota.period, clock)
        self._methods = tuple(_method(spec, definition["validators"]) for spec in definition["methods"])
        stage = settings.api_gateway.throttle
        self._method_buckets = {
            (method.http_method, method.resource_path): TokenBucket(stage.rate_limit, stage.burst_limit, clock)
            for method in self._methods
        }
        self._validators: dict[str, Callable[[Any], Any]] = {
            name: fastjsonschema.compile(schema) for name, schema in definition["models"].items()
        }
        self._responses: Mapping[str, Mapping[str, Any]] = definition.get("gatewayResponses", {})

    def template(self, answer: GatewayAnswer) -> str:
        """The body template of ``answer``: its response type's, else the DEFAULT_4XX/5XX one, else AWS's (always
        AWS's for a response type a stage cannot customise)."""
        if not answer.customisable:
            return AWS_DEFAULT_TEMPLATE
        family = "DEFAULT_5XX" if answer.status >= 500 else "DEFAULT_4XX"
        for response_type in (answer.response_type, family):
            if response_type in self._responses:
                template: str = self._responses[response_type]["template"]
                return template
        return AWS_DEFAULT_TEMPLATE

    def admit(self, request: IncomingRequest) -> Admitted | Rejected:
        with self._lock:
            if not self._waf.allow(request.source_ip):
                return Rejected(WAF_FILTERED)
            prefix = f"/{self.stage_name}"
            if request.path != prefix and not request.path.startswith(prefix + "/"):
                return Rejected(UNKNOWN_STAGE)
            path = request.path.removeprefix(prefix) or "/"
            # API Gateway routes /items/ to the resource /items; the event keeps the path as called.
            matched = self._match(request.method, path.rstrip("/") or "/")
            if matched is None:
                return Rejected(MISSING_AUTHENTICATION_TOKEN)
            method, parameters = matched
            api_key = self._keys.get(request.headers.get("x-api-key", ""))
            if api_key is None:
                return Rejected(INVALID_API_KEY)
            if not self._key_buckets[api_key.id].take():
                return Rejected(THROTTLED, api_key)
            if not self._quotas[api_key.id].consume():
                return Rejected(QUOTA_EXCEEDED, api_key)
            if not self._method_buckets[method.http_method, method.resource_path].take():
                return Rejected(THROTTLED, api_key)
        problem = self._validate(method, request)
        if problem is not None:
            return Rejected(problem, api_key)
        return Admitted(
            http_method=method.http_method,
            resource_path=method.resource_path,
            path=path,
            path_parameters=parameters,
            api_key=api_key,
        )

    def _match(self, http_method: str, path: str) -> tuple[_Method, dict[str, str]] | None:
        for method in self._methods:
            if method.http_method != http_method:
                continue
            found = method.pattern.match(path)
            if found:
                return method, found.groupdict()
        return None

    def _validate(self, method: _Method, request: IncomingRequest) -> GatewayAnswer | None:
        if method.required_query:
            # Required means "included and not blank": parse_qs leaves out `year=` and a bare `year`.
            present = parse_qs(request.query)
            missing = [name for name in method.required_query if name not in present]
            if missing:
                return missing_parameters(missing)
        if method.body_model is None:
            return None
        content_type = request.headers.get("content-type", "application/json")
        # The model is mapped to application/json only; other types pass through to the function (which says 415).
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            return None
        try:
            self._validators[method.body_model](json.loads(request.body or b"null"))
        except (ValueError, fastjsonschema.JsonSchemaException):
            return BAD_REQUEST_BODY
        return None
