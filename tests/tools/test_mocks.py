"""The mocks harness: realistic invokes, loud failures for unmocked ones, program runs per stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.settings import ConfigError, stack_names
from tools.mocks import ACCOUNT_ID, ROOT, TieredApiMocks, load_stack_file, load_stack_text, run_components, run_program


def _call(mocks: TieredApiMocks, token: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    result, failures = mocks.call(pulumi.runtime.MockCallArgs(token, args or {}, ""))
    assert not failures
    return result


def test_region_invoke_answers_the_stacks_region() -> None:
    assert _call(TieredApiMocks("eu-west-1"), "aws:index/getRegion:getRegion")["region"] == "eu-west-1"


def test_availability_zones_belong_to_the_region() -> None:
    names = _call(TieredApiMocks("eu-west-1"), "aws:index/getAvailabilityZones:getAvailabilityZones")["names"]

    assert len(names) >= 3
    assert all(name.startswith("eu-west-1") for name in names)


def test_policy_document_invoke_renders_the_statements_as_aws_json() -> None:
    statements = [
        {
            "effect": "Allow",
            "actions": ["dynamodb:GetItem"],
            "resources": ["arn:aws:dynamodb:us-east-1:123456789012:table/items"],
            "principals": [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}],
            "conditions": [{"test": "StringEquals", "variable": "aws:SourceAccount", "values": ["1"]}],
        }
    ]

    rendered = json.loads(
        _call(TieredApiMocks("us-east-1"), "aws:iam/getPolicyDocument:getPolicyDocument", {"statements": statements})[
            "json"
        ]
    )

    assert rendered["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/items"],
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Condition": {"StringEquals": {"aws:SourceAccount": ["1"]}},
        }
    ]


def test_an_unmocked_invoke_fails_loudly_instead_of_answering_empty() -> None:
    with pytest.raises(NotImplementedError, match="aws:ec2/getVpc:getVpc"):
        _call(TieredApiMocks("us-east-1"), "aws:ec2/getVpc:getVpc")


def test_computed_arns_carry_region_and_the_placeholder_account() -> None:
    mocks = TieredApiMocks("eu-central-1")
    _, state = mocks.new_resource(
        pulumi.runtime.MockResourceArgs("aws:dynamodb/table:Table", "items", {"name": "items"}, None, None, True)
    )

    assert state["arn"] == f"arn:aws:dynamodb:eu-central-1:{ACCOUNT_ID}:table/items"
    assert state["streamArn"].startswith(state["arn"] + "/stream/")


def test_program_run_reports_the_capacity_warnings_it_logged() -> None:
    run = run_program("prod")

    assert run.warnings == run.settings.capacity_warnings()
    assert run.warnings, "prod's burst above its reserved concurrency should warn"


def test_program_run_validates_before_running(
    stack_config: Callable[[str], dict[str, Any]], write_stack_file: Callable[..., Path]
) -> None:
    config = stack_config("dev")
    config["tiered-api:lambda"]["timeoutSeconds"] = 300
    path = write_stack_file(config)

    with pytest.raises(ConfigError, match=rf"^{path}: invalid configuration"):
        run_program("dev", config_file=path)


def test_a_key_given_twice_in_one_map_is_refused_with_both_lines() -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    consumers = "  tiered-api:consumers:\n"
    assert consumers in text
    # A second entry for the same consumer, as a hurried edit leaves it: YAML keeps only one of them.
    edited = text.replace(consumers, consumers + "    premium-client:\n      plan: standard\n")
    first, second = (n for n, line in enumerate(edited.splitlines(), 1) if line == "    premium-client:")

    with pytest.raises(ConfigError) as caught:
        load_stack_text("prod", edited, "Pulumi.prod.yaml")

    (problem,) = caught.value.problems
    assert f"key 'premium-client' is given twice in one map, at lines {first} and {second}" in problem


def test_a_map_may_override_the_keys_it_merges_in() -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    premium = "    premium:\n"
    assert premium in text
    # The premium tier written as the standard one (an anchor merged in) with its own values on top.
    standard = "    standard: &standard\n"
    edited = text.replace("    standard:\n", standard).replace(premium, premium + "      <<: *standard\n")

    settings, _ = load_stack_text("prod", edited, "Pulumi.prod.yaml")

    assert settings == load_stack_file("prod")[0]


def test_a_consumer_named_secure_is_not_taken_for_an_encrypted_value(
    stack_config: Callable[[str], dict[str, Any]], write_stack_file: Callable[..., Path]
) -> None:
    config = stack_config("prod")
    config["tiered-api:consumers"] = {"secure": {"plan": "standard"}}

    settings, _ = load_stack_file("prod", write_stack_file(config))

    assert settings.consumers["secure"].plan == "standard"


def test_an_encrypted_value_is_named_with_its_key_path_and_why_it_cannot_be_checked(
    stack_config: Callable[[str], dict[str, Any]], write_stack_file: Callable[..., Path]
) -> None:
    config = stack_config("prod")
    config["tiered-api:alarms"]["email"] = {"secure": "v1:AAAABBBB"}

    with pytest.raises(ConfigError) as caught:
        load_stack_file("prod", write_stack_file(config))

    (problem,) = caught.value.problems
    assert problem.startswith("tiered-api:alarms.email: is an encrypted (secure) value")
    assert "write it in plain text" in problem


def test_a_stack_without_a_stack_file_is_named_with_the_stacks_there_are() -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack_file("staging")

    assert str(caught.value).startswith("Pulumi.staging.yaml: ")
    assert caught.value.problems == [f"no such stack file; the stacks here are {', '.join(stack_names(ROOT))}"]


def test_components_run_alone_are_recorded_with_parent_and_dependencies(stack_runs: dict[str, Any]) -> None:
    import pulumi_aws as aws

    class Pair(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("tieredapi:test:Pair", name, None, None)
            table = aws.dynamodb.Table(
                f"{name}-table",
                hash_key="id",
                attributes=[{"name": "id", "type": "S"}],
                billing_mode="PAY_PER_REQUEST",
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.cloudwatch.LogGroup(
                f"{name}-logs",
                name=table.arn.apply(lambda arn: f"/audit/{arn.rsplit('/', 1)[-1]}"),
                retention_in_days=7,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.register_outputs({})

    run = run_components(stack_runs["dev"].settings, lambda _settings: Pair("pair"))

    pair, table, logs = run.one("tieredapi:test:Pair"), run.named("pair-table"), run.named("pair-logs")
    assert {r.name for r in run.children_of(pair)} == {"pair-table", "pair-logs"}
    assert run.depends_on(logs, table)
    assert not run.depends_on(table, logs)
    assert logs.inputs["name"] == "/audit/pair-table"
    assert logs.inputs["retentionInDays"] == 7
