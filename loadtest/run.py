"""``make loadtest``: an Artillery scenario against the running local stack (default) or a deployed URL.

The local stack's URL and keys come from ``.local/<stack>.json`` (written by ``make dev`` once it is ready);
a deployed stage needs ``--url`` and ``--key``. Artillery writes its JSON report under ``.local/``, and the
summary printed at the end counts answers by what produced them: 2xx, 403 (WAF, keys), 429 (throttles,
quotas), 5xx, and the latency percentiles.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "Summary",
    "artillery_environment",
    "format_summary",
    "main",
    "resolve_target",
    "start_artillery",
    "summarise",
]

HERE: Final = Path(__file__).resolve().parent
ARTILLERY: Final = HERE / "node_modules" / ".bin" / "artillery"
# Artillery's arrival timer (the `nanotimer` under its `arrivals` package) busy-waits on setImmediate whenever
# requests arrive less than 25 ms apart, i.e. above 40 rps: it keeps a core busy whatever the rate. Against the
# local stack that spin competes with the very processes it measures, so Artillery runs at the lowest CPU
# priority and spins only on CPU the stack leaves idle, as a load generator on a machine of its own would.
_LOWEST_NICE: Final = 19
_AT_LOWEST_NICE: Final = ("nice", "-n", str(_LOWEST_NICE))


class TargetError(Exception):
    """No target to run against; the message says what to do."""


@dataclass(frozen=True)
class Summary:
    requests: int
    ok_2xx: int
    forbidden_403: int
    throttled_429: int
    other_4xx: int
    server_5xx: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def resolve_target(stack: str, url: str | None, key: str | None, state_dir: Path) -> tuple[str, str]:
    """(URL, API key value): the ones given, else the local stack's (its first consumer's key)."""
    if url:
        if not key:
            raise TargetError("KEY= is required with URL=: the API key value of a consumer of that stage")
        return url.rstrip("/"), key
    state_file = state_dir / f"{stack}.json"
    if not state_file.is_file():
        raise TargetError(
            f"{state_file} not found: start the local stack first (make dev STACK={stack}) or pass URL= and KEY="
        )
    state = json.loads(state_file.read_text())
    keys: Mapping[str, Mapping[str, str]] = state["api_keys"]
    return state["url"], key or next(iter(keys.values()))["value"]


def artillery_environment(key: str) -> dict[str, str]:
    """This process's environment plus the API key the scenarios send and Artillery's telemetry turned off."""
    return {**os.environ, "ARTILLERY_DISABLE_TELEMETRY": "true", "API_KEY": key}


def start_artillery(args: Sequence[str], key: str, **popen: Any) -> subprocess.Popen[Any]:
    """Start the project's pinned Artillery with ``args`` at the lowest CPU priority, in a session of its own whose
    scheduling group is at the lowest priority too.

    Linux shares CPU fairly between sessions' scheduling groups (autogroups) before nice values count, and only
    within a group: a niced Artillery in the caller's session would still get half the machine against a stack
    in another session (``make dev`` in another terminal, the bench's own). Measured against the local stack at
    150 rps: function workers waiting 2.8 runnable on average with only nice, 0.7 with the group's nice too.
    """
    process = subprocess.Popen(  # noqa: S603 (the project's own pinned Artillery)
        [*_AT_LOWEST_NICE, str(ARTILLERY), *args],
        env=artillery_environment(key),
        start_new_session=True,
        **popen,
    )
    with contextlib.suppress(OSError):  # a kernel without autogroups: nice alone is what counts
        Path(f"/proc/{process.pid}/autogroup").write_text(str(_LOWEST_NICE))
    return process


def summarise(report: Mapping[str, Any]) -> Summary:
    """The counts and percentiles that matter, from an Artillery 2 JSON report (``artillery run --output``)."""
    aggregate = report.get("aggregate", {})
    counters: Mapping[str, int] = aggregate.get("counters", {})
    codes = {int(name.rsplit(".", 1)[1]): count for name, count in counters.items() if name.startswith("http.codes.")}
    latency: Mapping[str, float] = aggregate.get("summaries", {}).get("http.response_time", {})
    return Summary(
        requests=counters.get("http.requests", 0),
        ok_2xx=sum(count for code, count in codes.items() if 200 <= code < 300),
        forbidden_403=codes.get(403, 0),
        throttled_429=codes.get(429, 0),
        other_4xx=sum(count for code, count in codes.items() if 400 <= code < 500 and code not in (403, 429)),
        server_5xx=sum(count for code, count in codes.items() if code >= 500),
        errors=sum(count for name, count in counters.items() if name.startswith("errors.")),
        p50_ms=latency.get("p50"),
        p95_ms=latency.get("p95"),
        p99_ms=latency.get("p99"),
    )


def format_summary(summary: Summary) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:g} ms"

    return "\n".join(
        [
            f"requests {summary.requests}",
            f"  2xx {summary.ok_2xx}   403 {summary.forbidden_403}   429 {summary.throttled_429}   "
            f"other 4xx {summary.other_4xx}   5xx {summary.server_5xx}   no answer {summary.errors}",
            f"  latency p50 {ms(summary.p50_ms)}   p95 {ms(summary.p95_ms)}   p99 {ms(summary.p99_ms)}",
        ]
    )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make loadtest", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--scenario", default="seed-001", help="a file name under loadtest/, without .yml")
    parser.add_argument("--url", help="a deployed stage's invoke URL (default: the local stack's)")
    parser.add_argument("--key", help="the API key value to send (default: the local stack's first consumer)")
    parser.add_argument("--state-dir", type=Path, default=Path(".local"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    scenario = HERE / f"{args.scenario}.yml"
    if not scenario.is_file():
        choices = ", ".join(sorted(path.stem for path in HERE.glob("*.yml")))
        print(f"error: no scenario {args.scenario!r}: choose one of {choices}", file=sys.stderr)
        return 2
    try:
        url, key = resolve_target(args.stack, args.url, args.key, args.state_dir)
    except TargetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not ARTILLERY.exists():
        print(f"error: {ARTILLERY} not found: `make loadtest` installs it", file=sys.stderr)
        return 2
    args.state_dir.mkdir(parents=True, exist_ok=True)
    report = args.state_dir / f"loadtest-{args.scenario}.json"
    print(f"artillery: {scenario.name} against {url}", flush=True)
    artillery = start_artillery(["run", "--target", url, "--output", str(report), str(scenario)], key)
    try:
        returncode = artillery.wait()
    except KeyboardInterrupt:
        # In a session of its own, Artillery does not get the terminal's Ctrl-C: pass it on.
        artillery.send_signal(signal.SIGINT)
        artillery.wait()
        return 130
    if returncode != 0 or not report.is_file():
        print(f"error: artillery failed (exit code {returncode})", file=sys.stderr)
        return 1
    print(format_summary(summarise(json.loads(report.read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
