"""The benchmark harness's pure parts: statistics, report rendering, parsers and the bench stack file.

Nothing here runs a benchmark or times anything; ``make bench`` does that.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cold_start import importtime_by_package
from bench.environment import HandlerVariant
from bench.load import (
    PHASES,
    Phase,
    ProcessTimes,
    bench_stack_config,
    component_cpu,
    filesystem_of,
    memory_backed_directory,
    parse_artillery_report,
    parse_proc_stat,
)
from bench.machine import Machine, cpu_model
from bench.report import Report, Section, Table, Target, render_markdown, render_table
from bench.stats import Summary, paired_ratios, percentile, summarize
from bench.warm import TARGET_SPEEDUP, precision_note, summarize_round, warm_workers
from components.settings import load_settings
from tools.mocks import ROOT, read_stack_config

MACHINE = Machine(cores=2, cpu_model="Test CPU", python="3.11.7", system="Linux 6")


def report_with(*sections: Section) -> Report:
    return Report(
        date="2026-11-22 19:00 UTC", machine=MACHINE, command="make bench", duration_seconds=90.0, sections=sections
    )


def test_every_benchmark_module_imports():
    for module in ("bench.__main__", "bench.cold_start", "bench.warm", "bench.limiter", "bench.load", "bench.program"):
        importlib.import_module(module)


def test_summary_of_an_odd_count_is_its_middle_value_and_range():
    assert summarize([3.0, 1.0, 2.0]) == Summary(median=2.0, minimum=1.0, maximum=3.0, runs=3)


def test_summary_of_an_even_count_takes_the_mean_of_the_middle_two():
    assert summarize([4.0, 1.0, 3.0, 2.0]).median == 2.5


def test_summary_of_nothing_is_refused():
    with pytest.raises(ValueError, match="zero measurements"):
        summarize([])


def test_summary_formats_median_then_range():
    assert Summary(12.34, 11.0, 14.25, 5).format("ms") == "12.3 ms (11.0–14.2)"


def test_ratio_formats_median_then_range_as_multiples():
    assert Summary(1.4249, 1.3, 1.612, 5).format_ratio() == "1.42× (1.30–1.61)"


def test_paired_ratios_divide_round_by_round():
    # GIVEN rounds where the whole machine was twice as slow in round 2
    ours, theirs = [2.0, 4.0, 3.0], [1.0, 2.0, 2.0]
    # THEN each ratio compares measurements of the same round
    assert paired_ratios(ours, theirs) == Summary(median=2.0, minimum=1.5, maximum=2.0, runs=3)


def test_paired_ratios_refuse_unpaired_measurements():
    with pytest.raises(ValueError, match="unpaired"):
        paired_ratios([1.0, 2.0], [1.0])


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)


def test_cpu_model_is_read_from_cpuinfo():
    cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7R13 Processor\n"
    assert cpu_model(cpuinfo) == "AMD EPYC 7R13 Processor"


def test_cpu_model_without_a_model_line_is_unknown():
    assert cpu_model("processor\t: 0\n") == "unknown"


def test_table_rows_must_match_the_header():
    with pytest.raises(ValueError, match="cells"):
        Table(("a", "b"), (("only one",),))


def test_table_cells_escape_pipes():
    rendered = render_table(Table(("name",), (("a|b",),)))
    assert rendered.splitlines()[-1] == "| a\\|b |"


def test_report_states_date_machine_and_command():
    text = render_markdown(report_with())
    assert "- Date: 2026-11-22 19:00 UTC" in text
    assert "- Machine: 2 cores, Test CPU, Python 3.11.7, Linux 6" in text
    assert "- Command: `make bench`" in text


def test_report_marks_each_target_met_or_not_met():
    section = Section(
        title="Cold start",
        method="how",
        targets=(Target("ours ≤ 1.6× theirs", "1.4×", met=True), Target("p99 < 100 ms", "120 ms", met=False)),
    )
    text = render_markdown(report_with(section))
    assert "| Cold start | ours ≤ 1.6× theirs | 1.4× | **met** |" in text
    assert "| Cold start | p99 < 100 ms | 120 ms | **not met** |" in text


def test_report_says_when_a_benchmark_could_not_run():
    text = render_markdown(report_with(Section(title="Load", method="", error="RuntimeError: no artillery")))
    assert "| Load | (not measured) | — | **not run** |" in text
    assert "**Not run:** RuntimeError: no artillery" in text


def test_importtime_self_time_is_summed_per_top_level_package():
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:      1000 |       1000 |   botocore.compat\n"
        "import time:      2500 |       3500 | botocore\n"
        "import time:       500 |        500 | json\n"
        "some other line\n"
    )
    assert importtime_by_package(stderr) == {"botocore": 0.0035, "json": 0.0005}


def artillery_report(first_ms: int, last_ms: int, **counters: int) -> dict:
    return {
        "aggregate": {
            "counters": {name.replace("_", "."): count for name, count in counters.items()},
            "summaries": {"http.response_time": {"p50": 12.1, "p95": 30.0, "p99": 48.5}},
            "firstMetricAt": first_ms,
            "lastMetricAt": last_ms,
        }
    }


def test_achieved_rate_is_answers_per_second_of_the_phase():
    # GIVEN a 10 s phase whose 1,490 answers (1,485 created, 5 unavailable) all came within 10 s
    report = artillery_report(1_000_000, 1_009_000, http_requests=1500, http_codes_201=1485, http_codes_503=5)
    # WHEN it is read
    result = parse_artillery_report(report, Phase("spike", 150, 10))
    # THEN the rate is per second of the phase, and the loadtest summary's counts come along
    assert result.achieved_rate == 149.0
    assert (result.summary.requests, result.summary.ok_2xx, result.summary.server_5xx) == (1500, 1485, 5)
    assert result.summary.p99_ms == 48.5


def test_achieved_rate_counts_the_time_a_falling_behind_server_took():
    # GIVEN a 10 s phase whose answers trickled in over 20 s
    report = artillery_report(1_000_000, 1_020_000, http_requests=1500, http_codes_201=1500)
    # THEN the rate is over the 20 s the answers took
    assert parse_artillery_report(report, Phase("spike", 150, 10)).achieved_rate == 75.0


def test_load_phases_follow_the_seeds_profile_rates():
    assert [phase.rate for phase in PHASES] == [50, 100, 150]


def test_bench_stack_file_is_a_valid_stack_whose_limits_exceed_the_load():
    # GIVEN the dev stack file
    dev = read_stack_config(ROOT / "Pulumi.dev.yaml")
    # WHEN it is lifted for the load benchmark
    settings = load_settings("bench", bench_stack_config(dev))
    # THEN it still validates, and no limit is anywhere near the profile's highest rate
    fastest = max(phase.rate for phase in PHASES)
    assert settings.api_gateway.throttle.rate_limit > 50 * fastest
    assert all(plan.throttle.rate_limit > 50 * fastest for plan in settings.plans.values())
    assert settings.waf.rate_limit / settings.waf.window_seconds > 50 * fastest
    assert settings.app_rate_limit.requests / settings.app_rate_limit.window_seconds > 50 * fastest


def test_bench_stack_file_leaves_the_dev_config_unchanged():
    dev = read_stack_config(ROOT / "Pulumi.dev.yaml")
    before = repr(dev)
    bench_stack_config(dev)
    assert repr(dev) == before


MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
/dev/vdb /srv/data xfs rw,relatime 0 0
"""


