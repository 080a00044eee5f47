"""Shared fixtures: stack files, program runs under Pulumi mocks, and a real DynamoDB Local for the session."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import stack_file_name
from local.dynamodb_local import DynamoDBLocal
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
        return copy.deepcopy(read_stack_config(ROOT / stack_file_name(stack)))

    return load


@pytest.fixture
def write_stack_file(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Writes an edited config map as a stack file of its own, leaving the real one untouched."""

    def write(config: dict[str, Any], name: str = "Pulumi.edited.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def requirement_pins() -> Callable[[str], dict[str, str]]:
    """A requirements file of the repository as package name -> pinned version (``==`` pins only, extras dropped)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def pins(relative_path: str) -> dict[str, str]:
        pinned: dict[str, str] = {}
        for line in (ROOT / relative_path).read_text().splitlines():
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            requirement = Requirement(text)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{relative_path}: {text} is not an exact pin"
            pinned[canonicalize_name(requirement.name)] = specifier.version
        return pinned

    return pins


# DynamoDB Local accepts any credentials, but scopes tables by access key and region (without
# -sharedDb): everything in the session uses these, through the environment, as boto3 would on Lambda.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_NEVER_FROM_THE_MACHINE = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """A DynamoDB Local server (in memory, free port) with the environment pointing boto3 at it."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _NEVER_FROM_THE_MACHINE:
            patch.delenv(name, raising=False)
        for name, value in LOCAL_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        server = DynamoDBLocal().start()
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint_url)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_local: DynamoDBLocal) -> Any:
    """A boto3 DynamoDB client for DynamoDB Local, configured only through the environment."""
    import boto3

    return boto3.client("dynamodb")
