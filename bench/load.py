"""Benchmark 4: the local stack (``python -m local``) under the seeds' Artillery profile.

The stack runs from a bench stack file: the dev stack with every limit raised far above the load, so the run
measures capacity (gateway emulation, Lambda workers, DynamoDB Local) rather than the throttles. Each of the
profile's phases runs as its own Artillery run so each gets its own latency percentiles.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import yaml

from bench.environment import ROOT
from bench.report import Section, Table, Target
from components.settings import NAMESPACE, stack_file_name
from loadtest.run import ARTILLERY, Summary, resolve_target, start_artillery, summarise
from local.dynamodb_local import free_port
from tools.mocks import load_stack_file

__all__ = [
    "PHASES",
    "LoadResult",
    "Phase",
    "bench_stack_config",
    "filesystem_of",
    "memory_backed_directory",
    "parse_artillery_report",
    "run",
]

BENCH_STACK: Final = "bench"
# Far above the load: the bench measures capacity, never a throttle. The rate is API Gateway's account default
# (the most StackSettings allows), WAF's limit AWS's own maximum.
_UNTHROTTLED_RATE: Final = 10_000
_UNTHROTTLED_QUOTA: Final = 1_000_000_000
_WAF_MAXIMUM: Final = 2_000_000_000
# Workers the local stack may start (all started before measuring): Little's law at the spike (150 rps x ~20 ms)
# needs ~3. The rest is headroom for a stall of the shared machine: requests pile up at 150 per second, and with 12
# a stall of 80 ms once in a 3-minute run exhausted them (one Lambda throttle, a 5xx); 24 takes one twice as long.
BENCH_CONCURRENCY: Final = 24
# Seed 001's profile, the one `make loadtest` runs by default; its phases are replaced by PHASES below.
SCENARIO: Final = "seed-001"
TARGET_RATE: Final = 150
TARGET_P99_MS: Final = 100
_READY_TIMEOUT_SECONDS: Final = 120
_PRIMING_SUCCESSES: Final = 5
_COMPONENTS: Final = ("gateway", "function workers", "DynamoDB Local")
# "Sustains" a rate: answers keep up with arrivals (Artillery's open model sends on schedule, whatever happens).
ACHIEVED_SHARE: Final = 0.97
# Where the bench stack's data goes when the machine has memory-backed storage (Linux's /dev/shm, a tmpfs).
MEMORY_BACKED_DIRECTORY: Final = Path("/dev/shm")  # noqa: S108 (a private temporary directory is made inside)
_MEMORY_FILESYSTEMS: Final = frozenset({"tmpfs", "ramfs"})


@dataclass(frozen=True)
class Phase:
    name: str
    rate: int
    seconds: int


# Seed 001's profile as the seed runs it: warm-up 50, sustained 100 and spike 150 rps for 60, 120 and 60 s. It fits
# in `make bench`'s ten minutes; --load-scale shortens (or stretches) every phase alike.
PHASES: Final = (Phase("warm-up", 50, 60), Phase("sustained", 100, 120), Phase("spike", 150, 60))


@dataclass(frozen=True)
class LoadResult:
    phase: Phase
    summary: Summary
    achieved_rate: float
    # CPU seconds spent during the phase, by component (Artillery included).
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def cpu_ms_per_request(self, component: str) -> float:
        return 1000 * self.cpu_seconds.get(component, 0.0) / max(1, self.summary.requests)


def bench_stack_config(config: Mapping[str, Any], concurrency: int = BENCH_CONCURRENCY) -> dict[str, Any]:
    """A stack file's ``config`` map with every limit lifted above any benchmark load (the input is not changed)."""
    lifted = json.loads(json.dumps(dict(config)))

    def key(name: str) -> str:
        return f"{NAMESPACE}{name}"

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
    """``make loadtest``'s summary of an Artillery 2 JSON report, plus the rate actually answered."""
    aggregate = report.get("aggregate", {})
    counters: Mapping[str, int] = aggregate.get("counters", {})
    summary = summarise(report)
    answered = sum(count for name, count in counters.items() if name.startswith("http.codes."))
    first, last = aggregate.get("firstMetricAt"), aggregate.get("lastMetricAt")
    # Answers per second of the phase, or of the span they actually took if the server fell behind.
    elapsed = max(phase.seconds, (last - first) / 1000 if first and last else 0)
    return LoadResult(phase=phase, summary=summary, achieved_rate=answered / elapsed)


