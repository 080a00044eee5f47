"""Reviewed exceptions to checklist rows, per stack, read from ``policy/suppressions.yaml``.

A suppression names a rule id, the resource it excuses (its name, or a suffix of its URN; ``stack`` for a finding
about the stack as a whole), a reason of at least ``MIN_REASON_LENGTH`` characters and optionally the date it
expires. Only a valid, unexpired suppression excuses anything; an invalid or expired one is itself reported (by the
``SUPPRESSIONS`` policy), so an exception cannot outlive its review silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MIN_REASON_LENGTH",
    "STACK_RESOURCE",
    "SUPPRESSIONS_FILE",
    "Suppression",
    "SuppressionFile",
    "load_suppressions",
    "parse_suppressions",
]

SUPPRESSIONS_FILE = Path(__file__).resolve().parent / "suppressions.yaml"
MIN_REASON_LENGTH = 10
# The resource a suppression names to excuse a finding reported against the stack as a whole.
STACK_RESOURCE = "stack"
_KEYS = frozenset({"rule", "resource", "reason", "expires"})


@dataclass(frozen=True)
class Suppression:
    stack: str
    rule: str
    resource: str
    reason: str
    expires: dt.date | None
    position: str
    """Where it is written (``<stack>[<index>]``), for messages."""

    def matches(self, rule: str, resource_name: str | None, urn: str | None) -> bool:
        if rule != self.rule:
            return False
        if urn is None:
            return self.resource == STACK_RESOURCE
        return self.names_resource(resource_name, urn)

    def names_resource(self, resource_name: str | None, urn: str) -> bool:
        """Whether this suppression's ``resource`` is ``resource_name``, or a suffix of ``urn`` reaching back past
        a ``::``, so that it holds the whole name (``Table::<name>``): a part of a name (``logs``, which ends
        every ``*-flow-logs``) excuses nothing."""
        return self.resource == resource_name or ("::" in self.resource and urn.endswith(self.resource))

    def problems(self, today: dt.date, known_rules: Collection[str]) -> list[str]:
        """Why this suppression cannot excuse anything; empty when it is valid today."""
        found = []
        if self.rule not in known_rules:
            found.append(f"{self.position}: rule {self.rule!r} is not a checklist row")
        if not self.resource:
            found.append(f"{self.position}: names no resource")
        if len(self.reason.strip()) < MIN_REASON_LENGTH:
            found.append(
                f"{self.position} ({self.rule} on {self.resource}): a reason of at least {MIN_REASON_LENGTH} "
                f"characters is required (got {self.reason.strip()!r})"
            )
        if self.expires is not None and self.expires < today:
            found.append(
                f"{self.position} ({self.rule} on {self.resource}): expired on {self.expires.isoformat()}; "
                "review it again or fix the resource"
            )
        return found


@dataclass(frozen=True)
class SuppressionFile:
    """Every stack's suppressions and the problems of the file's shape (which no single entry owns)."""

    entries: tuple[Suppression, ...]
    shape_problems: tuple[str, ...]

    def for_stack(self, stack: str) -> tuple[Suppression, ...]:
        return tuple(s for s in self.entries if s.stack == stack)


def load_suppressions(path: Path = SUPPRESSIONS_FILE) -> SuppressionFile:
    try:
        document = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except yaml.YAMLError as error:
        return SuppressionFile((), (f"{path.name}: not valid YAML ({error})",))
    return parse_suppressions(document, source=path.name)


def parse_suppressions(document: Any, source: str = "suppressions.yaml") -> SuppressionFile:
    """Read the file's data leniently: every entry that can be read is kept, every oddity is a problem."""
    if document is None:
        return SuppressionFile((), ())
    if not isinstance(document, Mapping):
        return SuppressionFile((), (f"{source}: must map stack names to lists of suppressions",))
    entries: list[Suppression] = []
    problems: list[str] = []
    for stack, items in document.items():
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{source}: {stack}: must be a list of suppressions")
            continue
        for index, item in enumerate(items):
            position = f"{source}: {stack}[{index}]"
            if not isinstance(item, Mapping):
                problems.append(f"{position}: must be a mapping with rule, resource, reason, optional expires")
                continue
            unknown = sorted(set(map(str, item)) - _KEYS)
            if unknown:
                problems.append(f"{position}: unknown keys {unknown} (allowed: {sorted(_KEYS)})")
            expires, expiry_problem = _expiry(item.get("expires"))
            if expiry_problem:
                problems.append(f"{position}: expires {expiry_problem}")
            entries.append(
                Suppression(
                    stack=str(stack),
                    rule=str(item.get("rule") or ""),
                    resource=str(item.get("resource") or ""),
                    reason=str(item.get("reason") or ""),
                    expires=expires,
                    position=position,
                )
            )
    return SuppressionFile(tuple(entries), tuple(problems))


def _expiry(value: Any) -> tuple[dt.date | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    try:
        return dt.date.fromisoformat(str(value)), None
    except ValueError:
        # Unreadable dates count as already expired: a typo must not make an exception permanent.
        return dt.date.min, f"must be a date (YYYY-MM-DD), got {value!r}"
