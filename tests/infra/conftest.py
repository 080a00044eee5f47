"""Fixtures for the tests of one component: each such test module defines ``_run(settings) -> ProgramRun``,
which builds its component under mocks; these run it once per stack file and hand the tests each run."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS
from tools.mocks import ProgramRun, stack_settings


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> dict[str, ProgramRun]:
    return {stack: request.module._run(stack_settings(stack)) for stack in STACKS}


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest, runs: dict[str, ProgramRun]) -> ProgramRun:
    return runs[request.param]
