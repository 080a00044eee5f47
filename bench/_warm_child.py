"""One worker's warm throughput: import a handler once, then serve requests one after another, as one Lambda
execution environment does.

Run by ``bench.warm`` as ``python -m bench._warm_child MODULE FUNCTION WARMUP RESULT_FD``: it serves batches of
requests when told to, so that the parent can make several variants take turns at a fine grain.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

from bench import _lambda_runtime
from bench._cold_child import _Context
from bench.environment import seed_event


class _CallMeter:
    """Counts and times every AWS call the process makes, by wrapping botocore's single entry point for them.

    Installed after the handler's import, so it wraps whatever the handler installed (X-Ray's botocore patch
    included): the time it measures is the call as the handler experiences it.
    """

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.calls = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # this process's own CPU during the calls: the SDK's work, not DynamoDB's
        wrapped = BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation: str, parameters: dict[str, Any]) -> Any:
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return wrapped(client, operation, parameters)
            finally:
                meter.seconds += time.perf_counter() - started
                meter.cpu_seconds += time.process_time() - cpu_started
                meter.calls += 1

        BaseClient._make_api_call = metered


def _invoke(function: Any, event: dict[str, Any], context: _Context) -> dict[str, Any]:
    _lambda_runtime.begin_invocation(context.aws_request_id)
    response: dict[str, Any] = function(event, context)
    return response


def _serve(function: Any, meter: _CallMeter, count: int) -> dict[str, Any]:
    """Serve ``count`` requests one after another; what they took, as one line of the result stream."""
    events = [seed_event() for _ in range(count)]
    # A context per invocation, as Lambda gives each its own request id.
    contexts = [_Context() for _ in events]
    latencies = []
    statuses: dict[str, int] = {}
    calls_before, seconds_before, cpu_before = meter.calls, meter.seconds, meter.cpu_seconds
    started = time.perf_counter()
    for event, context in zip(events, contexts, strict=True):
        before = time.perf_counter()
        status = str(_invoke(function, event, context)["statusCode"])
        latencies.append(time.perf_counter() - before)
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "seconds": time.perf_counter() - started,
        "latencies": latencies,
        "statuses": statuses,
        "dynamodb_calls": meter.calls - calls_before,
        "dynamodb_seconds": meter.seconds - seconds_before,
        "dynamodb_cpu_seconds": meter.cpu_seconds - cpu_before,
    }


def main(module_name: str, function_name: str, warmup: int, result_fd: int) -> None:
    """Import the handler, serve ``warmup`` requests unmeasured, say ``ready``; then, for every line on stdin (a
    request count), serve that many and write one JSON line to ``result_fd``. Ends at the end of stdin."""
    _lambda_runtime.install()
    function = getattr(importlib.import_module(module_name), function_name)
    meter = _CallMeter()
    with open(result_fd, "w", buffering=1) as results:
        _serve(function, meter, warmup)
        results.write("ready\n")
        for line in sys.stdin:
            results.write(json.dumps(_serve(function, meter, int(line))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
