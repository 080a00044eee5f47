"""Benchmark 1: cold start, each sample a fresh interpreter importing and initialising a handler.

The three variants take turns within every round (in rotating order), so a busy moment of the shared machine
lands on all of them rather than on one.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.environment import (
    BenchTables,
    HandlerVariant,
    ours_environment,
    run_python,
    sample_environment,
    seed_event,
)
from bench.report import Section, Table, Target
from bench.stats import Summary, paired_ratios, summarize

__all__ = ["TARGET_RATIO", "importtime_by_package", "run", "variants"]

TARGET_RATIO: Final = 1.6
_CHILD: Final = Path(__file__).with_name("_cold_child.py")
_IMPORTTIME_LINE: Final = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")
_TIMEOUT_SECONDS: Final = 120


@dataclass(frozen=True)
class _Sample:
    init: float
    first_request: float
    process: float


def importtime_by_package(stderr: str) -> dict[str, float]:
    """Seconds of ``-X importtime`` self time per top-level package (``botocore.client`` counts for ``botocore``)."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        match = _IMPORTTIME_LINE.match(line)
        if match:
            totals[match.group(4).split(".")[0]] += int(match.group(1)) / 1_000_000
    return dict(totals)


def _run_child(variant: HandlerVariant, workdir: Path, extra_flags: tuple[str, ...] = ()) -> tuple[_Sample, str]:
    event_file = workdir / "event.json"
    result_file = workdir / "result.json"
    event_file.write_text(json.dumps(seed_event()))
    command = [*extra_flags, str(_CHILD), variant.module, variant.function, str(event_file), str(result_file)]
    started = time.perf_counter()
    finished = run_python(command, variant.environment, f"{variant.label}: cold-start child", _TIMEOUT_SECONDS)
    elapsed = time.perf_counter() - started
    result = json.loads(result_file.read_text())
    if result["status"] not in (200, 201):
        raise RuntimeError(f"{variant.label}: first request answered {result['status']}")
    return _Sample(result["init"], result["first_request"], elapsed), finished.stderr


def variants(tables: BenchTables) -> tuple[HandlerVariant, HandlerVariant, HandlerVariant]:
    return (
        HandlerVariant(
            "ours",
            "tiered-api, as deployed (X-Ray on)",
            "handler.app",
            "lambda_handler",
            ours_environment(tables, traced=True),
        ),
        HandlerVariant(
            "ours-untraced",
            "tiered-api, tracing off (make dev, tests)",
            "handler.app",
            "lambda_handler",
            ours_environment(tables, traced=False),
        ),
        HandlerVariant(
            "sample", "AWS sample handler", "bench.reference.sample_handler", "handler", sample_environment(tables)
        ),
    )


def _ms(summary: Summary) -> str:
    return summary.scaled(1000).format("ms")


def run(tables: BenchTables, processes: int, importtime_runs: int = 3) -> Section:
    chosen = variants(tables)
    samples: dict[str, list[_Sample]] = {v.label: [] for v in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch:
        workdir = Path(scratch)
        for variant in chosen:  # unmeasured: compiles bytecode and warms the page cache for every variant alike
            _run_child(variant, workdir)
        for round_number in range(processes):
            shift = round_number % len(chosen)
            for variant in chosen[shift:] + chosen[:shift]:
                samples[variant.label].append(_run_child(variant, workdir)[0])
        breakdowns = [
            importtime_by_package(_run_child(chosen[0], workdir, ("-X", "importtime"))[1])
            for _ in range(importtime_runs)
        ]
    ours, ours_untraced, sample = (samples[v.label] for v in chosen)
    rows = []
    for variant in chosen:
        runs = samples[variant.label]
        rows.append(
            (
                variant.label,
                _ms(summarize([s.init for s in runs])),
                _ms(summarize([s.init + s.first_request for s in runs])),
                _ms(summarize([s.process for s in runs])),
            )
        )

    def paired(runs: list[_Sample], first_request: bool) -> Summary:
        def value(sample: _Sample) -> float:
            return sample.init + (sample.first_request if first_request else 0.0)

        return paired_ratios([value(s) for s in runs], [value(s) for s in sample])

    ratio = paired(ours, first_request=True)
    median_ratio = (
        summarize([s.init + s.first_request for s in ours]).median
        / summarize([s.init + s.first_request for s in sample]).median
    )
    packages = sorted(
        {name for breakdown in breakdowns for name in breakdown},
        key=lambda name: -statistics.median(b.get(name, 0.0) for b in breakdowns),
    )
    total_import = statistics.median(sum(b.values()) for b in breakdowns)
    breakdown_rows = tuple(
        (
            f"`{name}`",
            f"{statistics.median(b.get(name, 0.0) for b in breakdowns) * 1000:.1f} ms",
            f"{statistics.median(b.get(name, 0.0) for b in breakdowns) / total_import:.0%}",
        )
        for name in packages[:12]
    )
    return Section(
        title="Cold start",
        method=(
            f"{processes} fresh interpreters per variant (plus one unmeasured warm-up each), taking turns in rotating"
            " order. Each child times, in-process, the `import` of the handler module (Lambda's init phase) and then"
            " its first request, the seeds' `POST /` against DynamoDB Local. *Process* is the parent's wall clock"
            " around the whole child, Python's own start-up included. The target compares what a cold invocation"
            " costs, *init + first request* (anything a handler defers to its first request is still cold-start"
            " cost), of ours as deployed with the sample's, as ratios of the runs paired round by round."
        ),
        tables=(
            Table(("variant", "import + init", "init + first request", "process"), tuple(rows)),
            Table(
                ("ratio (paired rounds)", "median (min–max)"),
                (
                    ("init + first request: as deployed / sample", ratio.format_ratio()),
                    (
                        "init + first request: tracing off / sample",
                        paired(ours_untraced, first_request=True).format_ratio(),
                    ),
                    ("import + init only: as deployed / sample", paired(ours, first_request=False).format_ratio()),
                    (
                        "import + init only: tracing off / sample",
                        paired(ours_untraced, first_request=False).format_ratio(),
                    ),
                ),
            ),
            Table(
                ("package (ours as deployed: init + first request)", "`-X importtime` self time", "share"),
                breakdown_rows,
            ),
        ),
        targets=(
            Target(
                f"cold start (init + first request) of ours ≤ {TARGET_RATIO}× the sample's",
                f"{ratio.median:.2f}× (paired median; ratio of medians {median_ratio:.2f}×)",
                ratio.median <= TARGET_RATIO,
            ),
        ),
        notes=(
            f"Import-time breakdown: median over {importtime_runs} runs of `python -X importtime`, self time summed"
            f" per top-level package; total {total_import * 1000:.0f} ms (the tracing overhead of `-X importtime`"
            " itself inflates it).",
        ),
    )
