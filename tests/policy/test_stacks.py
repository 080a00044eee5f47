"""The real stacks pass the pack: every stack's recorded graph, zero mandatory violations."""

from __future__ import annotations

from policy.adapter import evaluate
from policy.suppressions import load_suppressions
from tests.policy.conftest import ContextFactory, Graph


def test_each_real_stack_graph_has_no_mandatory_violation(
    recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    for stack, graph in recorded_graphs.items():
        # GIVEN the graph the real program records for the stack, judged with the reviewed suppressions
        evaluation = evaluate(graph.resources, make_context(graph.settings))
        # THEN each excused violation is shown with its reason, and nothing else is reported
        for applied in evaluation.suppressed:
            print(
                f"{stack}: {applied.suppression.rule} on {applied.suppression.resource} suppressed: "
                f"{applied.suppression.reason} ({applied.message})"
            )
        assert [(v.rule, v.resource, v.message) for v in evaluation.mandatory] == [], stack
        assert evaluation.unknown == []


def test_each_applied_suppression_is_an_entry_of_the_reviewed_file(
    recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    reviewed = load_suppressions()
    for stack, graph in recorded_graphs.items():
        evaluation = evaluate(graph.resources, make_context(graph.settings))
        for applied in evaluation.suppressed:
            assert applied.suppression in reviewed.for_stack(stack)
            assert len(applied.suppression.reason.strip()) >= 10


def test_the_hand_built_graphs_pass_every_row(reference_graphs: dict[str, Graph], make_context: ContextFactory) -> None:
    for stack, graph in reference_graphs.items():
        evaluation = evaluate(graph.resources, make_context(graph.settings))
        assert [(v.rule, v.resource, v.message) for v in evaluation.violations] == [], stack
