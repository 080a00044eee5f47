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
    if action == "hang":  # a function slower than its timeout
        time.sleep(event["seconds"])
    if action == "wait":
        # Two FIFOs the test holds: opening the first meets the test's reader (the invocation is under way),
        # reading the second returns once the test writes to it (the test lets the invocation finish).
        with open(event["started"], "w"):
            pass
        with open(event["release"]) as release:
            release.read()
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
