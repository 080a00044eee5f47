"""The function run as Lambda runs it: execution environments as worker processes.

Each worker is a spawned interpreter that serves one invocation at a time and keeps its module state between
them, like a Lambda execution environment. A worker is started on demand (a cold start) up to the function's
concurrency; beyond that the invocation is throttled. A new worker first runs its Init phase, importing the
handler module, under Lambda's own limit for it rather than the function's timeout. Lambda runs an Init that
overruns the limit again within the first invocation, under the function's timeout; here the Init still running
stands in for that second run, its whole time counted against the timeout (the outcome Lambda's gives, without
the seconds the first run wasted). Each worker writes its output (the handler's logs and EMF metrics, then Lambda's
``START``/``END``/``REPORT`` lines, the first ``REPORT`` with ``Init Duration``, or with the Init inside
``Duration`` when it overran) to a log stream file of its own, as each environment has one.

This module is imported by every worker: it imports nothing heavy at module level.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

__all__ = [
    "FunctionConfig",
    "FunctionError",
    "Invocation",
    "LambdaContext",
    "LambdaPool",
    "LambdaThrottled",
]

# Variables of the parent's environment a function must never see: the machine's own AWS identity.
_SCRUBBED_PREFIXES = ("AWS_",)
# Lambda's limit on an on-demand environment's Init phase, separate from the function's timeout.
INIT_LIMIT_SECONDS: Final = 10.0


class LambdaThrottled(Exception):
    """Every execution environment the function may have is busy (Lambda's TooManyRequestsException)."""


class FunctionError(Exception):
    """The invocation failed in the function: an exception, a timeout or a crashed environment."""


@dataclass(frozen=True)
class FunctionConfig:
    handler: str  # "module.function"
    name: str
    memory_mb: int
    timeout_seconds: int
    max_concurrency: int
    environment: Mapping[str, str]
    region: str
    account_id: str
    log_dir: Path
    init_limit_seconds: float = INIT_LIMIT_SECONDS


@dataclass(frozen=True)
class Invocation:
    response: Any
    log_stream: str
    cold_start: bool


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def _serve(connection: Connection, config: FunctionConfig, log_stream: str) -> None:
    """A worker's life: set up the environment, then answer invocations until told to stop."""
    # Ctrl-C reaches the whole process group; the parent decides when environments end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in [name for name in os.environ if name.startswith(_SCRUBBED_PREFIXES)]:
        del os.environ[name]
    os.environ.update(config.environment)
    os.environ.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": _log_group(config),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
        }
    )
    log = (config.log_dir / f"{log_stream.replace('/', '-')}.log").open("a", buffering=1)
    sys.stdout = sys.stderr = log
    started = time.perf_counter()
    try:
        module_name, function_name = config.handler.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # noqa: BLE001 (Lambda reports any init failure)
        traceback.print_exc()
        connection.send(("init_error", f"{type(error).__name__}: {error}"))
        return
    init_ms: float | None = (time.perf_counter() - started) * 1000
    connection.send(("initialised", None))
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        event, request_id, deadline_ms, init_in_invocation = request
        started = time.perf_counter()
        print(f"START RequestId: {request_id} Version: $LATEST")
        try:
            context = LambdaContext(
                function_name=config.name,
                function_version="$LATEST",
                invoked_function_arn=f"arn:aws:lambda:{config.region}:{config.account_id}:function:{config.name}",
                memory_limit_in_mb=config.memory_mb,
                aws_request_id=request_id,
                log_group_name=_log_group(config),
                log_stream_name=log_stream,
                deadline_ms=deadline_ms,
            )
            outcome: tuple[str, Any] = ("ok", handler(event, context))
        except Exception as error:  # noqa: BLE001 (Lambda reports any exception of the handler)
            traceback.print_exc()
            outcome = ("error", f"{type(error).__name__}: {error}")
        duration_ms = (time.perf_counter() - started) * 1000
        if init_in_invocation and init_ms is not None:
            # Lambda bills an Init it ran within the invocation as part of it, and reports no Init Duration.
            duration_ms, init_ms = duration_ms + init_ms, None
        print(f"END RequestId: {request_id}")
        max_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {config.memory_mb} MB\t"
            f"Max Memory Used: {max_memory_mb} MB"
        )
        print(report + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""))
        init_ms = None
        connection.send(outcome)


