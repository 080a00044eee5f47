"""Benchmark 4: the local stack (``python -m local``) under the seeds' Artillery profile.

The stack runs from a bench stack file: the dev stack with every limit raised far above the load, so the run
measures capacity (gateway emulation, Lambda workers, DynamoDB Local) rather than the throttles. Each of the
profile's phases runs as its own Artillery run so each gets its own latency percentiles.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from bench.environment import ROOT, free_port
from bench.report import Section, Table, Target

__all__ = ["PHASES", "LoadResult", "Phase", "bench_stack_config", "parse_artillery_report", "run"]

PROJECT: Final = "tiered-api"
BENCH_STACK: Final = "bench"
# Far above the load: the bench measures capacity, never a throttle. The rate is API Gateway's account default
# (the most StackSettings allows), WAF's limit AWS's own maximum.
_UNTHROTTLED_RATE: Final = 10_000
_UNTHROTTLED_QUOTA: Final = 1_000_000_000
_WAF_MAXIMUM: Final = 2_000_000_000
# Workers the local stack may start: Little's law at the spike (150 rps x ~20 ms) needs ~3; the rest is headroom.
BENCH_CONCURRENCY: Final = 12
TARGET_RATE: Final = 150
TARGET_P99_MS: Final = 100
_READY_TIMEOUT_SECONDS: Final = 120


@dataclass(frozen=True)
class Phase:
    name: str
    rate: int
    seconds: int


# The seeds' profile (warm-up 50, sustained 100, spike 150 rps for 60, 120 and 60 s), shortened to keep
# `make bench` within minutes; --load-scale stretches it back.
PHASES: Final = (Phase("warm-up", 50, 20), Phase("sustained", 100, 60), Phase("spike", 150, 30))


@dataclass(frozen=True)
class LoadResult:
    phase: Phase
    requests: int
    achieved_rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))


def bench_stack_config(config: Mapping[str, Any], concurrency: int = BENCH_CONCURRENCY) -> dict[str, Any]:
    """A stack file's ``config`` map with every limit lifted above any benchmark load (the input is not changed)."""
    lifted = json.loads(json.dumps(dict(config)))

    def key(name: str) -> str:
        return f"{PROJECT}:{name}"

    unthrottled = {"rateLimit": _UNTHROTTLED_RATE, "burstLimit": 2 * _UNTHROTTLED_RATE}
    lifted[key("apiGateway")]["throttle"] = dict(unthrottled)
    for plan in lifted[key("plans")].values():
        plan["throttle"] = dict(unthrottled)
        if "quota" in plan:
            plan["quota"]["limit"] = _UNTHROTTLED_QUOTA
    lifted[key("waf")]["rateLimit"] = _WAF_MAXIMUM
    lifted[key("appRateLimit")]["requests"] = _UNTHROTTLED_QUOTA
    lifted[key("lambda")]["reservedConcurrency"] = concurrency
    return lifted


def parse_artillery_report(report: Mapping[str, Any], phase: Phase) -> LoadResult:
    """The numbers that matter from an Artillery 2 JSON report (``artillery run --output``)."""
    aggregate = report["aggregate"]
    counters: Mapping[str, int] = aggregate.get("counters", {})
    response_time = aggregate.get("summaries", {}).get("http.response_time", {})
    statuses = {k.removeprefix("http.codes."): v for k, v in counters.items() if k.startswith("http.codes.")}
    errors = {k.removeprefix("errors."): v for k, v in counters.items() if k.startswith("errors.")}
    responses = counters.get("http.responses", sum(statuses.values()))
    first, last = aggregate.get("firstMetricAt"), aggregate.get("lastMetricAt")
    elapsed = (last - first) / 1000 if first and last and last > first else phase.seconds
    return LoadResult(
        phase=phase,
        requests=counters.get("http.requests", 0),
        achieved_rate=responses / max(elapsed, phase.seconds),
        p50_ms=float(response_time.get("median", response_time.get("p50", 0.0))),
        p99_ms=float(response_time.get("p99", 0.0)),
        statuses=statuses,
        errors=errors,
    )


def _artillery() -> Path:
    binary = ROOT / "loadtest" / "node_modules" / ".bin" / "artillery"
    if not binary.exists():
        raise RuntimeError(f"{binary} not found: `make bench` installs it (loadtest/package.json)")
    return binary


