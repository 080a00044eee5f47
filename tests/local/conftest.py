"""The local stack as ``make dev`` runs it (``python -m local`` in a subprocess), driven over real HTTP.

Each test module starts its own server from a stack file derived from the dev stack file, with small limits so
that the behaviour shows in a handful of requests. Readiness is the state file appearing, never a sleep.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from components.settings import NAMESPACE
from local.dynamodb_local import free_port
from local.server import READY_LINE
from tools.mocks import ROOT, read_stack_config

SEED_BODY = {"year": "2023", "title": "kkkg", "id": "12"}
STARTUP_SECONDS = 90


def dev_config(**changes: Any) -> dict[str, Any]:
    """The dev stack file's config map with top-level keys (without namespace) replaced by ``changes``."""
    config = copy.deepcopy(read_stack_config(ROOT / "Pulumi.dev.yaml"))
    for key, value in changes.items():
        config[f"{NAMESPACE}{key}"] = value
    return config


def write_config(directory: Path, config: dict[str, Any], name: str = "Pulumi.e2e.yaml") -> Path:
    """As the shared ``write_stack_file`` fixture, for module-scoped servers."""
    path = directory / name
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def server_command(config_file: Path, port: int, state_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "local",
        "--stack",
        "dev",
        "--port",
        str(port),
        "--config",
        str(config_file),
        "--state-dir",
        str(state_dir),
    ]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str | None:
        try:
            body = self.json
        except ValueError:
            return None
        return body.get("message") if isinstance(body, dict) else None


class OutputLines:
    """The server's output, copied line by line into its log file by a thread that wakes whoever waits for a line."""

    def __init__(self, stream: IO[bytes], log_file: Path) -> None:
        self._changed = threading.Condition()
        self._lines: list[str] = []
        self._ended = False
        self._copier = threading.Thread(target=self._copy, args=(stream, log_file), daemon=True)
        self._copier.start()

    def _copy(self, stream: IO[bytes], log_file: Path) -> None:
        with stream, log_file.open("ab") as sink:
            for line in stream:
                sink.write(line)
                sink.flush()
                with self._changed:
                    self._lines.append(line.decode(errors="replace"))
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float, after: int = 0) -> int | None:
        """The index of the first line from ``after`` on that holds ``text``, once printed; ``None`` if the output
        ends or ``timeout`` passes first."""

        def first() -> int | None:
            return next((n for n, line in enumerate(self._lines[after:], start=after) if text in line), None)

        with self._changed:
            self._changed.wait_for(lambda: first() is not None or self._ended, timeout)
            return first()

    def join(self, timeout: float) -> None:
        """Until the output ends: when the server and every process it started (holding its stdout) are gone."""
        self._copier.join(timeout)


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    output: Path
    lines: OutputLines
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        url: str = self.state["url"]
        return url

    @property
    def stage_path(self) -> str:
        return "/" + self.url.rsplit("/", 1)[1]

    def key(self, consumer: str) -> str:
        value: str = self.state["api_keys"][consumer]["value"]
        return value

    def read_state(self) -> dict[str, Any]:
        self.state = json.loads((self.state_dir / "dev.json").read_text())
        return self.state

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = None,
        source_ip: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request on a fresh connection from ``source_ip`` (any 127.x address works on Linux)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(source_ip, 0))
        all_headers = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            all_headers["x-api-key"] = key
        payload = json.dumps(body) if body is not None and not isinstance(body, str | bytes) else body
        try:
            connection.request(method, self.stage_path + path, body=payload, headers=all_headers)
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def log_text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        self.lines.join(timeout)
        return self.process.returncode


def start_server(directory: Path, config: dict[str, Any]) -> LocalServer:
    """Start ``python -m local`` on a free port and return once its state file says it is ready."""
    config_file = write_config(directory, config)
    state_dir = directory / "state"
    output = directory / "server.log"
    port = free_port()
    process = subprocess.Popen(
        server_command(config_file, port, state_dir),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # Its own process group, as in a terminal: a test can press "Ctrl-C" on it without hitting pytest.
        start_new_session=True,
    )
    assert process.stdout is not None
    server = LocalServer(
        process=process, port=port, state_dir=state_dir, output=output, lines=OutputLines(process.stdout, output)
    )
    # The banner comes last, once the state file is written and the API answers.
    if server.lines.wait_for(READY_LINE, STARTUP_SECONDS) is None:
        code = server.stop()
        raise AssertionError(f"local stack not ready in {STARTUP_SECONDS} s (exit {code}):\n{server.log_text()}")
    server.read_state()
    return server


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[dict[str, Any]], LocalServer]]:
    """Starts servers for one test module and stops every one of them afterwards."""
    started: list[LocalServer] = []

    def start(config: dict[str, Any]) -> LocalServer:
        server = start_server(tmp_path_factory.mktemp("local"), config)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def plan(rate: float, burst: int, quota: int = 100_000) -> dict[str, Any]:
    return {"throttle": {"rateLimit": rate, "burstLimit": burst}, "quota": {"limit": quota, "period": "DAY"}}


# The handler's own limiter stays out of the way of the gateway's limits under test.
APP_RATE_LIMIT_OUT_OF_THE_WAY = {"requests": 1_000_000, "windowSeconds": 60, "failOpen": False}


def wait_for_exit(pid: int, timeout: float) -> None:
    """Block until ``pid`` ends (or ``timeout``): a pidfd becomes readable when its process terminates."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([descriptor], [], [], timeout)
    finally:
        os.close(descriptor)
