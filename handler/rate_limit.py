"""App-level rate limiter (replacing seed 003's): N requests per client per fixed window, exact under
concurrency, one DynamoDB round trip per request.

Why a fixed window rather than GCRA or a sliding log: the only way to be exact in ONE round trip is to
let DynamoDB decide atomically, and a conditional ``ADD`` on a counter is exactly that (see
``WindowCounter.increment_below``). GCRA needs the previous state to compute the next one, so it is a
read plus a conditional write that must be retried when another request won the race: two or more round
trips, and more under exactly the contention a limiter exists for. The price of a fixed window is that a
client can spend a full window's allowance at the end of one window and again at the start of the next
(up to 2x over a short span); API Gateway's token buckets in front of the function already bound such
bursts, and this limiter's job is the per-client allowance over the window.

Clients are identified by API Gateway's API key id, else by source IP, and only a SHA-256 digest of that
identity is stored, never a key value or a raw address. The window start is part of the DynamoDB key,
so a new window is a new item: nothing has to be reset, and TTL (window end plus a margin) only cleans up.
Whether an unreachable DynamoDB lets requests through is the deployer's choice (``fail_open``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from handler.errors import ServiceUnavailableError
from handler.store import WindowCounter

__all__ = ["Decision", "Degradation", "RateLimiter", "client_identity"]

# Counters outlive their window by this much before TTL may delete them; correctness never depends on it.
TTL_MARGIN_SECONDS: Final = 3600


class Degradation(Enum):
    FAILED_OPEN = "open"
    FAILED_CLOSED = "closed"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    degraded: Degradation | None = None


def client_identity(api_key_id: str | None, source_ip: str | None) -> str:
    """The limiter's key for a caller: a digest, so the table holds no key ids or IP addresses."""
    identity = f"key:{api_key_id}" if api_key_id else f"ip:{source_ip or 'unknown'}"
    return hashlib.sha256(identity.encode()).hexdigest()


class RateLimiter:
    def __init__(
        self,
        counter: WindowCounter,
        limit: int,
        window_seconds: int,
        fail_open: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be >= 1")
        self._counter = counter
        self._limit = limit
        self._window = window_seconds
        self._fail_open = fail_open
        self._clock = clock

    def check(self, client: str) -> Decision:
        """Count one request of ``client`` (a ``client_identity``) and say whether it may proceed."""
        now = self._clock()
        window_start = int(now // self._window) * self._window
        window_end = window_start + self._window
        reset_seconds = max(1, math.ceil(window_end - now))
        try:
            count = self._counter.increment_below(
                key=f"{client}#{window_start}",
                limit=self._limit,
                expires_at=window_end + TTL_MARGIN_SECONDS,
            )
        except ServiceUnavailableError:
            if self._fail_open:
                return Decision(True, self._limit, self._limit, reset_seconds, Degradation.FAILED_OPEN)
            return Decision(False, self._limit, 0, reset_seconds, Degradation.FAILED_CLOSED)
        if count is None:
            return Decision(False, self._limit, 0, reset_seconds)
        return Decision(True, self._limit, self._limit - count, reset_seconds)
