"""The app-level rate limiter: exact under concurrency in one round trip, per client, per window; and
how the function answers when it limits or when DynamoDB is unavailable."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from handler.contract import Metric
from handler.rate_limit import TTL_MARGIN_SECONDS, Degradation, RateLimiter, client_identity
from handler.store import WindowCounter
from handler.tables import RATE_LIMIT_TABLE

from .conftest import create_table, emitted_metrics, json_lines, scan_all
from .seed_rate_limiter import SEED_TABLE_DEFINITION, SeedRateLimiter

THREADS = 32
REQUESTS_PER_THREAD = 10  # 320 requests for one client
LIMIT = 50
WINDOW = 60
NOW = 1_800_000_000.0  # a window boundary: the window runs [NOW, NOW + 60)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def client(dynamodb_local):
    # One connection per thread, so the test measures DynamoDB's behaviour, not the pool's queue.
    return boto3.client("dynamodb", config=Config(max_pool_connections=THREADS))


@pytest.fixture(scope="module")
def limiter_table(client) -> str:
    return create_table(client, RATE_LIMIT_TABLE, "rate-limit")


def _limiter(client, table, clock, limit=LIMIT, fail_open=False) -> RateLimiter:
    return RateLimiter(
        WindowCounter(client, table), limit=limit, window_seconds=WINDOW, fail_open=fail_open, clock=clock
    )


def _hammer(request: Callable[[], bool]) -> int:
    """Send THREADS x REQUESTS_PER_THREAD requests at once; return how many were admitted."""
    start = threading.Barrier(THREADS)

    def worker() -> int:
        start.wait(timeout=30)
        return sum(request() for _ in range(REQUESTS_PER_THREAD))

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(worker) for _ in range(THREADS)]
        return sum(future.result(timeout=120) for future in futures)


def _stored_count(client, table, identity: str, now: float = NOW) -> int:
    window_start = int(now // WINDOW) * WINDOW
    item = client.get_item(TableName=table, Key={"pk": {"S": f"{identity}#{window_start}"}}, ConsistentRead=True)
    return int(item["Item"]["count"]["N"])


def test_concurrent_requests_admit_exactly_the_limit_where_the_seed_over_admits(client, limiter_table, capsys):
    # GIVEN our limiter and seed 003's, both with a limit of 50 per window
    ours = _limiter(client, limiter_table, Clock())
    ours_client = client_identity("key-" + uuid.uuid4().hex, None)
    seed_table = create_table(client, SEED_TABLE_DEFINITION, "seed-rate-limit")
    # Every seed request reads, then waits until all 32 threads have read, then writes: the interleaving
    # that concurrency produces some of the time, produced every time.
    reads_done = threading.Barrier(THREADS)
    seed = SeedRateLimiter(client, seed_table, LIMIT, WINDOW, Clock(), after_read=lambda: reads_done.wait(30))

    # WHEN 32 threads send 320 requests for one client to each
    ours_admitted = _hammer(lambda: ours.check(ours_client).allowed)
    seed_admitted = _hammer(lambda: seed.allow("203.0.113.7"))

    ours_stored = _stored_count(client, limiter_table, ours_client)
    seed_stored = seed.stored_count("203.0.113.7")
    with capsys.disabled():
        print(
            f"\n  {THREADS} threads, {THREADS * REQUESTS_PER_THREAD} requests, limit {LIMIT}:"
            f" ours admitted {ours_admitted} (stored count {ours_stored}),"
            f" seed 003 admitted {seed_admitted} (stored count {seed_stored})"
        )
    # THEN ours admits exactly the limit and its count says so; the seed's admits more than the limit
    assert (ours_admitted, ours_stored) == (LIMIT, LIMIT)
    assert seed_admitted > LIMIT


def test_one_client_at_its_limit_does_not_limit_another(client, limiter_table):
    limiter = _limiter(client, limiter_table, Clock(), limit=3)
    busy, other = (
        client_identity("busy-" + uuid.uuid4().hex, None),
        client_identity("other-" + uuid.uuid4().hex, None),
    )
    for _ in range(4):
        limiter.check(busy)

    decision = limiter.check(other)

    assert decision.allowed
    assert decision.remaining == 2


def test_a_new_window_admits_again(client, limiter_table):
    clock = Clock()
    limiter = _limiter(client, limiter_table, clock, limit=2)
    caller = client_identity("key-" + uuid.uuid4().hex, None)
    assert [limiter.check(caller).allowed for _ in range(3)] == [True, True, False]

    clock.now = NOW + WINDOW

    assert limiter.check(caller).allowed


def test_decision_reports_remaining_and_seconds_to_the_window_end(client, limiter_table):
    limiter = _limiter(client, limiter_table, Clock(NOW + 45.5), limit=5)

    decision = limiter.check(client_identity("key-" + uuid.uuid4().hex, None))

    assert (decision.allowed, decision.limit, decision.remaining, decision.reset_seconds) == (True, 5, 4, 15)


def test_counters_carry_a_ttl_after_the_window_end(client, limiter_table):
    caller = client_identity("key-" + uuid.uuid4().hex, None)
    _limiter(client, limiter_table, Clock()).check(caller)

    item = client.get_item(TableName=limiter_table, Key={"pk": {"S": f"{caller}#{int(NOW)}"}})["Item"]

    assert int(item["expires_at"]["N"]) == int(NOW) + WINDOW + TTL_MARGIN_SECONDS


def test_identity_is_a_digest_of_the_key_id_else_the_source_ip():
    assert client_identity("k1", "198.51.100.1") == hashlib.sha256(b"key:k1").hexdigest()
    assert client_identity(None, "198.51.100.1") == hashlib.sha256(b"ip:198.51.100.1").hexdigest()
    assert client_identity("k1", "198.51.100.1") != client_identity(None, "198.51.100.1")


def test_an_empty_key_id_is_no_key_the_source_ip_identifies_the_client():
    # Otherwise every caller sent with an empty key id would share one counter.
    assert client_identity("", "198.51.100.1") == client_identity(None, "198.51.100.1")
    assert client_identity("", "198.51.100.1") != client_identity("", "198.51.100.2")


def test_a_limit_of_one_request_per_window_admits_exactly_one(client, limiter_table):
    limiter = _limiter(client, limiter_table, Clock(), limit=1)
    caller = client_identity("key-" + uuid.uuid4().hex, None)

    assert [limiter.check(caller).allowed for _ in range(2)] == [True, False]


@pytest.mark.parametrize(("limit", "window_seconds"), [(0, WINDOW), (LIMIT, 0)], ids=["no-requests", "no-window"])
def test_limiter_refuses_a_limit_or_window_below_one(client, limiter_table, limit, window_seconds):
    with pytest.raises(ValueError, match="must be >= 1"):
        RateLimiter(WindowCounter(client, limiter_table), limit=limit, window_seconds=window_seconds, fail_open=False)


def _unavailable_limiter(fail_open: bool, code: str, http_status: int) -> tuple[RateLimiter, Stubber]:
    stubbed = boto3.client("dynamodb")
    stubber = Stubber(stubbed)
    stubber.add_client_error("update_item", service_error_code=code, http_status_code=http_status)
    stubber.activate()
    return _limiter(stubbed, "unused", Clock(), fail_open=fail_open), stubber


@pytest.mark.parametrize(
    ("code", "http_status"),
    [("ThrottlingException", 400), ("503", 503)],
    ids=["throttled", "503-without-error-type"],
)
@pytest.mark.parametrize(
    ("fail_open", "allowed", "degradation"),
    [(True, True, Degradation.FAILED_OPEN), (False, False, Degradation.FAILED_CLOSED)],
)
def test_unavailable_dynamodb_fails_open_or_closed_as_configured(
    dynamodb_local, fail_open, allowed, degradation, code, http_status
):
    limiter, stubber = _unavailable_limiter(fail_open, code, http_status)

    decision = limiter.check(client_identity("k", None))

    assert (decision.allowed, decision.degraded) == (allowed, degradation)
    stubber.assert_no_pending_responses()


# Through the function ----------------------------------------------------------------------------------


@pytest.fixture
def strict_limiter(app_module, monkeypatch):
    """The app's limiter replaced by one allowing 2 requests per window, on the app's own table."""
    limiter = _limiter(app_module._dynamodb, app_module.SETTINGS.rate_limit_table_name, Clock(NOW + 20), limit=2)
    monkeypatch.setattr(app_module, "_limiter", limiter)
    return limiter


def test_over_limit_request_is_429_with_retry_after_and_ratelimit_headers(
    invoke, build_event, items_table, strict_limiter, dynamodb_client
):
    key_id = "key-" + uuid.uuid4().hex
    admitted = [invoke(build_event("GET", "/items/x", api_key_id=key_id)) for _ in range(2)]

    limited = invoke(build_event("POST", "/items", body={"id": "n", "year": 2000, "title": "t"}, api_key_id=key_id))

    assert [r.headers["ratelimit-remaining"] for r in admitted] == ["1", "0"]
    assert limited.status == 429
    assert limited.body == {"message": "Too Many Requests", "request_id": limited.request_id}
    assert limited.headers["retry-after"] == limited.headers["ratelimit-reset"] == "40"
    assert (limited.headers["ratelimit-limit"], limited.headers["ratelimit-remaining"]) == ("2", "0")
    assert scan_all(dynamodb_client, items_table) == []


def test_rate_limited_request_counts_a_metric(invoke, build_event, strict_limiter, output):
    key_id = "key-" + uuid.uuid4().hex
    for _ in range(3):
        invoke(build_event("GET", "/items/x", api_key_id=key_id))

    assert emitted_metrics(output()).count(Metric.RATE_LIMITED) == 1


def test_clients_without_key_are_limited_per_source_ip(invoke, build_event, strict_limiter):
    for _ in range(2):
        invoke(build_event("GET", "/items/x", api_key_id=None, source_ip="192.0.2.10"))

    limited = invoke(build_event("GET", "/items/x", api_key_id=None, source_ip="192.0.2.10"))
    other = invoke(build_event("GET", "/items/x", api_key_id=None, source_ip="192.0.2.11"))

    assert (limited.status, other.status) == (429, 404)


def test_limiter_table_never_holds_key_ids_or_ip_addresses(
    invoke, build_event, strict_limiter, app_module, dynamodb_client
):
    key_id, ip = "key-" + uuid.uuid4().hex, "192.0.2.99"
    invoke(build_event("GET", "/items/x", api_key_id=key_id))
    invoke(build_event("GET", "/items/x", api_key_id=None, source_ip=ip))

    stored = str(scan_all(dynamodb_client, app_module.SETTINGS.rate_limit_table_name))

    assert key_id not in stored
    assert ip not in stored


@pytest.mark.parametrize(
    ("fail_open", "status", "metric"),
    [(True, 404, Metric.RATE_LIMITER_FAILED_OPEN), (False, 503, Metric.RATE_LIMITER_FAILED_CLOSED)],
)
def test_limiter_outage_is_logged_counted_and_answered_as_configured(
    invoke, build_event, app_module, monkeypatch, on_dynamodb_call, output, fail_open, status, metric
):
    # GIVEN the limiter's UpdateItem is throttled beyond the client's retries
    limiter = _limiter(app_module._dynamodb, app_module.SETTINGS.rate_limit_table_name, Clock(), fail_open=fail_open)
    monkeypatch.setattr(app_module, "_limiter", limiter)
    error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}

    def throttle(params, **_):
        if params["TableName"] == app_module.SETTINGS.rate_limit_table_name:
            raise ClientError(error, "UpdateItem")

    on_dynamodb_call("UpdateItem", throttle)

    # WHEN a request comes in
    result = invoke(build_event("GET", "/items/absent"))

    # THEN it is let through (open) or refused as unavailable (closed), with a warning and a metric
    text = output()
    assert result.status == status
    assert emitted_metrics(text).count(metric) == 1
    assert any(
        line.get("message") == "rate limiter unavailable" and line["level"] == "WARNING" for line in json_lines(text)
    )
    if status == 503:
        assert result.headers["retry-after"] == "1"
