"""What the deployed stage is made of, taken from the infrastructure's own definitions (one source of truth)."""

from __future__ import annotations

from components.settings import AppRateLimitSettings

__all__ = ["access_log_format", "function_environment", "gateway_response_template"]


def access_log_format() -> dict[str, str]:
    return {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "user": "$context.identity.user",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "apiKeyId": "$context.identity.apiKeyId",
        "wafResponseCode": "$context.wafResponseCode",
        "integrationLatency": "$context.integrationLatency",
        "responseLatency": "$context.responseLatency",
    }


def gateway_response_template() -> str:
    return '{"message": $context.error.messageString, "request_id": "$context.requestId"}'


def function_environment(
    rate_limit: AppRateLimitSettings, items_table_name: str, rate_limit_table_name: str
) -> dict[str, str]:
    return {
        "ITEMS_TABLE_NAME": items_table_name,
        "RATE_LIMIT_TABLE_NAME": rate_limit_table_name,
        "RATE_LIMIT_REQUESTS": str(rate_limit.requests),
        "RATE_LIMIT_WINDOW_SECONDS": str(rate_limit.window_seconds),
        "RATE_LIMIT_FAIL_OPEN": "true" if rate_limit.fail_open else "false",
        "POWERTOOLS_SERVICE_NAME": "tiered-api",
        "POWERTOOLS_METRICS_NAMESPACE": "TieredApi",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
