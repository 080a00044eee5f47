"""One cold start, in a fresh interpreter: import and initialise a handler, then serve its first request.

Run by ``bench.cold_start`` as ``python bench/_cold_child.py MODULE FUNCTION EVENT_FILE RESULT_FILE``. Standard
library only, so nothing is imported before the clock starts except what the interpreter itself loads and the
Lambda runtime's own set-up (``bench._lambda_runtime``).
"""

import importlib
import json
import sys
import time
import uuid

from bench import _lambda_runtime


class _Context:
    function_name = "bench-handler"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-handler"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/bench-handler"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main(module_name: str, function_name: str, event_file: str, result_file: str) -> None:
    with open(event_file) as source:
        event = json.load(source)
    _lambda_runtime.install()
    started = time.perf_counter()
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    initialised = time.perf_counter()
    context = _Context()
    _lambda_runtime.begin_invocation(context.aws_request_id)
    response = function(event, context)
    answered = time.perf_counter()
    with open(result_file, "w") as sink:
        json.dump(
            {"init": initialised - started, "first_request": answered - initialised, "status": response["statusCode"]},
            sink,
        )


if __name__ == "__main__":
    main(*sys.argv[1:5])
