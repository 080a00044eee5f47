"""``make tiers [BASE=<git ref>]``: a tier-change review of the stack files, as Markdown for a pull request.

For every ``Pulumi.<stack>.yaml`` in the working tree: the effective limits side by side (``tools.plan.limits_table``)
and the capacity warnings; with a base ref, also what the change does: every setting whose effective value differs
from the stack file at that ref (``git show <ref>:Pulumi.<stack>.yaml``), old -> new, grouped by plan, stage, WAF,
Lambda, alarms and app limiter. Both sides go through ``tools.mocks.load_stack_text``, so defaults count and
formatting does not. Exit 0, or 2 when a stack file (or git) cannot be read; the Markdown says which and why.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.settings import ConfigError, StackSettings, stack_file_name, stack_names, stack_of_file
from tools.mocks import load_stack_text
from tools.plan import limits_table

__all__ = ["Change", "changes", "main", "render"]

# Top-level config keys -> how a reviewer names that part of the stack.
_AREAS = {
    "apiGateway": "stage",
    "waf": "WAF",
    "lambda": "Lambda",
    "alarms": "alarms",
    "appRateLimit": "app limiter",
    "data": "DynamoDB",
    "network": "network",
    "logRetentionDays": "logs",
    "region": "region",
    "tags": "tags",
}
_PER_NAME = {"plans": "plan", "consumers": "consumer"}


@dataclass(frozen=True)
class Change:
    stack: str
    area: str
    setting: str
    before: str
    after: str


@dataclass(frozen=True)
class StackState:
    """A stack file read at one revision: its settings, or why there are none."""

    settings: StackSettings | None
    problem: str | None = None


def _load(stack: str, text: str, source: str) -> StackState:
    try:
        return StackState(load_stack_text(stack, text, source)[0])
    except ConfigError as error:
        return StackState(None, problem=str(error))


def _stacks_at(root: Path, ref: str) -> list[str]:
    """The stacks with a stack file at ``ref``; ``ValueError`` when git does not know ``ref``."""
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", ref], cwd=root, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        raise ValueError(f"git cannot resolve {ref!r} in {root}")
    return sorted(stack for name in listed.stdout.splitlines() if (stack := stack_of_file(name)))


def _text_at(root: Path, ref: str, stack: str) -> str:
    """The stack file's text at ``ref``, where ``_stacks_at`` found it."""
    name = stack_file_name(stack)
    return subprocess.run(["git", "show", f"{ref}:{name}"], cwd=root, capture_output=True, text=True, check=True).stdout


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _effective(settings: StackSettings) -> dict[str, Any]:
    return _flatten(settings.model_dump(mode="json", by_alias=True, exclude={"stack"}))


def _area(path: str) -> tuple[str, str]:
    """('plan premium', 'throttle.rateLimit') for 'plans.premium.throttle.rateLimit'."""
    top, _, rest = path.partition(".")
    if top in _PER_NAME:
        name, _, rest = rest.partition(".")
        return f"{_PER_NAME[top]} {name}", rest or "(all)"
    return _AREAS.get(top, top), rest or top


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value) or "(empty)"


def changes(stack: str, before: StackSettings, after: StackSettings) -> list[Change]:
    """Every effective setting that differs between two versions of a stack's settings."""
    old, new = _effective(before), _effective(after)
    found = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            area, setting = _area(path)
            found.append(Change(stack, area, setting, _shown(old.get(path)), _shown(new.get(path))))
    return found


def render(
    current: Mapping[str, StackState],
    base: Mapping[str, StackState] | None,
    base_ref: str | None,
    base_problem: str | None = None,
) -> str:
    """The review; ``base_problem`` says why the stack files at ``base_ref`` could not be read (no comparison then)."""
    lines = ["## Tier review" + (f": `{base_ref}` → this change" if base_ref else ""), ""]
    problems = {stack: state.problem for stack, state in current.items() if state.problem}
    if problems:
        lines += ["### Invalid stack files", ""]
        lines += [f"```\n{problem}\n```" for problem in problems.values()]
        lines.append("")
    valid = {stack: state.settings for stack, state in current.items() if state.settings is not None}
    if base_problem is not None:
        lines += ["### Changes", "", f"Not compared with `{base_ref}`: {base_problem}", ""]
    elif base is not None:
        lines += _render_changes(valid, current, base, base_ref or "base")
    lines += _render_limits(valid)
    lines += _render_warnings(valid, base)
    return "\n".join(lines).rstrip() + "\n"


