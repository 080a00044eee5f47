"""The counters API Gateway and WAF keep in front of the function, as plain objects with an injected clock.

Not thread-safe on their own: ``local.gateway.Gateway`` owns them and serialises every decision.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from components.settings import QuotaPeriod

__all__ = ["Clock", "QuotaCounter", "TokenBucket", "WafRateRule", "quota_period_start"]

Clock = Callable[[], float]


class TokenBucket:
    """API Gateway's throttle: ``burst`` tokens at most, ``rate`` tokens added per second, one per request.

    The bucket starts full, so a fresh key may send ``burst`` requests at once.
    """

    def __init__(self, rate: float, burst: int, clock: Clock = time.time) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps back (NTP) must not drain the bucket.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def take(self) -> bool:
        """Spend one token if there is a whole one; ``False`` means throttled (429)."""
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def quota_period_start(period: QuotaPeriod, now: float) -> datetime:
    """Start (UTC) of the quota period holding ``now``: the day, the ISO week (Monday) or the month."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is QuotaPeriod.DAY:
        return day
    if period is QuotaPeriod.WEEK:
        return datetime.fromordinal(day.toordinal() - day.weekday()).replace(tzinfo=UTC)
    return day.replace(day=1)


class QuotaCounter:
    """A usage plan's quota for one key: ``limit`` requests per period, counted from the period's start (UTC)."""

    def __init__(self, limit: int, period: QuotaPeriod, clock: Clock = time.time) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._period_start: datetime | None = None
        self._used = 0

    @property
    def remaining(self) -> int:
        self._roll_over()
        return self.limit - self._used

    def _roll_over(self) -> None:
        start = quota_period_start(self.period, self._clock())
        if start != self._period_start:
            self._period_start = start
            self._used = 0

    def consume(self) -> bool:
        """Count one request; ``False`` once the period's quota is spent ("Limit Exceeded")."""
        self._roll_over()
        if self._used >= self.limit:
            return False
        self._used += 1
        return True


class WafRateRule:
    """A WAF rate-based rule aggregated by source IP: more than ``limit`` requests in the trailing
    ``window_seconds`` and the IP is blocked until its rate falls back under the limit.

    Every request counts, blocked ones too, as WAF counts what it inspects. WAF itself counts
    approximately and acts within seconds; this is the exact version of the same rule.
    """

    def __init__(self, limit: int, window_seconds: int, clock: Clock = time.time) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be >= 1")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, source_ip: str) -> bool:
        now = self._clock()
        seen = self._seen.setdefault(source_ip, deque())
        horizon = now - self.window_seconds
        while seen and seen[0] <= horizon:
            seen.popleft()
        seen.append(now)
        return len(seen) <= self.limit
