"""Execution environments: reused warm, started on demand up to the concurrency, failed as Lambda fails them."""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.lambda_pool import FunctionConfig, FunctionError, LambdaPool, LambdaThrottled


def config(tmp_path: Path, handler: str = "tests.local.stand_in_handler.handler", **changes) -> FunctionConfig:
    values = {
        "handler": handler,
        "name": "fn",
        "memory_mb": 128,
        "timeout_seconds": 5,
        "max_concurrency": 1,
        "environment": {"TABLE": "items"},
        "region": "us-east-1",
        "account_id": "123456789012",
        "log_dir": tmp_path / "lambda",
        **changes,
    }
    return FunctionConfig(**values)


@pytest.fixture
def pool(tmp_path, monkeypatch) -> Iterator[LambdaPool]:
    # The machine's own AWS identity must never reach a function.
    monkeypatch.setenv("AWS_PROFILE", "someone")
    pool = LambdaPool(config(tmp_path))
    yield pool
    pool.close()


def test_the_first_invocation_is_a_cold_start_and_the_second_is_warm(pool):
    first = pool.invoke({}, "r1")
    second = pool.invoke({}, "r2")
    assert (first.cold_start, second.cold_start) == (True, False)
    assert second.response["pid"] == first.response["pid"]
    assert second.response["imported_at"] == first.response["imported_at"]
    assert second.response["invocations"] == 2


def test_the_function_sees_its_environment_and_context_but_not_the_machines_credentials(pool):
    response = pool.invoke({}, "r1").response
    assert (response["table"], response["request_id"], response["machine_credentials"]) == ("items", "r1", None)
    assert 0 < response["remaining_ms"] <= 5000


def test_each_environment_writes_its_own_log_stream_with_lambdas_report_lines(pool):
    invocation = pool.invoke({}, "r1")
    pool.invoke({}, "r2")
    (stream,) = (pool.config.log_dir).glob("*.log")
    text = stream.read_text()
    assert invocation.log_stream.rsplit("]", 1)[1] in stream.name
    assert "REPORT RequestId: r1" in text
    assert "REPORT RequestId: r2" in text
    assert text.count("Init Duration") == 1


def test_the_billed_duration_is_the_duration_rounded_up_to_the_millisecond(pool):
    for n in range(5):
        pool.invoke({}, f"r{n}")
    (stream,) = pool.config.log_dir.glob("*.log")
    reported = [
        (float(found[1]), int(found[2]))
        for found in re.finditer(r"\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms", stream.read_text())
    ]
    # Duration is printed to 0.01 ms: the one billed lies within 0.005 ms of it.
    assert len(reported) == 5
    for duration, billed in reported:
        assert math.ceil(duration - 0.005) <= billed <= math.ceil(duration + 0.005), (duration, billed)


def test_an_invocation_beyond_the_concurrency_is_throttled(pool, tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    os.mkfifo(started)
    os.mkfifo(release)
    result: list[object] = []

    def invoke_waiting() -> None:
        try:
            result.append(pool.invoke({"action": "wait", "started": str(started), "release": str(release)}, "slow"))
        finally:
            # Should the invocation fail before its handler met the test, meet it here so the test does not hang.
            with contextlib.suppress(OSError):
                os.close(os.open(started, os.O_WRONLY | os.O_NONBLOCK))

    worker = threading.Thread(target=invoke_waiting)
    worker.start()
    try:
        # GIVEN the only environment is busy: its handler has opened the FIFO this open meets
        with open(started):
            pass
        # THEN a second invocation is throttled rather than queued
        with pytest.raises(LambdaThrottled):
            pool.invoke({}, "second")
    finally:
        if worker.is_alive():
            with open(release, "w") as let_go:
                let_go.write("done")
        worker.join()
    assert len(result) == 1


def test_an_exception_fails_the_invocation_and_keeps_the_environment(pool):
    first = pool.invoke({}, "r1")
    with pytest.raises(FunctionError, match="RuntimeError: boom"):
        pool.invoke({"action": "raise"}, "r2")
    after = pool.invoke({}, "r3")
    assert after.response["pid"] == first.response["pid"]


def test_a_timeout_ends_the_environment_and_the_next_invocation_starts_cold(tmp_path):
    with contextlib.closing(LambdaPool(config(tmp_path, timeout_seconds=1))) as pool:
        first = pool.invoke({}, "r1")
        with pytest.raises(FunctionError, match="timed out"):
            pool.invoke({"action": "hang", "seconds": 10}, "r2")
        after = pool.invoke({}, "r3")
    assert after.cold_start
    assert after.response["pid"] != first.response["pid"]


def slow_init(tmp_path: Path, init_seconds: float, **changes) -> LambdaPool:
    return LambdaPool(
        config(
            tmp_path,
            handler="tests.local.slow_init_handler.handler",
            environment={"INIT_SECONDS": str(init_seconds)},
            **changes,
        )
    )


def test_init_has_its_own_limit_not_the_functions_timeout(tmp_path):
    with contextlib.closing(slow_init(tmp_path, init_seconds=1.5, timeout_seconds=1)) as pool:
        invocation = pool.invoke({}, "r1")
    assert invocation.cold_start
    # The handler's time starts after Init: the whole timeout is left for it.
    assert 500 < invocation.response["remaining_ms"] <= 1000


def test_an_init_over_its_limit_counts_against_the_first_invocations_timeout(tmp_path):
    with contextlib.closing(slow_init(tmp_path, init_seconds=1.0, init_limit_seconds=0.2, timeout_seconds=5)) as pool:
        invocation = pool.invoke({}, "r1")
    assert invocation.cold_start
    # At least the Init's 1 s is gone from the 5 s timeout.
    assert invocation.response["remaining_ms"] <= 4000
    # As Lambda reports an Init it ran within the invocation: inside Duration, with no Init Duration of its own.
    (stream,) = pool.config.log_dir.glob("*.log")
    (report,) = [line for line in stream.read_text().splitlines() if line.startswith("REPORT RequestId: r1")]
    assert "Init Duration" not in report
    assert float(report.split("Duration: ", 1)[1].split(" ms", 1)[0]) >= 1000


def test_an_init_over_its_limit_and_the_functions_timeout_times_the_invocation_out(tmp_path):
    with contextlib.closing(slow_init(tmp_path, init_seconds=2.0, init_limit_seconds=0.2, timeout_seconds=1)) as pool:
        with pytest.raises(FunctionError, match="timed out after 1 seconds"):
            pool.invoke({}, "r1")
        environments = pool.environments
    assert environments == 0


def test_an_init_over_its_limit_times_out_once_the_functions_timeout_has_passed_since_the_init_began(tmp_path):
    init_limit, timeout = 2, 3
    with contextlib.closing(
        slow_init(tmp_path, init_seconds=30, init_limit_seconds=init_limit, timeout_seconds=timeout)
    ) as pool:
        started = time.monotonic()
        with pytest.raises(FunctionError, match=f"timed out after {timeout} seconds"):
            pool.invoke({}, "r1")
        seconds = time.monotonic() - started
    # The Init's time within its own limit counts against the timeout too: not its limit, then a whole timeout more.
    assert timeout <= seconds < timeout + init_limit


def test_a_failed_init_fails_every_invocation_without_leaking_environments(tmp_path):
    with contextlib.closing(LambdaPool(config(tmp_path, handler="tests.local.broken_handler.handler"))) as pool:
        for request_id in ("r1", "r2"):
            with pytest.raises(FunctionError, match="ImportError"):
                pool.invoke({}, request_id)
        environments = pool.environments
    assert environments == 0
