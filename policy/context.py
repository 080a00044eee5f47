"""What the rules know about the stack under review besides its resources: its settings and suppressions.

Rows such as "retention from config" or "customer-managed key where the stack asks" compare the graph with the
stack's own ``StackSettings``, loaded by the same ``load_settings`` the program uses. Under ``pulumi preview`` the
CLI hands the analyzer the stack's name and config (``PULUMI_STACK``, ``PULUMI_CONFIG``); the tests build the
context from a recorded run's settings instead.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from components.settings import StackSettings, load_settings
from policy.suppressions import SUPPRESSIONS_FILE, Suppression, SuppressionFile, load_suppressions

__all__ = ["AppliedSuppression", "StackContext", "engine_context"]


@dataclass(frozen=True)
class AppliedSuppression:
    """A violation a valid suppression excused: kept so that reviews (and tests) can show it with its reason."""

    suppression: Suppression
    urn: str | None
    message: str


@dataclass
class StackContext:
    stack: str
    settings: StackSettings
    suppressions: SuppressionFile
    today: dt.date = field(default_factory=dt.date.today)
    applied: list[AppliedSuppression] = field(default_factory=list)

    def stack_suppressions(self) -> tuple[Suppression, ...]:
        return self.suppressions.for_stack(self.stack)


def engine_context() -> StackContext:
    """The context of the stack the Pulumi CLI is previewing or updating (inside the analyzer process)."""
    from pulumi.runtime.config import get_config_env

    # Some backends hand over a qualified name (<org>/<project>/<stack>); the stack files use the short one.
    stack = os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
    if not stack:
        raise RuntimeError("PULUMI_STACK is not set: the policy pack runs under `pulumi preview|up --policy-pack`")
    settings = load_settings(stack, get_config_env(), source=f"Pulumi.{stack}.yaml (stack config)")
    return StackContext(stack=stack, settings=settings, suppressions=load_suppressions(SUPPRESSIONS_FILE))
