"""End to end: DynamoDB Local killed while the stack runs, then back (the stack restarts it on the same data)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from local.server import DYNAMODB_BACK_LINE
from tests.local.conftest import (
    APP_RATE_LIMIT_OUT_OF_THE_WAY,
    SEED_BODY,
    Answer,
    LocalServer,
    dev_config,
    plan,
    wait_for_exit,
)

ACKNOWLEDGED = 8
RECOVERY_SECONDS = 60


@dataclass(frozen=True)
class Outage:
    acknowledged: dict[str, Answer]
    during: list[Answer]
    after: Answer
    reads_after: dict[str, Answer]
    server_alive: bool


def _port_closed(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


@contextmanager
def _outage_held(endpoint: str) -> Iterator[None]:
    """Occupy the dead DynamoDB Local's port with a listener that resets every connection.

    The stack restarts DynamoDB Local as soon as it can bind the port again; holding the port keeps the outage
    open until the test has seen it, instead of racing the restart. Clients see what a dead endpoint gives them:
    connections refused or reset, never an answer.
    """
    host, port = endpoint.removeprefix("http://").split(":")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(16)
    closing = threading.Event()

    def reset_connections() -> None:
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    resetter = threading.Thread(target=reset_connections, daemon=True)
    resetter.start()
    try:
        yield
    finally:
        closing.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        resetter.join()


@pytest.fixture(scope="module")
def outage(server_factory) -> Outage:
    config = dev_config(
        apiGateway={"stageName": "e2e", "throttle": {"rateLimit": 100, "burstLimit": 200}},
        plans={"roomy": plan(100, 200)},
        consumers={"client": {"plan": "roomy"}},
        appRateLimit=APP_RATE_LIMIT_OUT_OF_THE_WAY,
        waf={"rateLimit": 1_000_000, "windowSeconds": 60},
    )
    server: LocalServer = server_factory(config)
    key = server.key("client")

    def create(item_id: str) -> Answer:
        return server.request("POST", "/items", {**SEED_BODY, "id": item_id}, key, "127.0.9.1")

    # GIVEN items the API acknowledged
    acknowledged = {f"kept-{n}": create(f"kept-{n}") for n in range(ACKNOWLEDGED)}
    # WHEN DynamoDB Local is killed (as a crash would)
    dynamodb = server.state["dynamodb_local"]
    os.kill(dynamodb["pid"], signal.SIGKILL)
    wait_for_exit(dynamodb["pid"], RECOVERY_SECONDS)
    assert _port_closed(dynamodb["endpoint"]), "DynamoDB Local did not go away"
    with _outage_held(dynamodb["endpoint"]):
        during = [create(f"during-{n}") for n in range(3)]
    # AND the stack brings it back once the port is free, on the same data, while the stack itself stays up
    assert server.lines.wait_for(DYNAMODB_BACK_LINE, RECOVERY_SECONDS) is not None, server.log_text()
    after = create("after")
    reads_after = {
        item_id: server.request("GET", f"/items/{item_id}", key=key, source_ip="127.0.9.1") for item_id in acknowledged
    }
    return Outage(acknowledged, during, after, reads_after, server.process.poll() is None)


def test_items_were_acknowledged_before_the_kill(outage):
    assert {a.status for a in outage.acknowledged.values()} == {201}


def test_requests_while_dynamodb_is_down_get_503_with_retry_after(outage):
    assert [a.status for a in outage.during] == [503] * len(outage.during)
    assert all(int(a.headers["retry-after"]) >= 1 for a in outage.during)


def test_the_stack_keeps_running_through_the_outage(outage):
    assert outage.server_alive


def test_requests_succeed_again_once_dynamodb_is_back(outage):
    assert outage.after.status == 201


def test_every_item_acknowledged_before_the_kill_is_still_there(outage):
    assert {item_id: a.status for item_id, a in outage.reads_after.items()} == dict.fromkeys(outage.acknowledged, 200)
