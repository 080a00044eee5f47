"""The GitHub workflows are checked like code: they parse, call only real make targets, pin their actions, ask for
the least permission, gate prod behind its environment and never let two updates of one stack overlap."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from components.api import RUNTIME
from tests.conftest import STACKS
from tools.mocks import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+|[0-9a-f]{40})$")
# Scopes a job may write, and what for: OIDC tokens for AWS, PR comments.
WRITABLE = {"id-token", "pull-requests"}
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
ROLE_VARIABLES = ("${{ vars.AWS_ROLE_ARN }}", "${{ secrets.AWS_ROLE_ARN }}")
# Prod's previews may assume a role in prod's own account.
PREVIEW_ROLE = "${{ matrix.stack == 'prod' && vars.AWS_PREVIEW_ROLE_ARN_PROD || vars.AWS_ROLE_ARN }}"
PULUMI = "pulumi/actions"
SETUP_PYTHON = "actions/setup-python"


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    # YAML 1.1 reads the key `on` as the boolean true.
    document["on"] = document.pop(True, document.get("on"))
    return document


def _workflows() -> list[str]:
    return sorted(path.name for path in WORKFLOWS.glob("*.yml"))


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def _uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@", 1)[0]


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def _pulumi_steps(workflow: dict[str, Any], command: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, job, step)
        for name, job in workflow["jobs"].items()
        for step in _steps(job)
        if _uses(step) == PULUMI and step["with"]["command"] == command
    ]


def test_there_is_a_pull_request_and_a_deploy_workflow() -> None:
    assert _workflows() == ["deploy.yml", "pull-request.yml"]


@pytest.mark.parametrize("name", _workflows())
def test_workflow_parses_with_jobs_and_triggers(name: str) -> None:
    workflow = _load(name)
    assert workflow["on"]
    assert workflow["jobs"]


@pytest.mark.parametrize("name", _workflows())
def test_every_make_target_a_job_runs_exists(name: str) -> None:
    targets = _makefile_targets()
    for job in _load(name)["jobs"].values():
        for step in _steps(job):
            for target in re.findall(r"\bmake\s+([A-Za-z0-9_.-]+)", str(step.get("run", ""))):
                assert target in targets, f"{name}: make {target} is not a Makefile target"


@pytest.mark.parametrize("name", _workflows())
def test_every_action_is_pinned_to_a_major_tag_or_a_commit(name: str) -> None:
    for job in _load(name)["jobs"].values():
        for step in _steps(job):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}: {step['uses']} is not pinned to vN or a commit SHA"


@pytest.mark.parametrize("name", _workflows())
def test_jobs_run_the_python_the_function_runs_on(name: str) -> None:
    # The tests run the handler as Lambda's runtime would: same Python minor version.
    setups = [step for job in _load(name)["jobs"].values() for step in _steps(job) if _uses(step) == SETUP_PYTHON]

    assert setups
    assert {str(step["with"]["python-version"]) for step in setups} == {RUNTIME.removeprefix("python")}


@pytest.mark.parametrize("name", _workflows())
def test_permissions_are_read_only_unless_a_job_needs_more(name: str) -> None:
    workflow = _load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}: job {job_name} does not state its permissions"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= WRITABLE, f"{name}: job {job_name} writes {writes - WRITABLE}"
        uses = {_uses(step) for step in _steps(job)}
        assert ("id-token" in writes) == (AWS_CREDENTIALS in uses), f"{name}: {job_name} id-token without OIDC"
        comments = any(
            step.get("with", {}).get("comment-on-pr") is True or "sticky-pull-request-comment" in _uses(step)
            for step in _steps(job)
        )
        assert ("pull-requests" in writes) == comments, f"{name}: {job_name} pull-requests: write without comments"


@pytest.mark.parametrize("name", _workflows())
def test_aws_credentials_come_from_oidc_and_the_pulumi_token_from_a_secret(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert not re.search(r"\b\d{12}\b", text), "an AWS account id in a workflow"
    assert "aws-access-key-id" not in text
    for job in _load(name)["jobs"].values():
        for step in _steps(job):
            if _uses(step) == AWS_CREDENTIALS:
                # A job bound to an environment takes that environment's deploy role, never a preview role.
                allowed = ROLE_VARIABLES if "environment" in job else (*ROLE_VARIABLES, PREVIEW_ROLE)
                assert step["with"]["role-to-assume"] in allowed
            if _uses(step) == PULUMI:
                assert step["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
                assert step["with"]["policyPacks"] == "policy"


def test_pull_requests_run_the_tests_then_preview_every_stack_with_an_edited_comment() -> None:
    workflow = _load("pull-request.yml")
    assert any("make test" in str(step.get("run")) for step in _steps(workflow["jobs"]["test"]))
    [(_, job, step)] = _pulumi_steps(workflow, "preview")
    assert "test" in job["needs"]
    assert job["strategy"]["matrix"]["stack"] == list(STACKS)
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["edit-pr-comment"] is True


def test_pull_requests_get_the_tier_review_as_a_second_sticky_comment() -> None:
    job = _load("pull-request.yml")["jobs"]["tiers"]
    runs = " ".join(str(step.get("run", "")) for step in _steps(job))
    assert "make tiers BASE=origin/${{ github.base_ref }}" in runs
    [sticky] = [step for step in _steps(job) if "sticky-pull-request-comment" in _uses(step)]
    assert sticky["with"]["header"] == "tier-review"
    checkout = next(step for step in _steps(job) if _uses(step) == "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0


def test_merges_update_dev_then_prod_behind_its_environment() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    ups = {step["with"]["stack-name"]: (job_name, job) for job_name, job, step in _pulumi_steps(workflow, "up")}
    assert set(ups) == set(STACKS)
    dev_job, _ = ups["dev"]
    _, prod = ups["prod"]
    assert prod["environment"] == "prod"
    needs = prod["needs"] if isinstance(prod["needs"], list) else [prod["needs"]]
    assert dev_job in needs


@pytest.mark.parametrize("name", _workflows())
def test_every_stack_update_has_its_own_non_cancelling_concurrency_group(name: str) -> None:
    groups = {}
    for _, job, step in _pulumi_steps(_load(name), "up"):
        stack = step["with"]["stack-name"]
        concurrency = job["concurrency"]
        assert stack in concurrency["group"]
        assert concurrency["cancel-in-progress"] is False
        groups[stack] = concurrency["group"]
    assert len(set(groups.values())) == len(groups)


def test_previews_of_one_pull_request_and_stack_replace_each_other() -> None:
    [(_, job, _)] = _pulumi_steps(_load("pull-request.yml"), "preview")
    assert "${{ matrix.stack }}" in job["concurrency"]["group"]
    assert "${{ github.event.pull_request.number }}" in job["concurrency"]["group"]
