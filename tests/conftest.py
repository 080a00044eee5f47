"""Shared fixtures: stack files and program runs under Pulumi mocks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.mocks import ROOT, ProgramRun, read_stack_config, run_program

STACKS = ("dev", "prod")


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, ProgramRun]:
    """Each real stack's program, run once per session: the runs are deterministic and read-only."""
    return {stack: run_program(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest, stack_runs: dict[str, ProgramRun]) -> ProgramRun:
    return stack_runs[request.param]


@pytest.fixture
def stack_config() -> Callable[[str], dict[str, Any]]:
    """A deep copy of a real stack file's config map, free to edit."""

    def load(stack: str) -> dict[str, Any]:
        return copy.deepcopy(read_stack_config(ROOT / f"Pulumi.{stack}.yaml"))

    return load


@pytest.fixture
def write_stack_file(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Writes an edited config map as a stack file of its own, leaving the real one untouched."""

    def write(config: dict[str, Any], name: str = "Pulumi.edited.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        return path

    return write
