"""make loadtest's target resolution, how it runs Artillery, and its summary of an Artillery report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from loadtest import run
from loadtest.run import (
    TargetError,
    artillery_environment,
    format_summary,
    resolve_target,
    start_artillery,
    summarise,
)


def test_the_summary_groups_answers_by_what_produced_them():
    report = {
        "aggregate": {
            "counters": {
                "http.requests": 20,
                "http.codes.201": 9,
                "http.codes.200": 1,
                "http.codes.403": 3,
                "http.codes.429": 4,
                "http.codes.400": 1,
                "http.codes.500": 1,
                "http.codes.503": 1,
                "errors.ETIMEDOUT": 2,
                "vusers.created": 20,
            },
            "summaries": {"http.response_time": {"p50": 12.1, "p95": 80.5, "p99": 140}},
        }
    }
    summary = summarise(report)
    assert (summary.requests, summary.ok_2xx, summary.forbidden_403, summary.throttled_429) == (20, 10, 3, 4)
    assert (summary.other_4xx, summary.server_5xx, summary.errors) == (1, 2, 2)
    assert (summary.p50_ms, summary.p95_ms, summary.p99_ms) == (12.1, 80.5, 140)


def test_the_printed_summary_shows_counts_and_percentiles():
    report = {
        "aggregate": {
            "counters": {"http.requests": 3, "http.codes.201": 2, "http.codes.429": 1},
            "summaries": {"http.response_time": {"p50": 5, "p95": 9, "p99": 9.5}},
        }
    }
    text = format_summary(summarise(report))
    assert "2xx 2" in text
    assert "429 1" in text
    assert "p99 9.5 ms" in text


def test_a_report_without_responses_summarises_to_zeros():
    summary = summarise({"aggregate": {"counters": {}, "summaries": {}}})
    assert (summary.requests, summary.ok_2xx, summary.p50_ms) == (0, 0, None)


def test_the_default_target_is_the_running_local_stack(tmp_path):
    state = {"url": "http://127.0.0.1:3000/dev", "stack": "dev", "api_keys": {"a": {"plan": "p", "value": "k1"}}}
    (tmp_path / "dev.json").write_text(json.dumps(state))
    assert resolve_target("dev", None, None, tmp_path) == ("http://127.0.0.1:3000/dev", "k1")


def test_without_a_running_local_stack_the_error_says_to_start_it(tmp_path):
    with pytest.raises(TargetError, match="make dev STACK=dev"):
        resolve_target("dev", None, None, tmp_path)


def test_a_deployed_url_needs_a_key(tmp_path):
    with pytest.raises(TargetError, match="KEY="):
        resolve_target("dev", "https://example.execute-api.us-east-1.amazonaws.com/dev", None, tmp_path)


STAND_IN = """import json, os
print(json.dumps({"nice": os.nice(0), "session": os.getsid(0), "autogroup": open("/proc/self/autogroup").read()}))
"""


@pytest.fixture
def started_stand_in(tmp_path, monkeypatch):
    """What a stand-in for Artillery, started as Artillery is, says about its own scheduling."""
    stand_in = tmp_path / "artillery"
    stand_in.write_text(f"#!{sys.executable}\n{STAND_IN}")
    stand_in.chmod(0o755)
    monkeypatch.setattr(run, "ARTILLERY", stand_in)
    process = start_artillery([], "key-value", stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=60)
    return json.loads(out)


def test_artillery_runs_at_the_lowest_cpu_priority(started_stand_in):
    """Its arrival timer busy-waits; at nice 19 it only spins on CPU the stack under test leaves idle."""
    assert started_stand_in["nice"] == 19


def test_artillery_runs_in_a_session_whose_scheduling_group_has_the_lowest_priority(started_stand_in):
    # Nice only orders processes within a scheduling group; groups (one per session) share the CPU fairly.
    assert started_stand_in["session"] != os.getsid(0)
    assert started_stand_in["autogroup"].split()[-2:] == ["nice", "19"]


def test_artillery_gets_the_key_and_no_telemetry():
    environment = artillery_environment("key-value")

    assert environment["API_KEY"] == "key-value"
    assert environment["ARTILLERY_DISABLE_TELEMETRY"] == "true"
