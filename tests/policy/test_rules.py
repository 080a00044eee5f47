"""Every checklist row fires on its own: one mutation per row breaks exactly that row, on every graph."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.adapter import evaluate
from policy.checklist import CHECKLIST
from policy.graph import T
from tests.policy.conftest import ContextFactory, Graph
from tests.policy.mutations import (
    COMMON,
    MUTATIONS,
    VARIANTS,
    Mutation,
    at_a_first_preview,
    drop,
    edit,
    in_group,
    override_rules,
    setting,
)

# Every way to break a row, by name: each row's own mutation (named after the row), then the variants the pack once
# let pass; each as (row it must fire, stack, mutation).
BREAKAGES: dict[str, tuple[str, str, Mutation]] = {
    **{row: (row, stack, mutate) for row, (stack, mutate) in sorted(MUTATIONS.items())},
    **dict(sorted(VARIANTS.items())),
}


def test_every_checklist_row_has_a_negative_mutation() -> None:
    assert set(MUTATIONS) == set(CHECKLIST)


@pytest.fixture(scope="module")
def fired_before() -> dict[int, set[str]]:
    """What each unmutated graph fires, judged once per graph (keyed by the graph's identity)."""
    return {}


def _fired_by_mutation(
    graph: Graph, mutate: Mutation, make_context: ContextFactory, fired_before: dict[int, set[str]]
) -> tuple[set[str], set[str]]:
    if id(graph) not in fired_before:
        fired_before[id(graph)] = evaluate(graph.resources, make_context(graph.settings)).rules()
    after = evaluate(mutate(graph.resources), make_context(graph.settings)).rules()
    return fired_before[id(graph)], after


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_breaking_a_row_in_the_hand_built_graph_fires_exactly_that_row(
    breakage: str, reference_graphs: dict[str, Graph], make_context: ContextFactory, fired_before: dict[int, set[str]]
) -> None:
    # GIVEN the hand-built graph of the stack the mutation targets, which passes every row
    rule, stack, mutate = BREAKAGES[breakage]
    graph = reference_graphs[stack]
    # WHEN exactly the property the row checks is broken
    before, after = _fired_by_mutation(graph, mutate, make_context, fired_before)
    # THEN that row, and only that row, fires
    assert before == set()
    assert after == {rule}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_breaking_a_row_in_a_real_stack_graph_fires_exactly_that_row(
    breakage: str, recorded_graphs: dict[str, Graph], make_context: ContextFactory, fired_before: dict[int, set[str]]
) -> None:
    # GIVEN a copy of a real stack's recorded graph
    rule, stack, mutate = BREAKAGES[breakage]
    graph = recorded_graphs[stack]
    # WHEN exactly the property the row checks is broken
    before, after = _fired_by_mutation(graph, mutate, make_context, fired_before)
    # THEN that row fires, and nothing else changes
    assert rule not in before
    assert after - before == {rule}
    assert before <= after


def test_counting_the_common_groups_body_size_rule_passes_waf_managed(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN the hand-built dev graph with the Common group's SizeRestrictions_BODY counted, as the real stack does
    graph = reference_graphs["dev"]
    counted = edit(T.WEB_ACL, in_group(COMMON, override_rules("count", "SizeRestrictions_BODY")))(graph.resources)
    # WHEN the pack judges it
    evaluation = evaluate(counted, make_context(graph.settings))
    # THEN nothing fires: the function answers oversized bodies with its own 413
    assert evaluation.rules() == set()


def test_a_first_previews_unknown_endpoint_prefix_list_leaves_sg_egress_enforcing_the_groups_own_rules(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN a first preview: AWS has not created the DynamoDB endpoint, so its prefix list is unknown
    graph = reference_graphs["dev"]
    unknown = edit(T.VPC_ENDPOINT, setting("prefixListId", value=UNKNOWN_STRING_VALUE))(graph.resources)
    # AND the function's group opens egress of every protocol to the internet
    _, open_egress = MUTATIONS["SG-EGRESS"]
    # WHEN the pack judges it
    evaluation = evaluate(open_egress(unknown), make_context(graph.settings))
    # THEN SG-EGRESS still runs and fires, rather than becoming advisory
    assert evaluation.rules() == {"SG-EGRESS"}
    assert not any(line.startswith("SG-EGRESS") for line in evaluation.unknown)


# Rows that read values AWS assigns (ids, ARNs, generated names), each with a breakage that needs none of them to
# see: at a stack's first preview they must still check what is known rather than turn advisory.
FIRST_PREVIEW_BREAKAGES: dict[str, tuple[str, Mutation]] = {
    "APIGW-METHODSETTINGS": MUTATIONS["APIGW-METHODSETTINGS"],
    "APIGW-ACCOUNT": VARIANTS["apigw-account-role-trusts-another-service"][1:],
    "APIGW-VALIDATOR": MUTATIONS["APIGW-VALIDATOR"],
    "APIGW-USAGEPLANS": MUTATIONS["APIGW-USAGEPLANS"],
    "APIGW-ACCESSLOG": MUTATIONS["APIGW-ACCESSLOG"],
    "LAMBDA-PERMISSION": VARIANTS["lambda-permission-every-action"][1:],
    "LAMBDA-ENV-SECRETS": MUTATIONS["LAMBDA-ENV-SECRETS"],
    "LAMBDA-VPC": MUTATIONS["LAMBDA-VPC"],
    "VPC-FLOWLOG": MUTATIONS["VPC-FLOWLOG"],
    "WAF-ASSOC": ("dev", drop(T.WEB_ACL_ASSOCIATION)),
    "WAF-LOGGING": MUTATIONS["WAF-LOGGING"],
    "DDB-SSE": MUTATIONS["DDB-SSE"],
    "LOG-RETENTION": MUTATIONS["LOG-RETENTION"],
    "ALARMS": MUTATIONS["ALARMS"],
}


@pytest.mark.parametrize("row", FIRST_PREVIEW_BREAKAGES)
def test_at_a_first_preview_a_row_reading_assigned_values_still_fires(
    row: str, recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN a real stack broken in a way the row sees without any value AWS assigns
    stack, mutate = FIRST_PREVIEW_BREAKAGES[row]
    graph = recorded_graphs[stack]
    broken = mutate(graph.resources)
    # WHEN the pack judges its first preview
    evaluation = evaluate(at_a_first_preview(broken), make_context(graph.settings))
    # THEN the row fires
    assert row in evaluation.rules()
