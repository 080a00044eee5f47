"""Benchmark 2: warm requests, one worker (one process serving requests one after another), DynamoDB Local.

Every variant runs in its own fresh process per round, the variants taking turns in rotating order, and all of
them write the seeds' request (a new id each time) to the same DynamoDB Local.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Final

from bench.environment import (
    BenchTables,
    HandlerVariant,
    ours_environment,
    run_python,
    sample_environment,
    seed_limited_environment,
)
from bench.report import Section, Table, Target
from bench.stats import paired_ratios, percentile, summarize

__all__ = ["TARGET_SPEEDUP", "run"]

TARGET_SPEEDUP: Final = 1.3
_TIMEOUT_SECONDS: Final = 600


@dataclass(frozen=True)
class _Round:
    throughput: float
    p50: float
    p99: float
    statuses: dict[str, int]
    dynamodb_calls_per_request: float
    dynamodb_seconds_per_request: float
    dynamodb_cpu_seconds_per_request: float


def _run_child(variant: HandlerVariant, warmup: int, requests: int, workdir: Path) -> _Round:
    result_file = workdir / f"{variant.key}.json"
    command = ["-m", "bench._warm_child", variant.module, variant.function, str(warmup), str(requests)]
    run_python([*command, str(result_file)], variant.environment, f"{variant.label}: warm child", _TIMEOUT_SECONDS)
    result = json.loads(result_file.read_text())
    return _Round(
        throughput=result["throughput"],
        p50=percentile(result["latencies"], 0.5),
        p99=percentile(result["latencies"], 0.99),
        statuses=result["statuses"],
        dynamodb_calls_per_request=result["dynamodb_calls_per_request"],
        dynamodb_seconds_per_request=result["dynamodb_seconds_per_request"],
        dynamodb_cpu_seconds_per_request=result["dynamodb_cpu_seconds_per_request"],
    )


def _variants(tables: BenchTables) -> tuple[HandlerVariant, ...]:
    return (
        HandlerVariant(
            "ours",
            "tiered-api `POST /`: validation, limiter, conditional put, logs, metrics",
            "handler.app",
            "lambda_handler",
            ours_environment(tables, traced=False),
        ),
        HandlerVariant(
            "ours-traced",
            "the same as deployed, plus X-Ray subsegments",
            "handler.app",
            "lambda_handler",
            ours_environment(tables, traced=True),
        ),
        HandlerVariant(
            "seed",
            "sample + seed 003 limiter (get, put, put)",
            "bench.reference.seed_limited_sample",
            "handler",
            seed_limited_environment(tables),
        ),
        HandlerVariant(
            "sample",
            "bare sample handler (put)",
            "bench.reference.sample_handler",
            "handler",
            sample_environment(tables),
        ),
    )


def run(tables: BenchTables, rounds: int, requests: int, warmup: int = 30) -> Section:
    chosen = _variants(tables)
    results: dict[str, list[_Round]] = {v.key: [] for v in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as scratch:
        for round_number in range(rounds):
            shift = round_number % len(chosen)
            for variant in chosen[shift:] + chosen[:shift]:
                results[variant.key].append(_run_child(variant, warmup, requests, Path(scratch)))
    rows = []
    for variant in chosen:
        runs = results[variant.key]
        statuses: dict[str, int] = {}
        for one in runs:
            for status, count in one.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        rows.append(
            (
                variant.label,
                summarize([r.throughput for r in runs]).format("req/s"),
                summarize([r.p50 * 1000 for r in runs]).format("ms", 2),
                summarize([r.p99 * 1000 for r in runs]).format("ms", 2),
                f"{summarize([r.dynamodb_calls_per_request for r in runs]).median:g}",
                summarize([r.dynamodb_seconds_per_request * 1000 for r in runs]).format("ms", 2),
                summarize([(1 / r.throughput - r.dynamodb_seconds_per_request) * 1000 for r in runs]).format("ms", 2),
                ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items())),
            )
        )

    def speedup(ours: str, theirs: str) -> str:
        ratio = paired_ratios([r.throughput for r in results[ours]], [r.throughput for r in results[theirs]])
        return ratio.format_ratio()

    versus_seed = paired_ratios([r.throughput for r in results["ours"]], [r.throughput for r in results["seed"]])
    # The ratio ours would reach if everything but its DynamoDB calls cost nothing: what the calls alone allow.
    calls_only = paired_ratios(
        [1 / r.dynamodb_seconds_per_request for r in results["ours"]], [r.throughput for r in results["seed"]]
    )

    call_time, sdk_cpu = attrgetter("dynamodb_seconds_per_request"), attrgetter("dynamodb_cpu_seconds_per_request")

    def per_call(key: str, seconds: Callable[[_Round], float]) -> float:
        """Median milliseconds per DynamoDB call of ``key``'s runs."""
        return summarize([seconds(r) / r.dynamodb_calls_per_request * 1000 for r in results[key]]).median

    return Section(
        title="Warm requests, one worker",
        method=(
            f"{rounds} rounds; in each, every variant gets a fresh process that sets up logging as Lambda's Python"
            f" runtime does, imports the handler, serves {warmup} unmeasured requests, then {requests} measured ones"
            " sequentially (the seeds' `POST /` body with a new id each time, as a REST proxy event) against the same"
            " DynamoDB Local. Ours does validation, the one-round-trip limiter (conditional `UpdateItem`), a"
            " conditional `PutItem`, JSON logs and EMF metrics; the reference does seed 003's read-then-write limiter"
            " (`GetItem`, then `UpdateItem` or `PutItem`), the sample's unconditional `PutItem` and the sample's two"
            " log lines. Both limiters are set far above the load, so none rejects. The target compares that work"
            " like for like: the reference sends no traces, so ours runs with tracing off; as deployed, ours also"
            " sends X-Ray subsegments (the handler, each store call and each DynamoDB call), shown beside it. Each"
            " worker also counts and times its AWS calls (botocore's `_make_api_call`, X-Ray's patch inside it when"
            " tracing): *rest of the request* is the mean request time minus that, the handler's own work."
        ),
        tables=(
            Table(
                (
                    "variant",
                    "throughput",
                    "p50 latency",
                    "p99 latency",
                    "DynamoDB calls per request",
                    "time in them per request",
                    "rest of the request",
                    "statuses",
                ),
                tuple(rows),
            ),
            Table(
                ("throughput ratio (paired rounds)", "median (min–max)"),
                (
                    ("ours / sample + seed 003 (the target)", versus_seed.format_ratio()),
                    ("ours as deployed, with X-Ray / sample + seed 003", speedup("ours-traced", "seed")),
                    ("ours / bare sample (no target)", speedup("ours", "sample")),
                    ("ours as deployed, with X-Ray / bare sample (no target)", speedup("ours-traced", "sample")),
                    ("ours' DynamoDB calls alone / sample + seed 003 (the ceiling)", calls_only.format_ratio()),
                ),
            ),
        ),
        notes=(
            f"The ceiling: with its own work at zero, ours would run {calls_only.median:.2f}× the reference, so the"
            f" target leaves ours {1000 / (TARGET_SPEEDUP * summarize([r.throughput for r in results['seed']]).median):.2f} ms"
            f" per request, DynamoDB included. A call of ours (a conditional `UpdateItem` or `PutItem`) takes"
            f" {per_call('ours', call_time):.2f} ms, one of the reference's {per_call('seed', call_time):.2f} ms on"
            " average: its three calls are two writes like ours plus a cheap read. Of each call, the function's own"
            f" CPU (botocore building, signing, sending and parsing it) is {per_call('ours', sdk_cpu):.2f} ms in ours"
            f" and {per_call('seed', sdk_cpu):.2f} ms in the reference's; DynamoDB Local answers in the rest.",
        ),
        targets=(
            Target(
                f"throughput of ours ≥ {TARGET_SPEEDUP}× sample + seed 003's limiter",
                f"{versus_seed.median:.2f}× (paired median; {speedup('ours-traced', 'seed')} as deployed with X-Ray)",
                versus_seed.median >= TARGET_SPEEDUP,
            ),
        ),
    )
