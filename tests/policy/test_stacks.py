"""The real stacks pass the pack: every stack's recorded graph, zero mandatory violations.

These tests judge with today's date, as the pack does under `pulumi preview`: a suppression that expires turns them
red until it is reviewed again, which is the point of an expiry.
"""

from __future__ import annotations

import datetime as dt

import pytest

from policy.adapter import evaluate
from policy.checklist import CHECKLIST
from policy.suppressions import MIN_REASON_LENGTH, load_suppressions
from tests.conftest import STACKS
from tests.policy.conftest import ContextFactory, Graph


@pytest.mark.parametrize("stack", STACKS)
def test_the_real_stack_graph_has_no_mandatory_violation(
    stack: str, recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN the graph the real program records for the stack, judged with the reviewed suppressions
    graph = recorded_graphs[stack]
    evaluation = evaluate(graph.resources, make_context(graph.settings, today=dt.date.today()))
    # THEN each excused violation is shown with its reason, and nothing is reported
    for applied in evaluation.suppressed:
        print(
            f"{stack}: {applied.suppression.rule} on {applied.suppression.resource} suppressed "
            f"({applied.suppression.reason}): {applied.message}"
        )
    assert [(v.rule, v.resource, v.message) for v in evaluation.mandatory] == []
    assert evaluation.unknown == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_applied_suppression_is_a_reviewed_entry_with_a_reason(
    stack: str, recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = recorded_graphs[stack]
    evaluation = evaluate(graph.resources, make_context(graph.settings, today=dt.date.today()))
    reviewed = load_suppressions().for_stack(stack)
    for applied in evaluation.suppressed:
        assert applied.suppression in reviewed
        assert len(applied.suppression.reason.strip()) >= MIN_REASON_LENGTH


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
