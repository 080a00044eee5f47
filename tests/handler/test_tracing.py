"""X-Ray inside Lambda: the handler, each store call and each DynamoDB call become subsegments, and no stored
data travels with them. Runs the handler in a fresh interpreter that believes it is in Lambda, sending its
segments to a UDP socket this test holds in place of the X-Ray daemon."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import LAMBDA_WITH_TRACING, app_environment, cold_start, json_lines, load_event


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock


def _received(sock: socket.socket) -> list[dict[str, Any]]:
    """Every segment document sent so far (each datagram is a JSON header line, then the document)."""
    documents: list[dict[str, Any]] = []
    while True:
        try:
            datagram = sock.recv(65536)
        except BlockingIOError:
            return documents
        documents.append(json.loads(datagram.split(b"\n", 1)[1]))


def _names(document: dict[str, Any]) -> Iterator[str]:
    yield document["name"]
    for child in document.get("subsegments", []):
        yield from _names(child)


@pytest.fixture
def traced_create_and_get(app_tables, dynamodb_local, daemon) -> tuple[list[int], list[dict[str, Any]], str]:
    title = f"stored-title-{uuid.uuid4().hex}"
    item_id = uuid.uuid4().hex
    create = load_event("seed_post_root.json")
    create["body"] = json.dumps({"id": item_id, "year": "2023", "title": title})
    get = load_event("get_item.json")
    get["path"] = f"/items/{item_id}"
    get["pathParameters"] = {"id": item_id}
    address = f"127.0.0.1:{daemon.getsockname()[1]}"
    environment = {**app_environment(app_tables), **LAMBDA_WITH_TRACING, "AWS_XRAY_DAEMON_ADDRESS": address}
    output = cold_start(environment, create, get)
    # The script's own records hold the status alone; the handler's "request completed" log lines carry one too.
    statuses = [record["status"] for record in json_lines(output) if record.keys() == {"status"}]
    return statuses, _received(daemon), title


def test_handler_store_and_dynamodb_calls_are_subsegments(traced_create_and_get):
    statuses, documents, _ = traced_create_and_get

    names = {name for document in documents for name in _names(document)}
    assert statuses == [201, 200]
    assert {
        "## lambda_handler",
        "## handler.store.WindowCounter.increment_below",
        "## handler.store.ItemStore.create",
        "## handler.store.ItemStore.get",
        "dynamodb",
    } <= names


def test_no_stored_data_reaches_the_traces(traced_create_and_get):
    _, documents, title = traced_create_and_get

    assert documents
    assert all(title not in json.dumps(document) for document in documents)
