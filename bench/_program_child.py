"""Evaluate the Pulumi program for one stack under mocks, several times in one fresh process.

Run by ``bench.program`` as ``python -m bench._program_child STACK RUNS RESULT_FILE``. The first run pays for
importing Pulumi and the AWS SDK, as ``make plan`` does; the later ones show the program's own cost.
"""

from __future__ import annotations

import json
import sys
import time


def main(stack: str, runs: int, result_file: str) -> None:
    started = time.perf_counter()
    from tools.mocks import run_program

    first = 0.0
    later: list[float] = []
    resources = 0
    for index in range(runs):
        before = time.perf_counter()
        resources = len(run_program(stack).resources)
        finished = time.perf_counter()
        if index == 0:
            first = finished - started
        else:
            later.append(finished - before)
    with open(result_file, "w") as sink:
        json.dump({"first": first, "later": later, "resources": resources}, sink)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
