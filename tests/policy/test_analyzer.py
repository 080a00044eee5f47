"""The pack as the Pulumi CLI runs it: policy/__main__.py serving CrossGuard's analyzer protocol over gRPC.

The server is started the way the CLI starts a Python pack (from policy/, with PULUMI_STACK and PULUMI_CONFIG in its
environment) and fed a recorded graph through Analyze (each resource) and AnalyzeStack (the whole graph): it must
report what the in-process adapter reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.deserialize import serialize_properties

from policy.adapter import evaluate
from policy.checklist import SUPPRESSIONS_POLICY
from tests.policy.conftest import POLICY_NAMES, ContextFactory, Graph
from tests.policy.mutations import MUTATIONS
from tools.mocks import ROOT, RecordedResource, cli_config, read_stack_config


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Any]:
    config = read_stack_config(ROOT / "Pulumi.dev.yaml")
    environment = {
        **os.environ,
        "PULUMI_STACK": "dev",
        "PULUMI_CONFIG": json.dumps(cli_config(config)),
    }
    server = subprocess.Popen(  # the CLI runs the pack's __main__.py from the pack's directory
        [sys.executable, "__main__.py"], cwd=ROOT / "policy", env=environment, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def _struct(inputs: dict[str, Any]) -> struct_pb2.Struct:
    # The engine's wire form: assets and archives as signature-tagged maps, as pulumi_policy reads them back.
    return json_format.ParseDict(dict(serialize_properties(inputs)), struct_pb2.Struct())


def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent or "")


def _violations(stub: Any, resources: list[RecordedResource]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for resource in resources:
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            properties=_struct(resource.inputs),
            urn=resource.urn,
            name=resource.name,
            options=_options(resource),
        )
        found |= {(d.policyName, d.urn or resource.urn) for d in stub.Analyze(request).diagnostics}
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=_struct(r.state),  # the engine sends a stack's resources with their outputs
                urn=r.urn,
                name=r.name,
                options=_options(r),
                parent=r.parent or "",
                dependencies=list(r.dependencies),
            )
            for r in resources
        ]
    )
    found |= {(d.policyName, d.urn or "stack") for d in stub.AnalyzeStack(stack).diagnostics}
    return found


def test_the_served_pack_lists_every_row_as_a_mandatory_policy(analyzer: Any) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "tiered-api-checklist"
    assert [p.name for p in info.policies] == [*POLICY_NAMES, SUPPRESSIONS_POLICY]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_the_served_pack_passes_the_real_dev_graph(analyzer: Any, recorded_graphs: dict[str, Graph]) -> None:
    assert _violations(analyzer, recorded_graphs["dev"].resources) == set()


@pytest.mark.parametrize("rule", ["APIGW-XRAY", "WAF-ASSOC", "IAM-NO-STAR"])
def test_the_served_pack_reports_what_the_adapter_reports(
    rule: str, analyzer: Any, recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN the real dev graph with one row broken (a resource row, a cross-resource row, a policy-document row)
    graph = recorded_graphs["dev"]
    broken = MUTATIONS[rule][1](graph.resources)
    # WHEN the analyzer server and the adapter judge it
    served = _violations(analyzer, broken)
    adapted = {(v.rule, v.urn or "stack") for v in evaluate(broken, make_context(graph.settings)).violations}
    # THEN they agree, and the row fires
    assert served == adapted
    assert {name for name, _ in served} == {rule}