@dataclass(frozen=True)
class ProcessTimes:
    pid: int
    parent: int
    cpu_seconds: float
    command: str


def parse_proc_stat(stat: str, clock_ticks: int) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) from the text of ``/proc/<pid>/stat``."""
    # The command name (field 2) may hold spaces and parentheses: fields are counted after its closing one.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / clock_ticks


def _processes() -> list[ProcessTimes]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent, seconds = parse_proc_stat((entry / "stat").read_text(), ticks)
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        found.append(ProcessTimes(int(entry.name), parent, seconds, command))
    return found


def component_cpu(processes: list[ProcessTimes], root: int) -> dict[str, float]:
    """CPU seconds of the local stack's process tree rooted at ``root``, by component."""
    children: dict[int, list[ProcessTimes]] = {}
    for process in processes:
        children.setdefault(process.parent, []).append(process)
    totals = dict.fromkeys(_COMPONENTS, 0.0)
    by_pid = {process.pid: process for process in processes}
    pending = [by_pid[root]] if root in by_pid else []
    while pending:
        process = pending.pop()
        if process.pid == root:
            totals["gateway"] += process.cpu_seconds
        elif "DynamoDBLocal" in process.command:
            totals["DynamoDB Local"] += process.cpu_seconds
        else:
            totals["function workers"] += process.cpu_seconds
        pending += children.get(process.pid, [])
    return totals


def filesystem_of(path: Path, mounts: str) -> str:
    """The filesystem type holding ``path``, from the text of ``/proc/mounts`` (its longest mount point)."""
    best, kind = "", "unknown"
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # Mount points escape spaces as \040; none of the paths asked about holds one.
        point = fields[1]
        inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def _read_mounts() -> str:
    """The text of ``/proc/mounts``; empty where it cannot be read, so every filesystem is ``unknown``."""
    try:
        return Path("/proc/mounts").read_text()
    except OSError:
        return ""


def memory_backed_directory(candidate: Path, mounts: str) -> Path | None:
    """``candidate`` if it is a writable directory on a memory-backed filesystem (per ``mounts``, the text of
    ``/proc/mounts``), else None."""
    writable = candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return candidate if writable and filesystem_of(candidate, mounts) in _MEMORY_FILESYSTEMS else None


def _require_artillery() -> None:
    if not ARTILLERY.exists():
        raise RuntimeError(f"{ARTILLERY} not found: `make bench` installs it (loadtest/package.json)")


@contextmanager
def _local_stack(config_file: Path, workdir: Path) -> Iterator[tuple[str, str, int]]:
    """Run ``python -m local`` for the bench stack on a free port; yield its URL, one API key value and its pid."""
    # Its own state directory: the developer's .local/ (make dev's data and keys) stays untouched.
    state_dir = workdir / "state"
    ready_file = state_dir / f"{BENCH_STACK}.json"  # written by the stack once it is ready
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
            "--state-dir",
            str(state_dir),
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
        url, key = resolve_target(BENCH_STACK, None, None, state_dir)
        yield url, key, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl-C does: the stack stops everything it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _prime(url: str, key: str, workers: int) -> int:
    """Start ``workers`` function workers before measuring, as a warmed-up Lambda function has them.

    ``workers`` clients send the seeds' request one after another until each has had a run of successes: a
    busy pool starts a worker per concurrent request, so the pool ends up with ``workers`` warm ones. Cold
    starts are benchmark 1's subject, not this one's. Returns how many requests priming took.
    """
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS

    def client(_: int) -> int:
        sent = successes = 0
        while successes < _PRIMING_SUCCESSES:
            if time.monotonic() > deadline:
                raise RuntimeError(f"priming {workers} workers took longer than {_READY_TIMEOUT_SECONDS} s")
            body = json.dumps({"year": "2023", "title": "priming", "id": uuid.uuid4().hex}).encode()
            request = urllib.request.Request(  # noqa: S310 (our own local stack on 127.0.0.1)
                f"{url}/", data=body, method="POST", headers={"x-api-key": key, "Content-Type": "application/json"}
            )
            sent += 1
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    successes = successes + 1 if response.status < 300 else 0
            except urllib.error.HTTPError:
                successes = 0
        return sent

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(client, range(workers)))


