"""``python -m local`` as a user meets it: clear one-line errors, and nothing left running after Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.local.conftest import (
    APP_RATE_LIMIT_OUT_OF_THE_WAY,
    dev_config,
    free_port,
    server_command,
    start_server,
    wait_for_exit,
    write_config,
)
from tools.mocks import ROOT

EXIT_SECONDS = 30


def run_cli(config_file: Path, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        server_command(config_file, free_port(), tmp_path / "state"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=EXIT_SECONDS,
        env=env,
        check=False,
    )


def test_a_broken_stack_file_stops_with_one_line_naming_the_key(tmp_path):
    config = dev_config()
    config["tiered-api:plans"]["standard"]["throttle"]["burstLimit"] = 1
    result = run_cli(write_config(tmp_path, config), tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1
    assert "tiered-api:plans.standard.throttle.burstLimit" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_stack_file_that_is_not_yaml_stops_with_one_line(tmp_path):
    config_file = tmp_path / "Pulumi.broken.yaml"
    config_file.write_text("config:\n  tiered-api:plans: [unclosed\n")
    result = run_cli(config_file, tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {config_file}: invalid configuration: is not valid YAML")


def test_a_missing_java_says_what_to_install(tmp_path):
    # GIVEN a PATH without java (python is started by its full path)
    result = run_cli(write_config(tmp_path, dev_config()), tmp_path, env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: install a Java runtime (Debian: apt-get install default-jre-headless)"


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_everything_the_stack_started(tmp_path, sig):
    # GIVEN a running stack whose function has an execution environment
    config = dev_config(appRateLimit=APP_RATE_LIMIT_OUT_OF_THE_WAY)
    server = start_server(tmp_path, config)
    try:
        assert server.request("GET", "/items/none", key=server.key("standard-client")).status == 404
        started = _descendants(server.process.pid)
        dynamodb_pid = server.state["dynamodb_local"]["pid"]
        # WHEN the terminal's Ctrl-C (the whole process group) or a SIGTERM (the process) arrives
        if sig == signal.SIGINT:
            os.killpg(server.process.pid, signal.SIGINT)
        else:
            server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(EXIT_SECONDS)
    finally:
        server.stop(signal.SIGKILL)
    # THEN it exits cleanly, with DynamoDB Local and every worker gone and its state file removed
    for pid in started:
        wait_for_exit(pid, EXIT_SECONDS)
    assert code == 0
    assert dynamodb_pid in started
    assert len(started) >= 2
    assert [pid for pid in started if _running(pid)] == []
    assert not (server.state_dir / "dev.json").exists()
