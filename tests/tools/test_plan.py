"""`make plan`: offline resources, limit tables and warnings; exit 2 with the message on bad config."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.settings import StackSettings
from tools.mocks import ROOT
from tools.plan import limits_table, main, resource_rows


def test_plan_prints_the_limits_table_of_each_stack(capsys: pytest.CaptureFixture[str], stack_run: Any) -> None:
    assert main(["--stack", stack_run.stack]) == 0

    out = capsys.readouterr().out
    lines = out.splitlines()
    for what, value in limits_table(stack_run.settings):
        assert any(line.strip().startswith(what) and line.rstrip().endswith(value) for line in lines), what
    for warning in stack_run.settings.capacity_warnings():
        assert warning in out


def test_plan_limits_show_the_stack_files_numbers(stack_runs: dict[str, Any]) -> None:
    prod = dict(limits_table(stack_runs["prod"].settings))
    dev = dict(limits_table(stack_runs["dev"].settings))

    assert prod["stage throttle"] == "100 rps, burst 200, per method"
    assert prod["plan premium"] == "100 rps, burst 200, quota 50,000 per day"
    assert prod["waf per IP"] == "2,000 per 300 s, then 403"
    assert dev["stage throttle"] == "10 rps, burst 20, per method"
    # prod's two consumers (one standard, one premium key) send less than its methods' stage buckets admit
    plans = stack_runs["prod"].settings.plans
    both = plans["standard"].throttle, plans["premium"].throttle
    assert prod["api as a whole"].startswith(
        f"{sum(t.rate_limit for t in both):g} rps, burst {sum(t.burst_limit for t in both)} (the lower of"
    )


def test_plan_limits_show_the_reserved_concurrency_and_its_alarm_threshold(stack_run: Any) -> None:
    function = stack_run.settings.lambda_
    assert function.reserved_concurrency is not None

    row = dict(limits_table(stack_run.settings))["lambda concurrency"]

    assert row.startswith(f"{function.reserved_concurrency}, alarm at {function.concurrency_alarm_threshold:g} ")


def test_plan_limits_mention_deletion_protection_only_where_the_stack_turns_it_on(stack_run: Any) -> None:
    row = dict(limits_table(stack_run.settings))["dynamodb"]

    assert ("deletion protection" in row) == stack_run.settings.data.deletion_protection


# Inputs a reviewer checks in a plan, each with the setting of the stack file it must show.
SHOWN_INPUTS: list[tuple[str, str, Callable[[StackSettings], Any]]] = [
    ("aws:lambda/function:Function", "reservedConcurrentExecutions", lambda s: s.lambda_.reserved_concurrency),
    ("aws:dynamodb/table:Table", "deletionProtectionEnabled", lambda s: s.data.deletion_protection),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "threshold", lambda s: s.lambda_.concurrency_alarm_threshold),
]


@pytest.mark.parametrize(("resource_type", "key", "setting"), SHOWN_INPUTS, ids=[case[1] for case in SHOWN_INPUTS])
def test_plan_resources_show_the_inputs_the_stack_file_sets(
    stack_run: Any, resource_type: str, key: str, setting: Callable[[StackSettings], Any]
) -> None:
    shown = [row["settings"].get(key) for row in resource_rows(stack_run) if row["type"] == resource_type]

    assert setting(stack_run.settings) in shown


def test_plan_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "prod", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["stack"] == "prod"
    assert document["settings"]["plans"]["standard"]["throttle"]["rateLimit"] == 50
    assert document["limits"]["stage throttle"] == "100 rps, burst 200, per method"
    assert isinstance(document["resources"], list)


def test_plan_of_a_stack_without_a_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "staging"]) == 2
    assert "Pulumi.staging.yaml" in capsys.readouterr().err


def test_make_plan_with_a_bad_config_file_exits_2_with_the_message_and_no_traceback(
    stack_config: Callable[[str], dict[str, Any]], write_stack_file: Callable[..., Path]
) -> None:
    config = stack_config("prod")
    config["tiered-api:waf"]["windowSeconds"] = 30
    bad = write_stack_file(config)

    done = subprocess.run(
        ["make", "--no-print-directory", "plan", "STACK=prod", f"CONFIG={bad}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 2
    assert f"{bad}: invalid configuration" in done.stderr
    assert "tiered-api:waf.windowSeconds: must be one of [60, 120, 300, 600]" in done.stderr
    assert "Traceback" not in done.stderr


def test_plan_tool_itself_exits_2_on_bad_config(
    stack_config: Callable[[str], dict[str, Any]], write_stack_file: Callable[..., Path]
) -> None:
    config = stack_config("dev")
    del config["tiered-api:plans"]
    bad = write_stack_file(config)

    done = subprocess.run(
        [sys.executable, "-m", "tools.plan", "--stack", "dev", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 2
    assert "tiered-api:plans: required key is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_make_plan_prod_succeeds() -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "plan", "STACK=prod"], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "effective limits:" in done.stdout