def _run_phase(url: str, key: str, phase: Phase, workdir: Path, stack_pid: int) -> LoadResult:
    output = workdir / f"{phase.name}.json"
    stack_before = component_cpu(_processes(), stack_pid)
    # Artillery is a child this process waits for: its CPU (and its own children's) lands in RUSAGE_CHILDREN.
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    overrides = {"config": {"phases": [{"duration": phase.seconds, "arrivalRate": phase.rate, "name": phase.name}]}}
    scenario = ROOT / "loadtest" / f"{SCENARIO}.yml"
    artillery = start_artillery(
        ["run", "--target", url, "--overrides", json.dumps(overrides), "--output", str(output), str(scenario)],
        key,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = artillery.communicate(timeout=phase.seconds + 300)
    except subprocess.TimeoutExpired:
        artillery.kill()
        artillery.communicate()
        raise RuntimeError(f"artillery did not finish phase {phase.name} in time") from None
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stack_after = component_cpu(_processes(), stack_pid)
    if artillery.returncode != 0:
        raise RuntimeError(f"artillery failed in phase {phase.name}: {stderr[-2000:]}")
    cpu = {name: stack_after[name] - stack_before[name] for name in _COMPONENTS}
    cpu["Artillery"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    return replace(parse_artillery_report(json.loads(output.read_text()), phase), cpu_seconds=cpu)


def _capacity_note(results: list[LoadResult]) -> str:
    """How busy the machine was during the spike, by component: the case for or against its capacity."""
    spike = results[-1]
    busy = {name: seconds / spike.phase.seconds for name, seconds in spike.cpu_seconds.items()}
    parts = ", ".join(f"{name} {cores:.2f}" for name, cores in busy.items())
    return (
        "CPU comes from `/proc` for the local stack's process tree and from `getrusage` for Artillery (its start-up"
        f" included, which weighs on short phases). During the spike the processes kept {sum(busy.values()):.2f}"
        f" cores busy on average ({parts}); this machine has {os.cpu_count() or 1}, shared with whatever else runs"
        " on it. Most of Artillery's share is its arrival timer busy-waiting between arrivals less than 25 ms"
        " apart, whatever the rate: it runs at the lowest CPU priority (nice 19, in a scheduling group of its own at"
        " nice 19 too), so that spin only takes CPU the stack leaves idle. The code under test is the gateway"
        " emulation and the function workers."
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


@dataclass(frozen=True)
class _StackRun:
    data_directory: Path  # where the stack's state directory was made
    filesystem: str  # the data directory's
    priming_requests: int
    results: list[LoadResult]

    @property
    def storage(self) -> str:
        return f"{self.filesystem}, {self.data_directory}"


def _measure(config: Mapping[str, Any], phases: Sequence[Phase], base: Path | None, mounts: str) -> _StackRun:
    """Start the bench stack with its data under ``base`` (the default temporary directory if None), prime its
    workers, then run ``phases``; everything it wrote is deleted afterwards. ``mounts``: ``/proc/mounts``'s text."""
    with tempfile.TemporaryDirectory(prefix="bench-load-", dir=base) as scratch:
        workdir = Path(scratch)
        config_file = workdir / stack_file_name(BENCH_STACK)
        config_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        with _local_stack(config_file, workdir) as (url, key, stack_pid):
            priming_requests = _prime(url, key, BENCH_CONCURRENCY)
            results = [_run_phase(url, key, phase, workdir, stack_pid) for phase in phases]
        return _StackRun(workdir.parent, filesystem_of(workdir.parent.resolve(), mounts), priming_requests, results)


def _row(result: LoadResult) -> tuple[str, ...]:
    summary = result.summary
    return (
        f"{result.phase.name}: {result.phase.rate} rps × {result.phase.seconds} s",
        str(summary.requests),
        f"{result.achieved_rate:.1f} rps",
        _ms(summary.p50_ms),
        _ms(summary.p95_ms),
        _ms(summary.p99_ms),
        str(summary.ok_2xx),
        f"{summary.forbidden_403} / {summary.throttled_429} / {summary.other_4xx}",
        str(summary.server_5xx),
        str(summary.errors),
    )


_RESULT_HEADER: Final = (
    "phase",
    "requests",
    "achieved",
    "p50",
    "p95",
    "p99",
    "2xx",
    "403 / 429 / other 4xx",
    "5xx",
    "no answer",
)


def run(scale: float = 1.0) -> Section:
    _require_artillery()
    if shutil.which("java") is None:
        raise RuntimeError("java not found: the local stack needs a JRE")
    phases = tuple(Phase(p.name, p.rate, max(5, round(p.seconds * scale))) for p in PHASES)
    config = bench_stack_config(load_stack_file("dev")[1])
    mounts = _read_mounts()
    memory = memory_backed_directory(MEMORY_BACKED_DIRECTORY, mounts)
    measured = _measure(config, phases, memory, mounts)
    # The spike again with the data on disk, where make dev keeps it, after a shorter warm-up: no target, it shows
    # what the disk costs.
    warm_up = replace(phases[0], seconds=max(5, phases[0].seconds // 3))
    on_disk = _measure(config, (warm_up, phases[-1]), None, mounts) if memory is not None else None
    results = measured.results
    spike = results[-1]
    server_errors = sum(r.summary.server_5xx for r in results)
    no_answer = sum(r.summary.errors for r in results)
    p99 = spike.summary.p99_ms
    sustained = (
        spike.achieved_rate >= TARGET_RATE * ACHIEVED_SHARE
        and p99 is not None
        and p99 < TARGET_P99_MS
        and server_errors == 0
        and no_answer == 0
    )
    measured_text = (
        f"spike: {spike.achieved_rate:.1f} rps answered, p99 {_ms(p99)}; 5xx {server_errors},"
        f" no answer {no_answer} (all phases); data on {measured.filesystem}"
    )
    tables = [
        Table(_RESULT_HEADER, tuple(_row(r) for r in results)),
        Table(
            ("CPU per request, ms", *(r.phase.name for r in results)),
            tuple(
                (component, *(f"{r.cpu_ms_per_request(component):.1f}" for r in results))
                for component in (*_COMPONENTS, "Artillery")
            ),
        ),
    ]
    notes = [_capacity_note(results)]
    if on_disk is not None:
        disk_spike = on_disk.results[-1]
        measured_text += (
            f"; on disk (no target): p99 {_ms(disk_spike.summary.p99_ms)}, 5xx {disk_spike.summary.server_5xx}"
        )
        tables.append(Table(("data on disk (no target)", *_RESULT_HEADER[1:]), tuple(_row(r) for r in on_disk.results)))
        notes.append(_disk_note(on_disk))
    return Section(
        title="Local stack under the seeds' Artillery profile",
        method=(
            "`python -m local` (the stack `make dev` runs: WAF and API Gateway emulation, Lambda worker processes,"
            " DynamoDB Local) from a bench stack file: `Pulumi.dev.yaml` with every throttle, quota and limiter"
            f" lifted far above the load and a reserved concurrency of {BENCH_CONCURRENCY}, so this measures"
            f" capacity, not the limits. Before measuring, {BENCH_CONCURRENCY} concurrent clients prime the worker"
            f" pool ({measured.priming_requests} requests, unmeasured): cold starts are benchmark 1's subject."
            " Artillery (from `loadtest/package.json`) sends the seeds' `POST /` with random ids on"
            " 127.0.0.1, one run per phase of seed 001's profile (warm-up 50, sustained 100, spike 150 rps for 60,"
            " 120 and 60 s; the durations this run used are in the table). *Achieved* is responses per second"
            f" over the phase. The stack's data directory (`--state-dir`) is on {measured.storage}"
            + (
                ": the bench's items are thrown away after the run, and memory-backed storage keeps this machine's"
                " disk out of a measurement of the API; the last table runs a shorter warm-up and the spike again"
                " with the data on disk."
                if on_disk is not None
                else f" ({MEMORY_BACKED_DIRECTORY} is not memory-backed storage on this machine)."
            )
        ),
        tables=tuple(tables),
        notes=tuple(notes),
        targets=(
            Target(f"sustains {TARGET_RATE} rps with p99 < {TARGET_P99_MS} ms and no 5xx", measured_text, sustained),
        ),
    )


def _disk_note(on_disk: _StackRun) -> str:
    spike = on_disk.results[-1]
    return (
        f"With the data on disk ({on_disk.storage}), the same stack answered the spike with p99"
        f" {_ms(spike.summary.p99_ms)} and {spike.summary.server_5xx} 5xx. On disk, DynamoDB Local's SQLite waits for"
        " the disk to sync each write (two per request: the limiter's counter and the item), so the tail follows"
        " the disk's sync latency at the time: a slow sync holds up every write queued behind it, requests pile up,"
        " and once the workers run out the gateway answers Lambda's throttle, a 5xx. `make dev` keeps its data on"
        " disk so that it survives restarts; `make dev LOCAL_STATE=/dev/shm/tiered-api` load-tests the local stack"
        " without the disk (docs/operations.md, section 5)."
    )