@contextmanager
def _local_stack(config_file: Path, workdir: Path) -> Iterator[tuple[str, str]]:
    """Run ``python -m local`` for the bench stack on a free port; yield its URL and one API key value."""
    ready_file = ROOT / ".local" / f"{BENCH_STACK}.json"
    ready_file.unlink(missing_ok=True)
    log = (workdir / "local-stack.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable,
            "-m",
            "local",
            "--stack",
            BENCH_STACK,
            "--port",
            str(free_port()),
            "--config",
            str(config_file),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while not ready_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"local stack did not start: {(workdir / 'local-stack.log').read_text()[-2000:]}")
            time.sleep(0.2)  # polling a file another process writes; nothing to wait on instead
        ready = json.loads(ready_file.read_text())
        key = next(iter(ready["api_keys"].values()))["value"]
        yield ready["url"], key
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl-C does: the stack stops everything it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _run_phase(url: str, key: str, phase: Phase, workdir: Path) -> LoadResult:
    output = workdir / f"{phase.name}.json"
    overrides = {"config": {"phases": [{"duration": phase.seconds, "arrivalRate": phase.rate, "name": phase.name}]}}
    scenario = ROOT / "loadtest" / "seeds-profile.yml"
    finished = subprocess.run(  # noqa: S603 (the project's own pinned Artillery)
        [
            str(_artillery()),
            "run",
            "--target",
            url,
            "--overrides",
            json.dumps(overrides),
            "--output",
            str(output),
            str(scenario),
        ],
        env={**os.environ, "ARTILLERY_DISABLE_TELEMETRY": "true", "API_KEY": key},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=phase.seconds + 300,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"artillery failed in phase {phase.name}: {finished.stderr[-2000:]}")
    return parse_artillery_report(json.loads(output.read_text()), phase)


def run(scale: float = 1.0) -> Section:
    phases = tuple(Phase(p.name, p.rate, max(5, round(p.seconds * scale))) for p in PHASES)
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        workdir = Path(scratch)
        config_file = workdir / f"Pulumi.{BENCH_STACK}.yaml"
        config_file.write_text(yaml.safe_dump({"config": bench_stack_config(dev["config"])}, sort_keys=False))
        if shutil.which("java") is None:
            raise RuntimeError("java not found: the local stack needs a JRE")
        with _local_stack(config_file, workdir) as (url, key):
            results = [_run_phase(url, key, phase, workdir) for phase in phases]
    rows = tuple(
        (
            f"{r.phase.name}: {r.phase.rate} rps × {r.phase.seconds} s",
            str(r.requests),
            f"{r.achieved_rate:.1f} rps",
            f"{r.p50_ms:.1f} ms",
            f"{r.p99_ms:.1f} ms",
            ", ".join(f"{s}×{n}" for s, n in sorted(r.statuses.items())) or "none",
            ", ".join(f"{e}×{n}" for e, n in sorted(r.errors.items())) or "none",
        )
        for r in results
    )
    spike = results[-1]
    sustained = (
        spike.achieved_rate >= TARGET_RATE * 0.97
        and spike.p99_ms < TARGET_P99_MS
        and all(r.server_errors == 0 and not r.errors for r in results)
    )
    return Section(
        title="Local stack under the seeds' Artillery profile",
        method=(
            "`python -m local` (the stack `make dev` runs: WAF and API Gateway emulation, Lambda worker processes,"
            " DynamoDB Local) from a bench stack file: `Pulumi.dev.yaml` with every throttle, quota and limiter"
            f" lifted far above the load and {BENCH_CONCURRENCY} workers, so this measures capacity, not the"
            " limits. Artillery (from `loadtest/package.json`) sends the seeds' `POST /` with random ids on"
            " 127.0.0.1, one run per phase of the seeds' profile (warm-up 50, sustained 100, spike 150 rps;"
            " the seeds run them 60, 120 and 60 s, shortened here as stated). *Achieved* is responses per second"
            " over the phase."
        ),
        tables=(Table(("phase", "requests", "achieved", "p50", "p99", "statuses", "client errors"), rows),),
        targets=(
            Target(
                f"sustains {TARGET_RATE} rps with p99 < {TARGET_P99_MS} ms and no 5xx",
                f"spike: {spike.achieved_rate:.1f} rps, p99 {spike.p99_ms:.1f} ms,"
                f" 5xx {sum(r.server_errors for r in results)}, errors {sum(sum(r.errors.values()) for r in results)}",
                sustained,
            ),
        ),
    )