@pytest.mark.parametrize(
    ("path", "filesystem"),
    [
        ("/dev/shm", "tmpfs"),
        ("/dev/shm/bench-load-x/state", "tmpfs"),
        ("/dev/shmem", "ext4"),  # a sibling whose name starts alike is not inside the mount
        ("/tmp/bench-load-x", "ext4"),
        ("/srv/data/x", "xfs"),
    ],
)
def test_filesystem_of_a_path_is_its_longest_mount_points(path, filesystem):
    assert filesystem_of(Path(path), MOUNTS) == filesystem


def test_memory_backed_directory_is_offered_when_writable_and_on_tmpfs(tmp_path):
    mounts = f"{MOUNTS}tmpfs {tmp_path} tmpfs rw 0 0\n"
    assert memory_backed_directory(tmp_path, mounts) == tmp_path


def test_memory_backed_directory_refuses_a_directory_on_disk(tmp_path):
    mounts = f"{MOUNTS}/dev/vdc {tmp_path} ext4 rw 0 0\n"
    assert memory_backed_directory(tmp_path, mounts) is None


def test_memory_backed_directory_refuses_a_missing_directory(tmp_path):
    missing = tmp_path / "missing"
    assert memory_backed_directory(missing, f"{MOUNTS}tmpfs {tmp_path} tmpfs rw 0 0\n") is None


def test_proc_stat_gives_parent_and_cpu_seconds_even_with_parentheses_in_the_name():
    # GIVEN a /proc/<pid>/stat line whose command name holds a space and a parenthesis; utime 250, stime 50 ticks
    stat = "4242 (python (x) 3) S 4200 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 123 456 789"
    # THEN its parent and CPU seconds are read from the fields after the name
    assert parse_proc_stat(stat, clock_ticks=100) == (4200, 3.0)


