"""End to end: the stage's token bucket of a method caps the sum of every key's traffic on that method."""

from __future__ import annotations

import time

import pytest

from tests.local.conftest import APP_RATE_LIMIT_OUT_OF_THE_WAY, SEED_BODY, LocalServer, dev_config, plan

STAGE_RATE = 0.5
STAGE_BURST = 6
KEY_BURST = 5


@pytest.fixture(scope="module")
def server(server_factory) -> LocalServer:
    config = dev_config(
        apiGateway={"stageName": "e2e", "throttle": {"rateLimit": STAGE_RATE, "burstLimit": STAGE_BURST}},
        plans={"small": plan(STAGE_RATE, KEY_BURST)},
        consumers={"first": {"plan": "small"}, "second": {"plan": "small"}},
        appRateLimit=APP_RATE_LIMIT_OUT_OF_THE_WAY,
    )
    return server_factory(config)


def test_a_methods_stage_bucket_caps_the_sum_of_all_keys(server):
    # GIVEN two keys whose own buckets would each admit KEY_BURST requests, both calling POST /items
    started = time.monotonic()
    answers = [
        server.request("POST", "/items", {**SEED_BODY, "id": f"{consumer}-{n}"}, server.key(consumer), "127.0.7.1")
        for n in range(KEY_BURST)
        for consumer in ("first", "second")
    ]
    seconds = time.monotonic() - started
    # WHEN both send their full burst THEN together they get what the method's stage bucket holds, not 2 x KEY_BURST
    admitted = [a.status for a in answers].count(201)
    assert {(a.status, a.message) for a in answers if a.status != 201} == {(429, "Too Many Requests")}
    assert admitted < 2 * KEY_BURST
    assert abs(admitted - (STAGE_BURST + STAGE_RATE * seconds)) <= 1, (admitted, seconds)
