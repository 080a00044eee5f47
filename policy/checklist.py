"""The registry: every row of the security checklist by id, and the CrossGuard policies built from it.

``build_policies`` turns each row's rules into mandatory ``ResourceValidationPolicy``s or ``StackValidationPolicy``s
whose violations pass through the stack's suppressions first, and adds the ``SUPPRESSIONS`` policy that reports invalid,
expired or stale suppressions. ``policy/__main__.py`` hands these to ``PolicyPack``; the tests hand them to
``policy.adapter.evaluate``. Either way the same functions judge the same graph.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.context import AppliedSuppression, StackContext
from policy.graph import StackGraph
from policy.rules import apigateway, dynamodb, governance, lambda_, network, waf
from policy.rules._base import ResourceRule, StackRule
from policy.suppressions import STACK_RESOURCE, Suppression

__all__ = ["CHECKLIST", "SUPPRESSIONS_POLICY", "build_policies", "valid_suppressions"]

Rule = ResourceRule | StackRule
ContextProvider = Callable[[], StackContext]
ReportViolation = Callable[..., None]

_RULES: tuple[Rule, ...] = tuple(
    rule for module in (apigateway, waf, lambda_, dynamodb, network, governance) for rule in module.RULES
)
CHECKLIST: dict[str, tuple[Rule, ...]] = {
    row: tuple(rule for rule in _RULES if rule.id == row) for row in dict.fromkeys(rule.id for rule in _RULES)
}
SUPPRESSIONS_POLICY = "SUPPRESSIONS"


def valid_suppressions(context: StackContext) -> list[Suppression]:
    return [s for s in context.stack_suppressions() if not s.problems(context.today, CHECKLIST)]


def build_policies(context: ContextProvider) -> list[Policy]:
    """One mandatory CrossGuard policy per checklist row, plus the suppression-file check."""
    policies: list[Policy] = [
        _resource_policy(rule, context) if isinstance(rule, ResourceRule) else _stack_policy(rule, context)
        for rule in _RULES
    ]
    policies.append(
        StackValidationPolicy(
            name=SUPPRESSIONS_POLICY,
            description="Every suppression of this stack names a checklist row, a resource of the stack, a reason "
            "of at least 10 characters, and has not expired",
            validate=lambda args, report: _check_suppressions(args, report, context()),
            enforcement_level=EnforcementLevel.MANDATORY,
        )
    )
    return policies


def _resource_policy(rule: ResourceRule, context: ContextProvider) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        current = context()
        for message in rule.check(args, current):
            _report(current, rule.id, args.name, args.urn, message, report)

    return ResourceValidationPolicy(
        name=rule.policy_name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _stack_policy(rule: StackRule, context: ContextProvider) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        current = context()
        graph = StackGraph(args.resources)
        names = {r.urn: r.name for r in graph.resources}
        for finding in rule.check(graph, current):
            name = names.get(finding.urn) if finding.urn else None
            _report(current, rule.id, name, finding.urn, finding.message, report)

    return StackValidationPolicy(
        name=rule.policy_name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _report(
    context: StackContext,
    rule_id: str,
    resource_name: str | None,
    urn: str | None,
    message: str,
    report: ReportViolation,
) -> None:
    for suppression in valid_suppressions(context):
        if suppression.matches(rule_id, resource_name, urn):
            context.applied.append(AppliedSuppression(suppression, urn, message))
            return
    report(message, urn)


def _check_suppressions(args: StackValidationArgs, report: ReportViolation, context: StackContext) -> None:
    for problem in context.suppressions.shape_problems:
        report(problem, None)
    for suppression in context.stack_suppressions():
        for problem in suppression.problems(context.today, CHECKLIST):
            report(problem, None)
        targets_a_resource = suppression.resource not in ("", STACK_RESOURCE)
        if targets_a_resource and not any(suppression.names_resource(r.name, r.urn) for r in args.resources):
            report(
                f"{suppression.position} ({suppression.rule}): no resource {suppression.resource!r} in this "
                "stack; remove the stale suppression",
                None,
            )
