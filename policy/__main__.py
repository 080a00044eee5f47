"""The policy pack's entry point for the Pulumi CLI (`pulumi preview --policy-pack policy`).

Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks: tests use ``policy.adapter`` instead.
The CLI runs this file from ``policy/``; the repository root goes on the path so that the rules can use the
program's own settings model and the handler's published contract.
"""

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.checklist import build_policies
from policy.context import engine_context

PolicyPack(
    name="tiered-api-checklist",
    description="tiered-api's security checklist: every row, mandatory, with reviewed per-stack suppressions",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(functools.cache(engine_context)),
)
