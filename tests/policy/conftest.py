"""Fixtures for the policy pack: graphs to judge (hand-built and recorded from the real stacks) and their contexts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from components.settings import StackSettings
from policy.context import StackContext
from policy.suppressions import SuppressionFile, load_suppressions
from tests.policy.reference_graph import reference_graph
from tools.mocks import ProgramRun, RecordedResource, stack_settings

# A fixed review date, so that an expiry in the suppression file cannot turn a test red on its own.
TODAY = dt.date(2026, 11, 22)

# The rows of the security checklist (policy/checklist.py), in its order.
CHECKLIST_ROWS = [
    "APIGW-ACCESSLOG", "APIGW-XRAY", "APIGW-METHODSETTINGS", "APIGW-ACCOUNT", "APIGW-AUTH", "APIGW-VALIDATOR",
    "APIGW-REGIONAL", "APIGW-USAGEPLANS", "APIGW-REDEPLOY",
    "WAF-RATE", "WAF-MANAGED", "WAF-ASSOC", "WAF-LOGGING", "WAF-METRICS",
    "LAMBDA-XRAY", "LAMBDA-VPC", "LAMBDA-CONCURRENCY", "LAMBDA-TIMEOUT", "LAMBDA-RUNTIME", "LAMBDA-LOGS",
    "LAMBDA-PERMISSION", "LAMBDA-ENV-SECRETS",
    "DDB-PITR", "DDB-SSE", "DDB-BILLING", "DDB-STREAM", "DDB-DELETION",
    "VPC-FLOWLOG", "VPC-DEFAULT-SG", "VPC-DDB-ENDPOINT", "SG-EGRESS",
    "LOG-RETENTION", "IAM-NO-STAR", "IAM-MANAGED", "ALARMS",
]  # fmt: skip
# One policy per row, named after it; the key-value part of APIGW-USAGEPLANS is a policy of its own, since only a
# resource policy sees the inputs that tell a written key value from one AWS generated.
POLICY_NAMES = [
    name
    for row in CHECKLIST_ROWS
    for name in ([row, "APIGW-USAGEPLANS-KEY-VALUE"] if row == "APIGW-USAGEPLANS" else [row])
]


@dataclass(frozen=True)
class Graph:
    """A stack's resources with the settings they were built from."""

    stack: str
    settings: StackSettings
    resources: list[RecordedResource]


ContextFactory = Callable[..., StackContext]


@pytest.fixture
def make_context() -> ContextFactory:
    """A context for a stack's settings; the real suppression file unless another is given."""

    def make(
        settings: StackSettings, suppressions: SuppressionFile | None = None, today: dt.date = TODAY
    ) -> StackContext:
        return StackContext(
            stack=settings.stack,
            settings=settings,
            suppressions=suppressions if suppressions is not None else load_suppressions(),
            today=today,
        )

    return make


@pytest.fixture(scope="session")
def reference_graphs() -> dict[str, Graph]:
    """The hand-built graph of each real stack file's settings."""
    graphs = {}
    for stack in ("dev", "prod"):
        settings = stack_settings(stack)
        graphs[stack] = Graph(stack, settings, reference_graph(settings))
    return graphs


@pytest.fixture(scope="session")
def recorded_graphs(stack_runs: dict[str, ProgramRun]) -> dict[str, Graph]:
    """The real program's graph of each stack, recorded under mocks."""
    return {stack: Graph(stack, run.settings, run.resources) for stack, run in stack_runs.items()}
