"""Benchmark 3: the rate limiter's accuracy under concurrency, ours vs seed 003's read-then-write algorithm.

Both limiters run in this process against the same DynamoDB Local, driven by the same thread pool: one client
sends ``requests`` requests from ``threads`` threads at once with a limit of ``limit``, a new client each round.
Threads are fine here (the limiters are plain functions over a thread-safe boto3 client); the full handler is
never driven from threads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Final

from bench.report import Section, Table, Target
from bench.stats import summarize

__all__ = ["CheckFactory", "admitted", "run"]

# Builds, for one round, a callable that sends one request of a fresh client and says whether it was admitted.
CheckFactory = Callable[[str, int], Callable[[], bool]]
_FIXED_NOW: Final = 1_800_000_000.0


def admitted(check: Callable[[], bool], threads: int, requests: int) -> int:
    """How many of ``requests`` calls of ``check``, made from ``threads`` threads started together, said yes."""
    start = Barrier(threads)
    per_thread = [requests // threads + (1 if i < requests % threads else 0) for i in range(threads)]

    def worker(count: int) -> int:
        start.wait()
        return sum(1 for _ in range(count) if check())

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(worker, per_thread))


def ours_factory(client: object, table_name: str) -> CheckFactory:
    from handler.rate_limit import RateLimiter
    from handler.store import WindowCounter

    def build(client_id: str, limit: int) -> Callable[[], bool]:
        # A fixed clock keeps the whole round inside one window, whatever the wall clock does meanwhile.
        limiter = RateLimiter(
            WindowCounter(client, table_name), limit=limit, window_seconds=60, fail_open=False, clock=lambda: _FIXED_NOW
        )
        return lambda: limiter.check(client_id).allowed

    return build


def seed_factory(client: object, table_name: str) -> CheckFactory:
    from tests.handler.seed_rate_limiter import SeedRateLimiter

    def build(client_id: str, limit: int) -> Callable[[], bool]:
        limiter = SeedRateLimiter(client, table_name, limit=limit, window_seconds=60, clock=lambda: _FIXED_NOW)
        return lambda: limiter.allow(client_id)

    return build


def run(
    ours: CheckFactory, seed: CheckFactory, rounds: int, threads: int = 32, requests: int = 300, limit: int = 50
) -> Section:
    counts: dict[str, list[int]] = {"ours": [], "seed": []}
    for _ in range(rounds):
        for name, factory in (("ours", ours), ("seed", seed)):
            counts[name].append(admitted(factory(f"bench-{name}-{uuid.uuid4().hex}", limit), threads, requests))
    rows = tuple(
        (label, " ".join(str(c) for c in counts[key]), summarize(counts[key]).format("", 0))
        for key, label in (
            ("ours", "tiered-api (conditional ADD, one round trip)"),
            ("seed", "seed 003 (GetItem, then unconditional PutItem)"),
        )
    )
    exact = all(count == limit for count in counts["ours"])
    return Section(
        title="Rate-limiter accuracy under concurrency",
        method=(
            f"{rounds} rounds; in each, one new client sends {requests} requests from {threads} threads released"
            f" together, limit {limit} per window, against DynamoDB Local. The count is of requests the limiter"
            " admitted."
        ),
        tables=(Table(("limiter", "admitted per round", "median (min–max)"), rows),),
        targets=(
            Target(
                f"ours admits exactly {limit} every round",
                ", ".join(str(c) for c in counts["ours"]),
                exact,
            ),
        ),
    )
