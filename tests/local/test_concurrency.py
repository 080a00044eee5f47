"""End to end: more concurrent requests than the function's reserved concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.local.conftest import APP_RATE_LIMIT_OUT_OF_THE_WAY, SEED_BODY, Answer, LocalServer, dev_config, plan

RESERVED = 2
CONCURRENT = 8


@pytest.fixture(scope="module")
def server(server_factory) -> LocalServer:
    config = dev_config(
        apiGateway={"stageName": "e2e", "throttle": {"rateLimit": 100, "burstLimit": 200}},
        plans={"roomy": plan(100, 200)},
        consumers={"client": {"plan": "roomy"}},
        appRateLimit=APP_RATE_LIMIT_OUT_OF_THE_WAY,
    )
    config["tiered-api:lambda"]["reservedConcurrency"] = RESERVED
    return server_factory(config)


@pytest.fixture(scope="module")
def wave(server) -> dict[str, Answer]:
    """CONCURRENT creates released together at a server whose execution environments are all cold."""
    ready = threading.Barrier(CONCURRENT)

    def create(item_id: str) -> Answer:
        ready.wait()
        return server.request("POST", "/items", {**SEED_BODY, "id": item_id}, server.key("client"), "127.0.8.1")

    ids = [f"wave-{n}" for n in range(CONCURRENT)]
    with ThreadPoolExecutor(CONCURRENT) as pool:
        return dict(zip(ids, pool.map(create, ids), strict=True))


def test_every_request_gets_an_answer(wave):
    assert len(wave) == CONCURRENT
    assert {a.status for a in wave.values()} <= {201, 500}


def test_only_the_reserved_concurrency_reaches_the_function(wave):
    # Each cold start takes far longer than the others take to arrive: all but RESERVED find no environment.
    assert [a.status for a in wave.values()].count(201) == RESERVED


def test_throttled_requests_get_api_gateways_answer_to_a_lambda_throttle(wave):
    throttled = [a for a in wave.values() if a.status != 201]
    assert len(throttled) == CONCURRENT - RESERVED
    assert {(a.status, a.message) for a in throttled} == {(500, "Internal server error")}


def test_acknowledged_items_are_stored_and_throttled_ones_are_not(server, wave):
    stored = {
        item_id: server.request("GET", f"/items/{item_id}", key=server.key("client"), source_ip="127.0.8.2").status
        for item_id in wave
    }
    assert stored == {item_id: 200 if answer.status == 201 else 404 for item_id, answer in wave.items()}
