"""The sample handler behind seed 003's rate limiter: what the seeds offer for app-level limits, assembled.

Seed 003's algorithm is the reference kept with the handler's tests (``tests/handler/seed_rate_limiter.py``):
``GetItem`` on the caller's IP, then an unconditional write of the incremented count. Composed with the sample
handler's ``PutItem``, one request costs three DynamoDB round trips (get, put, put). It shares the sample's
module-level client, which only flatters the reference.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.reference import ENV_SEED_REQUESTS, ENV_SEED_TABLE, ENV_SEED_WINDOW_SECONDS, sample_handler
from tests.handler.seed_rate_limiter import SeedRateLimiter

_limiter = SeedRateLimiter(
    sample_handler.dynamodb_client,
    os.environ[ENV_SEED_TABLE],
    limit=int(os.environ[ENV_SEED_REQUESTS]),
    window_seconds=int(os.environ[ENV_SEED_WINDOW_SECONDS]),
)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    if not _limiter.allow(event["requestContext"]["identity"]["sourceIp"]):
        return {"statusCode": 429, "body": json.dumps({"message": "Too Many Requests"})}
    return sample_handler.handler(event, context)
