"""The local stack behind ``make dev`` and the end-to-end tests: WAF and API Gateway's decisions, the function
run as Lambda runs it, and DynamoDB Local, all configured from the stack's ``StackSettings``.

Modules: ``server`` (entry point, ``python -m local``), ``gateway`` (WAF, keys, throttles, quotas, validation),
``limits`` (token bucket, quota, WAF rate counters), ``integration`` (proxy events and responses),
``lambda_pool`` (execution environments), ``access_log``, ``stack`` (names, keys, tables), ``dynamodb_local`` (the DynamoDB Local runner).
"""

__all__ = [
    "access_log",
    "dynamodb_local",
    "gateway",
    "integration",
    "lambda_pool",
    "limits",
    "server",
    "stack",
]
