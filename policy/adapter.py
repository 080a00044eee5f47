"""Feed a recorded resource graph (``tools.mocks``) to the policy pack the way CrossGuard's analyzer does.

For each resource the engine registers, CrossGuard calls every resource policy with ``ResourceValidationArgs`` whose
props (the resource's inputs) are wrapped in ``unknown_checking_proxy``; once, it calls every stack policy with
``StackValidationArgs`` whose ``PolicyResource``s hold the resources' outputs and have their parent and dependencies
resolved to resources (links to URNs that are not in the
stack are dropped). ``evaluate`` does exactly that over ``RecordedResource``s and collects each violation as
(rule id, resource, message), plus the violations valid suppressions excused.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy.checklist import build_policies
from policy.context import AppliedSuppression, StackContext
from policy.suppressions import STACK_RESOURCE

if TYPE_CHECKING:
    from tools.mocks import RecordedResource

__all__ = ["Evaluation", "Violation", "evaluate"]


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    """The resource's name, or ``stack`` for a finding about the stack as a whole."""
    message: str
    urn: str | None
    level: EnforcementLevel


@dataclass
class Evaluation:
    violations: list[Violation] = field(default_factory=list)
    suppressed: list[AppliedSuppression] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Policies that could not run because a value is unknown (CrossGuard reports these as advisory)."""

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY]

    def rules(self) -> set[str]:
        return {v.rule for v in self.mandatory}


def evaluate(resources: Sequence[RecordedResource], context: StackContext) -> Evaluation:
    """Run all of the pack's policies, for ``context``, over a recorded graph.

    Resource policies see each resource's inputs. Stack policies see what the stack holds: once deployed, the
    provider's outputs (``RecordedResource.state``: AWS-generated key values, the key AWS encrypts with, ...); for
    resources without outputs (a first preview's view), the inputs stand for them.
    """
    chosen = build_policies(lambda: context)
    evaluation = Evaluation()
    names = {r.urn: r.name for r in resources}
    start = len(context.applied)
    for policy in chosen:
        level = policy.enforcement_level or EnforcementLevel.MANDATORY
        if level == EnforcementLevel.DISABLED:
            continue

        def report(message: str, urn: str | None = None, *, _policy: Policy = policy, _level: Any = level) -> None:
            evaluation.violations.append(
                Violation(_policy.name, names.get(urn, STACK_RESOURCE) if urn else STACK_RESOURCE, message, urn, _level)
            )

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:

                def report_resource(message: str, _urn: str | None = None, *, _r: RecordedResource = resource) -> None:
                    # CrossGuard ignores the urn a resource policy passes: the violation is the resource's.
                    report(message, _r.urn)

                _run(policy, _resource_args(resource), report_resource, evaluation)
        elif isinstance(policy, StackValidationPolicy):
            _run(policy, StackValidationArgs(_policy_resources(resources)), report, evaluation)
    evaluation.suppressed = context.applied[start:]
    return evaluation


def _run(policy: Any, args: Any, report: Any, evaluation: Evaluation) -> None:
    try:
        result = policy.validate(args, report)
        if isawaitable(result):
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(result)
            finally:
                loop.close()
    except UnknownValueError as error:
        evaluation.unknown.append(f"{policy.name}: {error.message}")


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _props(properties: dict[str, Any]) -> Any:
    return unknown_checking_proxy(copy.deepcopy(properties))


def _resource_args(resource: RecordedResource) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.type, _props(resource.inputs), resource.urn, resource.name, _options(resource), None
    )


def _policy_resources(resources: Sequence[RecordedResource]) -> list[PolicyResource]:
    built = {
        r.urn: PolicyResource(r.type, _props(r.state), r.urn, r.name, _options(r), None, None, [], {})
        for r in resources
    }
    for recorded in resources:
        resource = built[recorded.urn]
        if recorded.parent in built:
            resource.parent = built[recorded.parent]
        resource.dependencies.extend(built[urn] for urn in recorded.dependencies if urn in built)
    return list(built.values())
