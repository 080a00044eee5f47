"""Suppressions: a valid one excuses exactly its finding; an invalid, expired or stale one is itself a violation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from policy.adapter import evaluate
from policy.checklist import SUPPRESSIONS_POLICY
from policy.graph import T
from policy.suppressions import MIN_REASON_LENGTH, STACK_RESOURCE, parse_suppressions
from tests.policy.conftest import TODAY, ContextFactory, Graph
from tests.policy.mutations import MUTATIONS


def _dev_without_pitr(reference_graphs: dict[str, Graph]) -> tuple[Graph, str]:
    graph = reference_graphs["dev"]
    _, mutate = MUTATIONS["DDB-PITR"]
    broken = mutate(graph.resources)
    table = next(r for r in broken if r.type.endswith("table:Table") and not r.inputs["pointInTimeRecovery"]["enabled"])
    return Graph("dev", graph.settings, broken), table.name


def _file(*entries: dict[str, Any]) -> Any:
    return parse_suppressions({"dev": list(entries)})


def test_a_valid_suppression_excuses_its_finding_and_is_shown_with_its_reason(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN a dev graph without PITR on one table, and a reviewed suppression for exactly that
    graph, table = _dev_without_pitr(reference_graphs)
    reason = "scratch table, rebuilt from the stream every night"
    context = make_context(graph.settings, _file({"rule": "DDB-PITR", "resource": table, "reason": reason}))
    # WHEN the pack judges it
    evaluation = evaluate(graph.resources, context)
    # THEN nothing is reported, and the suppression is recorded with its reason
    assert evaluation.violations == []
    assert [(a.suppression.rule, a.suppression.resource, a.suppression.reason) for a in evaluation.suppressed] == [
        ("DDB-PITR", table, reason)
    ]


def test_a_suppression_matches_a_resource_by_urn_suffix(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    suffix = f"Table::{table}"
    context = make_context(graph.settings, _file({"rule": "DDB-PITR", "resource": suffix, "reason": "a" * 12}))
    assert evaluate(graph.resources, context).violations == []


def test_a_suppression_naming_only_the_end_of_a_name_excuses_nothing(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    end_of_name = table[-5:]
    context = make_context(graph.settings, _file({"rule": "DDB-PITR", "resource": end_of_name, "reason": "a" * 12}))
    assert "DDB-PITR" in evaluate(graph.resources, context).rules()


def test_a_suppression_excuses_only_its_own_rule(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    context = make_context(graph.settings, _file({"rule": "DDB-STREAM", "resource": table, "reason": "a" * 12}))
    assert evaluate(graph.resources, context).rules() == {"DDB-PITR"}


def _dev_without_the_waf_alarm(reference_graphs: dict[str, Graph]) -> Graph:
    """A dev graph whose ALARMS finding is about the stack as a whole (an alarm is missing), not a resource."""
    graph = reference_graphs["dev"]
    _, mutate = MUTATIONS["ALARMS"]
    return Graph("dev", graph.settings, mutate(graph.resources))


def test_a_suppression_for_the_stack_excuses_a_finding_about_the_stack(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = _dev_without_the_waf_alarm(reference_graphs)
    entry = {"rule": "ALARMS", "resource": STACK_RESOURCE, "reason": "WAF metrics are watched by the edge team"}
    assert evaluate(graph.resources, make_context(graph.settings, _file(entry))).violations == []


def test_a_suppression_for_a_resource_does_not_excuse_a_finding_about_the_stack(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN a stack missing an alarm, and an ALARMS suppression naming one of the alarms it has
    graph = _dev_without_the_waf_alarm(reference_graphs)
    alarm = next(r for r in graph.resources if r.type == T.METRIC_ALARM)
    entry = {"rule": "ALARMS", "resource": alarm.name, "reason": "this alarm's topic is shared by design"}
    # WHEN the pack judges it
    evaluation = evaluate(graph.resources, make_context(graph.settings, _file(entry)))
    # THEN the missing alarm is still reported against the stack
    assert [(v.rule, v.resource) for v in evaluation.violations] == [("ALARMS", STACK_RESOURCE)]


def test_a_suppression_for_the_stack_does_not_excuse_a_finding_about_a_resource(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    entry = {"rule": "DDB-PITR", "resource": STACK_RESOURCE, "reason": "every table here is scratch data"}
    evaluation = evaluate(graph.resources, make_context(graph.settings, _file(entry)))
    assert [(v.rule, v.resource) for v in evaluation.violations] == [("DDB-PITR", table)]


# Whitespace is no reason, however much of it there is.
@pytest.mark.parametrize("reason", ["because", " " * (2 * MIN_REASON_LENGTH)], ids=["short", "only-whitespace"])
def test_a_short_reason_is_a_violation_and_excuses_nothing(
    reason: str, reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    context = make_context(graph.settings, _file({"rule": "DDB-PITR", "resource": table, "reason": reason}))
    evaluation = evaluate(graph.resources, context)
    assert evaluation.rules() == {"DDB-PITR", SUPPRESSIONS_POLICY}
    assert any("reason of at least 10 characters" in v.message for v in evaluation.violations)


def test_a_missing_reason_is_a_violation(reference_graphs: dict[str, Graph], make_context: ContextFactory) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    context = make_context(graph.settings, _file({"rule": "DDB-PITR", "resource": table}))
    assert evaluate(graph.resources, context).rules() == {"DDB-PITR", SUPPRESSIONS_POLICY}


def test_an_expired_suppression_is_a_violation_and_excuses_nothing(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    yesterday = TODAY - dt.timedelta(days=1)
    entry = {"rule": "DDB-PITR", "resource": table, "reason": "until the backup job lands", "expires": yesterday}
    evaluation = evaluate(graph.resources, make_context(graph.settings, _file(entry)))
    assert evaluation.rules() == {"DDB-PITR", SUPPRESSIONS_POLICY}
    assert any(f"expired on {yesterday.isoformat()}" in v.message for v in evaluation.violations)


def test_a_suppression_expiring_today_still_holds(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    entry = {"rule": "DDB-PITR", "resource": table, "reason": "until the backup job lands", "expires": TODAY}
    assert evaluate(graph.resources, make_context(graph.settings, _file(entry))).violations == []


def test_an_unreadable_expiry_date_counts_as_expired(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    entry = {"rule": "DDB-PITR", "resource": table, "reason": "until the backup job lands", "expires": "soon"}
    assert evaluate(graph.resources, make_context(graph.settings, _file(entry))).rules() == {
        "DDB-PITR",
        SUPPRESSIONS_POLICY,
    }


def test_a_suppression_of_an_unknown_rule_is_a_violation(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = reference_graphs["dev"]
    entry = {"rule": "S3-VERSIONING", "resource": graph.resources[1].name, "reason": "no buckets in this stack"}
    evaluation = evaluate(graph.resources, make_context(graph.settings, _file(entry)))
    assert [v.rule for v in evaluation.violations] == [SUPPRESSIONS_POLICY]
    assert "not a checklist row" in evaluation.violations[0].message


def test_a_suppression_naming_no_resource_of_the_stack_is_a_violation(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = reference_graphs["dev"]
    entry = {"rule": "DDB-PITR", "resource": "table-long-gone", "reason": "the old import table"}
    evaluation = evaluate(graph.resources, make_context(graph.settings, _file(entry)))
    assert [v.rule for v in evaluation.violations] == [SUPPRESSIONS_POLICY]
    assert "stale" in evaluation.violations[0].message


def test_another_stacks_suppressions_do_not_apply(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph, table = _dev_without_pitr(reference_graphs)
    other = parse_suppressions({"prod": [{"rule": "DDB-PITR", "resource": table, "reason": "a" * 12}]})
    assert evaluate(graph.resources, make_context(graph.settings, other)).rules() == {"DDB-PITR"}


def test_a_malformed_file_is_a_violation(reference_graphs: dict[str, Graph], make_context: ContextFactory) -> None:
    graph = reference_graphs["dev"]
    malformed = parse_suppressions({"dev": [{"rule": "DDB-PITR", "resource": "x", "reason": "r" * 12, "until": 1}]})
    evaluation = evaluate(graph.resources, make_context(graph.settings, malformed))
    assert any("unknown keys ['until']" in v.message for v in evaluation.violations)
