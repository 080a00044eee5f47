"""The two shapes a checklist row takes: a check of one resource, or a check of the whole stack's graph.

A row usually takes one of them. One that needs both (a stack policy sees the resources' outputs, a resource policy
their inputs) names its resource part: that part's policy is ``<row id>-<part>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from policy.context import StackContext
from policy.graph import Finding, ResourceLike, StackGraph

__all__ = ["ResourceCheck", "ResourceRule", "StackCheck", "StackRule", "resource_rule", "stack_rule"]

ResourceCheck = Callable[[ResourceLike, StackContext], Iterable[str]]
StackCheck = Callable[[StackGraph, StackContext], Iterable[Finding]]


@dataclass(frozen=True)
class ResourceRule:
    """A row checked on each resource of ``types`` as the engine registers it (a CrossGuard resource policy)."""

    id: str
    description: str
    types: frozenset[str]
    check: ResourceCheck
    part: str = ""

    @property
    def policy_name(self) -> str:
        return f"{self.id}-{self.part}" if self.part else self.id


@dataclass(frozen=True)
class StackRule:
    """A row that relates resources to each other (a CrossGuard stack policy)."""

    id: str
    description: str
    check: StackCheck

    @property
    def policy_name(self) -> str:
        return self.id


def resource_rule(
    rule_id: str, description: str, *types: str, part: str = ""
) -> Callable[[ResourceCheck], ResourceRule]:
    def wrap(check: ResourceCheck) -> ResourceRule:
        return ResourceRule(rule_id, description, frozenset(types), check, part)

    return wrap


def stack_rule(rule_id: str, description: str) -> Callable[[StackCheck], StackRule]:
    def wrap(check: StackCheck) -> StackRule:
        return StackRule(rule_id, description, check)

    return wrap
