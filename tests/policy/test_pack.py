"""The pack as CrossGuard sees it: every row a mandatory policy, run the way the analyzer runs them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.settings import load_settings
from policy.adapter import evaluate
from policy.checklist import CHECKLIST, SUPPRESSIONS_POLICY, build_policies
from policy.context import engine_context
from policy.graph import T
from tests.policy.conftest import CHECKLIST_ROWS, POLICY_NAMES, ContextFactory, Graph
from tests.policy.mutations import MUTATIONS, edit, setting
from tools.mocks import ROOT, cli_config, read_stack_config


def test_the_packs_requirements_are_pinned_as_the_program_and_tests_pin_them(
    requirement_pins: Callable[[str], dict[str, str]],
) -> None:
    # The Pulumi CLI builds policy/venv from this file; the rules import the program's settings and contract.
    pack = requirement_pins("policy/requirements.txt")
    repository = requirement_pins("requirements.txt") | requirement_pins("requirements-dev.txt")

    assert {"pulumi-policy", "pulumi", "pydantic"} <= pack.keys()
    assert {name: repository.get(name) for name in pack} == pack


def test_the_registry_holds_every_checklist_row_in_order() -> None:
    assert list(CHECKLIST) == CHECKLIST_ROWS


def test_every_policy_is_mandatory_and_named_after_its_row(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    context = make_context(reference_graphs["dev"].settings)
    policies = build_policies(lambda: context)
    assert [p.name for p in policies] == [*POLICY_NAMES, SUPPRESSIONS_POLICY]
    assert {p.enforcement_level for p in policies} == {EnforcementLevel.MANDATORY}
    assert all(isinstance(p, ResourceValidationPolicy | StackValidationPolicy) for p in policies)


def test_a_resource_violation_is_attributed_to_the_resource(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = reference_graphs["dev"]
    _, mutate = MUTATIONS["LAMBDA-TIMEOUT"]
    evaluation = evaluate(mutate(graph.resources), make_context(graph.settings))
    function = next(r for r in graph.resources if r.type == "aws:lambda/function:Function")
    assert [(v.rule, v.resource, v.urn) for v in evaluation.violations] == [
        ("LAMBDA-TIMEOUT", function.name, function.urn)
    ]


def test_an_unknown_value_makes_a_policy_unable_to_run_rather_than_fail(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN a preview in which the function's runtime is not known yet (CrossGuard's unknown sentinel)
    graph = reference_graphs["dev"]
    unknown = edit("aws:lambda/function:Function", setting("runtime", value=UNKNOWN_STRING_VALUE))(graph.resources)
    # WHEN the pack runs
    evaluation = evaluate(unknown, make_context(graph.settings))
    # THEN the runtime row cannot run (CrossGuard makes that advisory) and nothing is reported as violated
    assert evaluation.violations == []
    assert any(line.startswith("LAMBDA-RUNTIME: string value at .runtime") for line in evaluation.unknown)


def test_dropping_the_execution_log_group_breaks_log_retention(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = reference_graphs["dev"]
    kept = [r for r in graph.resources if not str(r.inputs.get("name", "")).startswith("API-Gateway-Execution-Logs_")]
    assert evaluate(kept, make_context(graph.settings)).rules() == {"LOG-RETENTION"}


def test_the_engine_context_reads_the_stack_and_config_the_cli_hands_the_analyzer(monkeypatch) -> None:
    # GIVEN the environment the Pulumi CLI gives a policy pack: stack name and config, values as strings
    config = read_stack_config(ROOT / "Pulumi.prod.yaml")
    monkeypatch.setenv("PULUMI_STACK", "prod")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(cli_config(config)))
    # WHEN the pack builds its context
    context = engine_context()
    # THEN it holds the same settings the program loads from the stack file
    assert context.stack == "prod"
    assert context.settings == load_settings("prod", config)


def test_a_key_policy_granting_every_kms_action_breaks_iam_no_star(
    recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = recorded_graphs["prod"]

    def grant_everything(inputs: dict) -> None:
        document = json.loads(inputs["policy"])
        document["Statement"][0]["Action"] = "kms:*"
        inputs["policy"] = json.dumps(document)

    broken = edit("aws:kms/key:Key", grant_everything)(graph.resources)
    assert evaluate(broken, make_context(graph.settings)).rules() == {"IAM-NO-STAR"}


def test_the_engine_context_accepts_a_qualified_stack_name(monkeypatch) -> None:
    config = read_stack_config(ROOT / "Pulumi.dev.yaml")
    monkeypatch.setenv("PULUMI_STACK", "acme/tiered-api/dev")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(cli_config(config)))
    assert engine_context().stack == "dev"


def test_access_logs_sent_to_a_log_group_the_stack_does_not_create_break_apigw_accesslog(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = reference_graphs["dev"]
    foreign = "arn:aws:logs:us-east-1:123456789012:log-group:someone-elses-group"
    broken = edit("aws:apigateway/stage:Stage", setting("accessLogSettings", "destinationArn", value=foreign))(
        graph.resources
    )
    assert evaluate(broken, make_context(graph.settings)).rules() == {"APIGW-ACCESSLOG"}


def test_a_function_subnet_routed_to_an_internet_gateway_breaks_lambda_vpc(
    reference_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN the hand-built dev graph plus an internet gateway and a default route to it in one private route table
    graph = reference_graphs["dev"]
    table = next(r for r in graph.resources if r.type == "aws:ec2/routeTable:RouteTable")
    gateway = dataclasses.replace(
        table,
        urn=table.urn.replace("RouteTable", "InternetGateway") + "-igw",
        type="aws:ec2/internetGateway:InternetGateway",
        name=f"{table.name}-igw",
        inputs={"vpcId": "vpc-id"},
        dependencies=(),
    )
    route = dataclasses.replace(
        table,
        urn=table.urn + "-default",
        type="aws:ec2/route:Route",
        name=f"{table.name}-default",
        inputs={
            "routeTableId": f"{table.name}-id",
            "destinationCidrBlock": "0.0.0.0/0",
            "gatewayId": f"{gateway.name}-id",
        },
        dependencies=(table.urn, gateway.urn),
    )
    # WHEN the pack judges it
    evaluation = evaluate([*graph.resources, gateway, route], make_context(graph.settings))
    # THEN the function's subnets are not private any more
    assert evaluation.rules() == {"LAMBDA-VPC"}
    assert "route to an internet or NAT gateway" in evaluation.violations[0].message


def test_an_api_key_value_written_in_the_program_breaks_the_key_value_part_of_usage_plans(
    recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    # GIVEN the deployed dev graph, whose keys all report the value AWS generated, and one key whose value the
    # program wrote
    graph = recorded_graphs["dev"]
    broken = edit(T.API_KEY, setting("value", value="written-in-the-program"))(graph.resources)
    # THEN only that key is reported, by the part of the row that sees inputs
    written = next(r for r in broken if r.type == T.API_KEY)
    evaluation = evaluate(broken, make_context(graph.settings))
    assert [(v.rule, v.urn) for v in evaluation.violations] == [("APIGW-USAGEPLANS-KEY-VALUE", written.urn)]


def test_a_table_on_a_kms_key_the_stack_does_not_manage_breaks_ddb_sse_where_the_stack_asks_for_its_own(
    recorded_graphs: dict[str, Graph], make_context: ContextFactory
) -> None:
    graph = recorded_graphs["prod"]
    foreign_key = "arn:aws:kms:us-east-1:123456789012:key/not-this-stacks"
    broken = [
        dataclasses.replace(r, dependencies=tuple(d for d in r.dependencies if T.KMS_KEY not in d))
        for r in edit(T.TABLE, setting("serverSideEncryption", "kmsKeyArn", value=foreign_key))(graph.resources)
    ]
    assert "DDB-SSE" in evaluate(broken, make_context(graph.settings)).rules()