def _render_changes(
    valid: Mapping[str, StackSettings],
    current: Mapping[str, StackState],
    base: Mapping[str, StackState],
    base_ref: str,
) -> list[str]:
    lines = ["### Changes", ""]
    rows: list[Change] = []
    notes: list[str] = []
    for stack in sorted(set(current) | set(base)):
        before = base.get(stack)
        after = valid.get(stack)
        if before is None:
            notes.append(f"- **{stack}**: new stack file (not in `{base_ref}`)")
        elif stack not in current:
            notes.append(f"- **{stack}**: stack file removed")
        elif after is None:
            notes.append(
                f"- **{stack}**: the stack file is invalid (errors under *Invalid stack files*), "
                f"so it was not compared with `{base_ref}`"
            )
        elif before.settings is None:
            # Indented under its list item: the base's own error, so the reviewer knows what the change mends.
            error = "\n".join(f"  {line}" for line in ["```", *str(before.problem).splitlines(), "```"])
            notes.append(
                f"- **{stack}**: the stack file at `{base_ref}` was invalid; compare by hand. Its error:\n{error}"
            )
        else:
            rows += changes(stack, before.settings, after)
    if rows:
        lines += ["| stack | what | setting | before | after |", "|---|---|---|---|---|"]
        lines += [f"| {c.stack} | {c.area} | `{c.setting}` | {c.before} | **{c.after}** |" for c in rows]
    elif not notes:
        lines.append(f"No effective setting changes against `{base_ref}`.")
    lines += [*notes, ""]
    return lines


def _render_limits(valid: Mapping[str, StackSettings]) -> list[str]:
    if not valid:
        return []
    tables = {stack: dict(limits_table(settings)) for stack, settings in valid.items()}
    rows: list[str] = []
    for table in tables.values():
        rows += [row for row in table if row not in rows]
    stacks = list(valid)
    lines = ["### Effective limits", "", "| limit | " + " | ".join(stacks) + " |", "|---" * (len(stacks) + 1) + "|"]
    lines += [f"| {row} | " + " | ".join(tables[s].get(row, "—") for s in stacks) + " |" for row in rows]
    return [*lines, ""]


def _render_warnings(valid: Mapping[str, StackSettings], base: Mapping[str, StackState] | None) -> list[str]:
    lines = ["### Capacity warnings", ""]
    found = False
    for stack, settings in valid.items():
        before = base.get(stack) if base is not None else None
        known = set(before.settings.capacity_warnings()) if before is not None and before.settings else set()
        for warning in settings.capacity_warnings():
            found = True
            new = " (new in this change)" if base is not None and warning not in known else ""
            lines.append(f"- **{stack}**{new}: {warning}")
    if not found:
        lines.append("None.")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make tiers", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", help="git ref to compare the stack files with (e.g. origin/main)")
    parser.add_argument("--root", type=Path, default=Path(), help="repository root holding the stack files")
    args = parser.parse_args(argv)
    root: Path = args.root
    current = {
        stack: _load(stack, (root / stack_file_name(stack)).read_text(), stack_file_name(stack))
        for stack in stack_names(root)
    }
    base = None
    base_problem = None
    if args.base:
        try:
            at_base = _stacks_at(root, args.base)
        except ValueError as error:
            base_problem = str(error)
            print(error, file=sys.stderr)
        else:
            base = {
                stack: _load(stack, _text_at(root, args.base, stack), f"{args.base}:{stack_file_name(stack)}")
                for stack in at_base
            }
    print(render(current, base, args.base, base_problem), end="")
    return 2 if base_problem or any(state.problem for state in current.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