def test_component_cpu_sums_the_local_stack_tree_by_component():
    # GIVEN the gateway (pid 10) with two workers and DynamoDB Local under it, and an unrelated process
    processes = [
        ProcessTimes(10, 1, 2.0, "python -m local --stack bench"),
        ProcessTimes(11, 10, 1.5, "python -c from multiprocessing.spawn import spawn_main"),
        ProcessTimes(12, 10, 0.5, "python -c from multiprocessing.spawn import spawn_main"),
        ProcessTimes(13, 10, 4.0, "java -jar DynamoDBLocal.jar -port 8000"),
        ProcessTimes(20, 1, 9.0, "node artillery run"),
    ]
    # THEN only the tree under the gateway counts, split by what each process is
    assert component_cpu(processes, root=10) == {"gateway": 2.0, "function workers": 2.0, "DynamoDB Local": 4.0}


def _as_lambda_runtime(code: str) -> str:
    """stdout of ``code`` run after ``bench._lambda_runtime.install()`` in a fresh interpreter."""
    script = f"from bench import _lambda_runtime\n_lambda_runtime.install()\n{code}"
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return finished.stdout


def test_lambda_runtime_writes_root_logger_records_with_the_invocation_request_id():
    out = _as_lambda_runtime(
        "import logging\n"
        "logging.getLogger().setLevel(logging.INFO)\n"
        "_lambda_runtime.begin_invocation('request-1')\n"
        "logging.info('first')\n"
        "_lambda_runtime.begin_invocation('request-2')\n"
        "logging.info('second')\n"
    )

    lines = out.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\trequest-1\tfirst", lines[0])
    assert lines[1].endswith("\trequest-2\tsecond")


def test_lambda_runtime_flushes_stdout_on_every_write():
    # Written, then the process dies without flushing: only an unbuffered stdout still delivers it.
    out = _as_lambda_runtime("import os, sys\nsys.stdout.write('line\\n')\nos._exit(0)\n")

    assert out == "line\n"


def served_batch(latencies: list[float], seconds: float, calls: int, statuses: dict[str, int]) -> dict[str, object]:
    return {
        "seconds": seconds,
        "latencies": latencies,
        "statuses": statuses,
        "dynamodb_calls": calls,
        "dynamodb_seconds": calls * 0.001,
        "dynamodb_cpu_seconds": calls * 0.0005,
    }


def test_a_warm_round_adds_up_the_batches_a_variant_served():
    # GIVEN two batches: 2 requests in 10 ms and 3 requests in 40 ms, two DynamoDB calls per request
    first = served_batch([0.004, 0.006], 0.010, 4, {"201": 2})
    second = served_batch([0.010, 0.020, 0.010], 0.040, 6, {"201": 2, "409": 1})
    # WHEN they make up a round
    summary = summarize_round([first, second])
    # THEN throughput is all requests over all time, and the rest is per request over the whole round
    assert summary.throughput == pytest.approx(5 / 0.050)
    assert (summary.p50, summary.p99) == (0.010, 0.020)
    assert summary.statuses == {"201": 4, "409": 1}
    assert summary.dynamodb_calls_per_request == 2
    assert summary.dynamodb_seconds_per_request == pytest.approx(0.002)
    assert summary.dynamodb_cpu_seconds_per_request == pytest.approx(0.001)


STAND_IN = HandlerVariant("stand-in", "stand-in handler", "tests.local.stand_in_handler", "handler", {})


def test_a_warm_worker_serves_each_batch_it_is_asked_for_in_one_process():
    with warm_workers([STAND_IN, STAND_IN], warmup=2) as workers:
        first = workers[0].serve(3)
        second = workers[0].serve(2)
        other = workers[1].serve(1)
    assert (len(first["latencies"]), first["statuses"], first["dynamodb_calls"]) == (3, {"200": 3}, 0)
    assert (len(second["latencies"]), second["statuses"]) == (2, {"200": 2})
    assert other["statuses"] == {"200": 1}


def test_a_warm_worker_that_cannot_start_says_which_variant_and_why():
    broken = HandlerVariant("broken", "broken variant", "tests.no_such_module", "handler", {})
    with (
        pytest.raises(
            RuntimeError, match=r"(?s)broken variant: warm child failed.*No module named 'tests.no_such_module'"
        ),
        warm_workers([broken], warmup=1),
    ):
        pass


@pytest.mark.parametrize(
    ("minimum", "maximum", "noted"),
    [
        (TARGET_SPEEDUP - 0.1, TARGET_SPEEDUP + 0.1, True),  # rounds on both sides of the target
        (TARGET_SPEEDUP, TARGET_SPEEDUP + 0.1, False),  # every round at or above it
        (TARGET_SPEEDUP - 0.2, TARGET_SPEEDUP - 0.1, False),  # every round below it
    ],
)
def test_warm_report_says_so_when_the_target_lies_inside_the_rounds_range(minimum, maximum, noted):
    ratio = Summary(median=(minimum + maximum) / 2, minimum=minimum, maximum=maximum, runs=11)
    notes = precision_note(ratio)
    assert bool(notes) is noted
    if noted:
        assert f"{minimum:.2f}–{maximum:.2f}×" in notes[0]
