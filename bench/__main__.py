"""``make bench``: run every benchmark and rewrite ``docs/benchmarks.md``.

A benchmark that cannot run (a missing tool, a failing child) is reported as not run, with the reason, and the
others still run: the file always tells the whole truth about the last run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import cold_start, limiter, load, program, warm
from bench.environment import ROOT, BenchTables, dynamodb_client, running_dynamodb
from bench.machine import describe_machine
from bench.report import Report, Section, render_markdown

BENCHMARKS = ("cold", "warm", "limiter", "load", "program")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--cold-processes", type=int, default=20)
    parser.add_argument("--warm-rounds", type=int, default=11)
    parser.add_argument("--warm-requests", type=int, default=400)
    parser.add_argument("--limiter-rounds", type=int, default=5)
    parser.add_argument("--load-scale", type=float, default=1.0, help="multiplies the load phases' durations")
    parser.add_argument("--program-processes", type=int, default=3)
    return parser.parse_args(argv)


def _attempt(title: str, benchmark: Callable[[], Section]) -> Section:
    print(f"bench: {title} ...", flush=True)
    started = time.perf_counter()
    try:
        section = benchmark()
    except Exception as error:  # noqa: BLE001 (any failure is reported in the file as "not run", with its reason)
        print(f"bench: {title} could not run: {error}", file=sys.stderr, flush=True)
        return Section(title=title, method="", error=f"{type(error).__name__}: {error}")
    print(f"bench: {title} done in {time.perf_counter() - started:.0f} s", flush=True)
    return section


def _dynamodb_sections(options: argparse.Namespace, tables: BenchTables) -> list[Section]:
    sections = []
    if "cold" in options.only:
        sections.append(_attempt("Cold start", lambda: cold_start.run(tables, options.cold_processes)))
    if "warm" in options.only:
        sections.append(
            _attempt("Warm requests, one worker", lambda: warm.run(tables, options.warm_rounds, options.warm_requests))
        )
    if "limiter" in options.only:
        client = dynamodb_client(tables.endpoint_url, max_pool_connections=64)
        sections.append(
            _attempt(
                "Rate-limiter accuracy under concurrency",
                lambda: limiter.run(
                    limiter.ours_factory(client, tables.rate_limit),
                    limiter.seed_factory(client, tables.seed_rate_limit),
                    options.limiter_rounds,
                ),
            )
        )
    return sections


def _command(arguments: list[str]) -> str:
    """How this run was started, to be pasted again: ``make bench`` (and its BENCH_ARGS) or the module itself."""
    if os.environ.get("MAKELEVEL"):
        return f"make bench BENCH_ARGS={shlex.quote(shlex.join(arguments))}" if arguments else "make bench"
    return f"python -m bench {shlex.join(arguments)}".rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    sections: list[Section] = []
    if {"cold", "warm", "limiter"} & set(options.only):
        with running_dynamodb() as tables:
            sections += _dynamodb_sections(options, tables)
    if "load" in options.only:
        sections.append(
            _attempt("Local stack under the seeds' Artillery profile", lambda: load.run(options.load_scale))
        )
    if "program" in options.only:
        sections.append(
            _attempt(
                "Deployment package and program evaluation",
                lambda: program.run(program.build_package, options.program_processes),
            )
        )
    command = _command(sys.argv[1:] if argv is None else list(argv))
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=describe_machine(),
        command=command,
        duration_seconds=time.perf_counter() - started,
        sections=tuple(sections),
    )
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(render_markdown(report))
    print(f"bench: wrote {options.output}")
    return 0 if all(s.error is None for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
