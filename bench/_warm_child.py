"""One worker's warm throughput: import a handler once, then serve requests one after another, as one Lambda
execution environment does.

Run by ``bench.warm`` as ``python -m bench._warm_child MODULE FUNCTION WARMUP REQUESTS RESULT_FILE``.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from bench._cold_child import _Context
from bench.environment import seed_event


def main(module_name: str, function_name: str, warmup: int, requests: int, result_file: str) -> None:
    function = getattr(importlib.import_module(module_name), function_name)
    events = [seed_event() for _ in range(warmup + requests)]
    context = _Context()
    for event in events[:warmup]:
        function(event, context)
    latencies = []
    statuses: dict[str, int] = {}
    started = time.perf_counter()
    for event in events[warmup:]:
        before = time.perf_counter()
        status = str(function(event, context)["statusCode"])
        latencies.append(time.perf_counter() - before)
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - started
    with open(result_file, "w") as sink:
        json.dump({"throughput": requests / elapsed, "latencies": latencies, "statuses": statuses}, sink)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
