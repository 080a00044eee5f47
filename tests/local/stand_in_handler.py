"""A stand-in Lambda handler for the execution-environment tests: its behaviour is chosen by the event."""

from __future__ import annotations

import os
import time
from typing import Any

IMPORTED_AT = time.time()
INVOCATIONS = 0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global INVOCATIONS
    INVOCATIONS += 1
    action = event.get("action")
    if action == "raise":
        raise RuntimeError("boom")
    if action == "hang":
        time.sleep(event["seconds"])
    return {
        "statusCode": 200,
        "body": "",
        "pid": os.getpid(),
        "imported_at": IMPORTED_AT,
        "invocations": INVOCATIONS,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "table": os.environ.get("TABLE"),
        "machine_credentials": os.environ.get("AWS_PROFILE"),
    }
