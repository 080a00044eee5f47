"""Token bucket, quota and WAF counters against an injected clock: API Gateway's and WAF's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from components.settings import QuotaPeriod
from local.limits import QuotaCounter, TokenBucket, WafRateRule, quota_period_start


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def takes(bucket: TokenBucket, attempts: int) -> int:
    return sum(bucket.take() for _ in range(attempts))


def test_a_new_bucket_admits_its_burst_at_once_then_throttles():
    # GIVEN a bucket of rate 5/s and burst 10, and no time passing
    bucket = TokenBucket(rate=5, burst=10, clock=FakeClock())
    # WHEN 15 requests arrive at the same instant
    admitted = takes(bucket, 15)
    # THEN exactly the burst is admitted
    assert admitted == 10


def test_an_empty_bucket_refills_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=5, burst=10, clock=clock)
    takes(bucket, 10)
    clock.advance(0.7)
    # 0.7 s x 5/s = 3.5 tokens: 3 whole ones
    assert takes(bucket, 10) == 3


def test_a_fraction_of_a_token_admits_nothing_until_it_is_whole():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    assert bucket.take()
    clock.advance(0.4)
    assert not bucket.take()
    clock.advance(0.1)
    assert bucket.take()


def test_a_bucket_never_holds_more_than_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=3, clock=clock)
    clock.advance(3600)
    assert takes(bucket, 10) == 3


def test_a_clock_stepping_back_does_not_drain_the_bucket():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=4, clock=clock)
    takes(bucket, 2)
    clock.advance(-30)
    assert bucket.tokens == 2


def test_steady_traffic_at_the_rate_is_never_throttled():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=10, clock=clock)
    results = []
    for _ in range(100):
        clock.advance(0.1)
        results.append(bucket.take())
    assert all(results)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0)])
def test_a_bucket_without_rate_or_size_is_refused(rate: float, burst: int):
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=rate, burst=burst)


def test_a_quota_admits_its_limit_then_refuses_for_the_rest_of_the_period():
    clock = FakeClock(epoch(2026, 11, 22, 10))
    quota = QuotaCounter(limit=3, period=QuotaPeriod.DAY, clock=clock)
    assert [quota.consume() for _ in range(5)] == [True, True, True, False, False]
    clock.advance(13 * 3600 - 1)  # 23:59:59 the same day
    assert not quota.consume()


def test_a_daily_quota_starts_again_at_midnight_utc():
    clock = FakeClock(epoch(2026, 11, 22, 23, 59, 59))
    quota = QuotaCounter(limit=1, period=QuotaPeriod.DAY, clock=clock)
    assert quota.consume()
    clock.advance(1)
    assert quota.remaining == 1
    assert quota.consume()


@pytest.mark.parametrize(
    ("period", "moment", "start"),
    [
        (QuotaPeriod.DAY, (2026, 11, 22, 18, 30), (2026, 11, 22)),
        (QuotaPeriod.WEEK, (2026, 11, 22, 18, 30), (2026, 11, 16)),  # a Sunday: the week began on Monday
        (QuotaPeriod.WEEK, (2026, 11, 16, 0, 0), (2026, 11, 16)),
        (QuotaPeriod.MONTH, (2026, 11, 22, 18, 30), (2026, 11, 1)),
    ],
)
def test_quota_periods_start_at_utc_boundaries(period, moment, start):
    year, month, day = start
    assert quota_period_start(period, epoch(*moment)) == datetime(year, month, day, tzinfo=UTC)


def test_waf_blocks_an_ip_past_its_limit_within_the_window():
    clock = FakeClock()
    rule = WafRateRule(limit=10, window_seconds=300, clock=clock)
    decisions = []
    for _ in range(12):
        decisions.append(rule.allow("198.51.100.7"))
        clock.advance(1)
    assert decisions == [True] * 10 + [False] * 2


def test_waf_counts_each_ip_on_its_own():
    rule = WafRateRule(limit=10, window_seconds=60, clock=FakeClock())
    for _ in range(11):
        rule.allow("198.51.100.7")
    assert rule.allow("198.51.100.8")
    assert not rule.allow("198.51.100.7")


def test_waf_lets_an_ip_back_in_once_its_requests_leave_the_window():
    clock = FakeClock()
    rule = WafRateRule(limit=10, window_seconds=60, clock=clock)
    for _ in range(15):
        rule.allow("198.51.100.7")
    clock.advance(59)
    assert not rule.allow("198.51.100.7")
    clock.advance(1.5)  # the first 15 are now older than the window; the one at 59 s still counts
    assert rule.allow("198.51.100.7")


def test_a_request_leaves_the_waf_window_exactly_window_seconds_later():
    clock = FakeClock()
    rule = WafRateRule(limit=1, window_seconds=60, clock=clock)
    assert rule.allow("198.51.100.7")
    clock.advance(60)
    assert rule.allow("198.51.100.7")
