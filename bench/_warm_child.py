"""One worker's warm throughput: import a handler once, then serve requests one after another, as one Lambda
execution environment does.

Run by ``bench.warm`` as ``python -m bench._warm_child MODULE FUNCTION WARMUP REQUESTS RESULT_FILE``.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time

from bench._cold_child import _Context
from bench.environment import seed_event


class _CallCounter:
    """Counts the DynamoDB calls every botocore client of the process makes (registered on each client)."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.calls = 0
        for candidate in gc.get_objects():
            if isinstance(candidate, BaseClient):
                candidate.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, **_: object) -> None:
        self.calls += 1


def main(module_name: str, function_name: str, warmup: int, requests: int, result_file: str) -> None:
    function = getattr(importlib.import_module(module_name), function_name)
    counter = _CallCounter()
    events = [seed_event() for _ in range(warmup + requests)]
    context = _Context()
    for event in events[:warmup]:
        function(event, context)
    latencies = []
    statuses: dict[str, int] = {}
    calls_before = counter.calls
    started = time.perf_counter()
    for event in events[warmup:]:
        before = time.perf_counter()
        status = str(function(event, context)["statusCode"])
        latencies.append(time.perf_counter() - before)
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - started
    result = {
        "throughput": requests / elapsed,
        "latencies": latencies,
        "statuses": statuses,
        "dynamodb_calls_per_request": (counter.calls - calls_before) / requests,
    }
    with open(result_file, "w") as sink:
        json.dump(result, sink)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
