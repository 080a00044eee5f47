"""The real stacks pass the pack: every stack's recorded graph, zero mandatory violations.

These tests judge with today's date, as the pack does under `pulumi preview`: a suppression that expires turns them
red until it is reviewed again, which is the point of an expiry.
"""

from __future__ import annotations

import datetime as dt

import pytest

from policy.adapter import evaluate
from policy.checklist import CHECKLIST
from policy.suppressions import load_suppressions
from tests.conftest import STACKS
from tests.policy.conftest import ContextFactory, Graph


@pytest.mark.parametrize("planned", [True, False], ids=["first-preview", "deployed"])
@pytest.mark.parametrize("stack", STACKS)
def test_the_real_stack_graph_has_no_mandatory_violation(
    stack: str, planned: bool, recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN the graph the real program records for the stack, judged with the reviewed suppressions, both as a first
    # preview sees it and once deployed (stack policies then see the provider's outputs: generated key values, ...)
    graph = recorded_graphs[stack]
    evaluation = evaluate(graph.resources, make_context(graph.settings, today=dt.date.today()), planned=planned)
    # THEN each excused violation is shown with its reason, and nothing is reported
    for applied in evaluation.suppressed:
        print(
            f"{stack}: {applied.suppression.rule} on {applied.suppression.resource} suppressed "
            f"({applied.suppression.reason}): {applied.message}"
        )
    assert [(v.rule, v.resource, v.message) for v in evaluation.mandatory] == []
    assert evaluation.unknown == []


def test_the_reviewed_suppression_file_is_valid_today() -> None:
    reviewed = load_suppressions()
    assert reviewed.shape_problems == ()
    assert [p for s in reviewed.entries for p in s.problems(dt.date.today(), CHECKLIST)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_hand_built_graph_passes_every_row(
    stack: str, reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = reference_graphs[stack]
    evaluation = evaluate(graph.resources, make_context(graph.settings))
    assert [(v.rule, v.resource, v.message) for v in evaluation.violations] == []