def _log_group(config: FunctionConfig) -> str:
    return f"/aws/lambda/{config.name}"


class _Worker:
    def __init__(self, config: FunctionConfig) -> None:
        self._config = config
        self.initialised = False
        now = datetime.now(UTC)
        self.log_stream = f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, self._config, self.log_stream),
            name=f"lambda-{self.log_stream[-8:]}",
            daemon=True,
        )
        self._process.start()
        child.close()

    def initialise(self) -> float:
        """Wait for the environment's Init phase; return the seconds of the first invocation's timeout it took
        (none unless it overran Lambda's limit for it)."""
        started = time.monotonic()
        if self._await_init(self._config.init_limit_seconds):
            return 0.0
        timeout = self._config.timeout_seconds
        if not self._await_init(max(0.0, timeout - (time.monotonic() - started))):
            raise FunctionError(f"Task timed out after {timeout} seconds")
        return time.monotonic() - started

    def _await_init(self, seconds: float) -> bool:
        try:
            if not self._connection.poll(seconds):
                return False
            status, message = self._connection.recv()
        except (EOFError, OSError) as error:
            raise FunctionError(f"Runtime exited: {error!r}") from None
        if status == "init_error":
            raise FunctionError(message)
        self.initialised = True
        return True

    def invoke(
        self, event: dict[str, Any], request_id: str, timeout_seconds: float, init_in_invocation: bool
    ) -> tuple[str, Any]:
        deadline_ms = int((time.time() + timeout_seconds) * 1000)
        try:
            self._connection.send((event, request_id, deadline_ms, init_in_invocation))
            if not self._connection.poll(timeout_seconds):
                raise FunctionError(f"Task timed out after {self._config.timeout_seconds} seconds")
            outcome: tuple[str, Any] = self._connection.recv()
        except (EOFError, OSError) as error:
            raise FunctionError(f"Runtime exited: {error!r}") from None
        return outcome

    def stop(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(OSError):
            self._connection.send(None)
        self._process.join(timeout)
        self.kill()

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._connection.close()


class LambdaPool:
    """A function's execution environments: reused when idle, started on demand, capped at its concurrency."""

    def __init__(self, config: FunctionConfig) -> None:
        if config.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.config = config
        config.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._reserved = 0  # environments counted against the concurrency, including ones starting
        self._closed = False

    @property
    def environments(self) -> int:
        with self._lock:
            return self._reserved

    def invoke(self, event: dict[str, Any], request_id: str) -> Invocation:
        """Run one invocation; raises ``LambdaThrottled`` or ``FunctionError`` as Lambda would fail it."""
        worker = self._acquire()
        cold_start = not worker.initialised
        try:
            # A failed Init ends the environment; the next invocation starts a new one.
            init_seconds = worker.initialise() if cold_start else 0.0
            status, payload = worker.invoke(
                event, request_id, self.config.timeout_seconds - init_seconds, init_in_invocation=init_seconds > 0
            )
        except BaseException:
            self._discard(worker)
            raise
        # An environment survives an exception in the handler.
        self._release(worker)
        if status != "ok":
            raise FunctionError(payload)
        return Invocation(response=payload, log_stream=worker.log_stream, cold_start=cold_start)

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise LambdaThrottled
            if self._idle:
                return self._idle.pop()
            if self._reserved >= self.config.max_concurrency:
                raise LambdaThrottled
            self._reserved += 1
        try:
            worker = _Worker(self.config)
        except BaseException:
            with self._lock:
                self._reserved -= 1
            raise
        with self._lock:
            self._all.add(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.stop()

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            self._reserved -= 1

    def close(self) -> None:
        """Stop every environment, busy ones too."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._idle.clear()
        for worker in workers:
            worker.stop()
