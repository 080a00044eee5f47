"""The Lambda proxy integration (REST API, payload v1): the event API Gateway sends, and what it makes of the answer."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.gateway import Admitted

__all__ = ["ProxyResponse", "RequestContext", "parse_proxy_response", "proxy_event", "request_time"]


@dataclass(frozen=True)
class RequestContext:
    """Facts API Gateway knows about a request before it integrates it."""

    request_id: str
    extended_request_id: str
    stage: str
    api_id: str
    account_id: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    received_epoch: float

    @classmethod
    def new(
        cls,
        stage: str,
        api_id: str,
        account_id: str,
        domain_name: str,
        source_ip: str,
        user_agent: str | None,
        received_epoch: float,
    ) -> RequestContext:
        return cls(
            request_id=str(uuid.uuid4()),
            extended_request_id=base64.b32encode(uuid.uuid4().bytes).decode()[:16],
            stage=stage,
            api_id=api_id,
            account_id=account_id,
            domain_name=domain_name,
            source_ip=source_ip,
            user_agent=user_agent,
            received_epoch=received_epoch,
        )


def request_time(epoch: float) -> str:
    """``$context.requestTime``: CLF-formatted, in UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def proxy_event(
    admitted: Admitted,
    context: RequestContext,
    headers: Sequence[tuple[str, str]],
    query: str,
    body: bytes,
) -> dict[str, Any]:
    """The event of a REST API Lambda proxy integration (payload format 1.0) for an admitted request."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    try:
        text: str | None = body.decode() if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": admitted.resource_path,
        "path": admitted.path,
        "httpMethod": admitted.http_method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": admitted.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": admitted.resource_path,
            "httpMethod": admitted.http_method,
            "extendedRequestId": context.extended_request_id,
            "requestTime": request_time(context.received_epoch),
            "path": f"/{context.stage}{admitted.path}",
            "accountId": context.account_id,
            "protocol": "HTTP/1.1",
            "stage": context.stage,
            "domainPrefix": context.domain_name.split(".", 1)[0],
            "requestTimeEpoch": int(context.received_epoch * 1000),
            "requestId": context.request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": context.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": context.user_agent,
                "user": None,
                "apiKey": admitted.api_key.value,
                "apiKeyId": admitted.api_key.id,
            },
            "domainName": context.domain_name,
            "apiId": context.api_id,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def parse_proxy_response(payload: Any) -> ProxyResponse | None:
    """The HTTP answer in a proxy integration's response, or ``None`` where API Gateway would say 502."""
    if not isinstance(payload, Mapping):
        return None
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers: list[tuple[str, str]] = []
    single = payload.get("headers") or {}
    multi = payload.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        return None
    for name, values in multi.items():
        headers.extend((str(name), str(value)) for value in (values if isinstance(values, list) else [values]))
    seen = {name.lower() for name, _ in headers}
    headers.extend((str(name), str(value)) for name, value in single.items() if str(name).lower() not in seen)
    body = payload.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        return None
    elif payload.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            return None
    else:
        raw = body.encode()
    return ProxyResponse(status=status, headers=headers, body=raw)
