"""make tiers: the tier-change review shows what a commit to the stack files changes, and only that."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tools.mocks import ROOT, stack_settings
from tools.tiers import main

STACK_FILES = ("Pulumi.dev.yaml", "Pulumi.prod.yaml")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _edit(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _premium_rate(rate: float):
    """An edit for ``_edit``: the Premium plan's throttle rate set to ``rate``."""

    def change(config: dict) -> None:
        config["tiered-api:plans"]["premium"]["throttle"]["rateLimit"] = rate

    return change


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding copies of the real stack files, committed once."""
    _git(tmp_path, "init", "-q")
    for name in STACK_FILES:
        (tmp_path / name).write_text((ROOT / name).read_text())
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "stack files")
    return tmp_path


def _changes_section(markdown: str) -> str:
    return markdown.split("### Changes", 1)[1].split("###", 1)[0]


def _change_rows(markdown: str) -> list[list[str]]:
    section = _changes_section(markdown)
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| stack")]
    return [[cell.strip().strip("`*") for cell in row.strip("|").split("|")] for row in rows]


def test_raising_premiums_rate_shows_that_one_change_and_nothing_else(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod's Premium plan at 80 rps, then a commit raising it to 100 (the real file's value: the stage's rate)
    _edit(repo / "Pulumi.prod.yaml", _premium_rate(80))
    _git(repo, "commit", "-q", "-am", "premium at 80 rps")

    _edit(repo / "Pulumi.prod.yaml", _premium_rate(100))
    _git(repo, "commit", "-q", "-am", "premium at 100 rps")
    # WHEN the review compares with the previous commit
    status = main(["--base", "HEAD~1", "--root", str(repo)])
    # THEN exactly that change is listed
    output = capsys.readouterr().out
    assert status == 0
    assert _change_rows(output) == [["prod", "plan premium", "throttle.rateLimit", "80", "100"]]


def test_a_fractional_rate_is_shown_with_its_fraction(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = yaml.safe_load((repo / "Pulumi.dev.yaml").read_text())["config"]["tiered-api:plans"]["premium"]
    _edit(repo / "Pulumi.dev.yaml", _premium_rate(2.5))

    assert main(["--base", "HEAD", "--root", str(repo)]) == 0

    assert _change_rows(capsys.readouterr().out) == [
        ["dev", "plan premium", "throttle.rateLimit", f"{before['throttle']['rateLimit']:g}", "2.5"]
    ]


def test_a_tier_added_in_this_change_lists_each_of_its_settings_as_previously_unset(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def add_gold(config: dict) -> None:
        config["tiered-api:plans"]["gold"] = {
            "description": "Gold tier",
            "throttle": {"rateLimit": 20, "burstLimit": 40},
            "quota": {"limit": 500, "period": "DAY"},
        }

    _edit(repo / "Pulumi.prod.yaml", add_gold)

    assert main(["--base", "HEAD", "--root", str(repo)]) == 0

    assert _change_rows(capsys.readouterr().out) == [
        ["prod", "plan gold", "description", "unset", "Gold tier"],
        ["prod", "plan gold", "quota.limit", "unset", "500"],
        ["prod", "plan gold", "quota.period", "unset", "DAY"],
        ["prod", "plan gold", "throttle.burstLimit", "unset", "40"],
        ["prod", "plan gold", "throttle.rateLimit", "unset", "20"],
    ]


def test_a_setting_emptied_is_shown_as_empty(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def clear_description(config: dict) -> None:
        config["tiered-api:plans"]["premium"]["description"] = ""

    before = yaml.safe_load((repo / "Pulumi.prod.yaml").read_text())["config"]["tiered-api:plans"]["premium"]
    _edit(repo / "Pulumi.prod.yaml", clear_description)
    assert main(["--base", "HEAD", "--root", str(repo)]) == 0
    assert _change_rows(capsys.readouterr().out) == [
        ["prod", "plan premium", "description", before["description"], "(empty)"]
    ]


def test_the_review_shows_every_stacks_effective_limits_side_by_side(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(repo)]) == 0
    output = capsys.readouterr().out
    assert "| limit | dev | prod |" in output
    assert (
        "| plan premium | 10 rps, burst 20, quota 5,000 per day | 100 rps, burst 200, quota 50,000 per day |" in output
    )
    assert "### Changes" not in output


def test_a_change_that_adds_a_capacity_warning_is_flagged_as_new(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def starve_lambda(config: dict) -> None:
        config["tiered-api:lambda"]["reservedConcurrency"] = 10

    _edit(repo / "Pulumi.prod.yaml", starve_lambda)
    _git(repo, "commit", "-q", "-am", "less concurrency")
    assert main(["--base", "HEAD~1", "--root", str(repo)]) == 0
    output = capsys.readouterr().out
    assert _change_rows(output) == [["prod", "Lambda", "reservedConcurrency", "100", "10"]]
    assert "- **prod** (new in this change): lambda.reservedConcurrency (10) is below" in output


def test_a_capacity_warning_the_base_already_gave_is_not_flagged_as_new(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod's stack file, which gives capacity warnings, and a change that leaves them as they were
    warnings = stack_settings("prod").capacity_warnings()
    assert warnings

    def more_memory(config: dict) -> None:
        config["tiered-api:lambda"]["memoryMb"] *= 2

    _edit(repo / "Pulumi.prod.yaml", more_memory)
    # WHEN the review compares with the last commit
    assert main(["--base", "HEAD", "--root", str(repo)]) == 0
    # THEN prod's warnings are listed without being called new
    section = capsys.readouterr().out.split("### Capacity warnings", 1)[1]
    assert [line for line in section.splitlines() if line.startswith("- **prod**")] == [
        f"- **prod**: {warning}" for warning in warnings
    ]


def test_an_invalid_stack_file_is_reported_and_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo / "Pulumi.dev.yaml", _premium_rate(1000))  # above dev's stage rate: invalid
    assert main(["--base", "HEAD", "--root", str(repo)]) == 2
    output = capsys.readouterr().out
    assert "### Invalid stack files" in output
    assert "plans.premium.throttle.rateLimit: must be at most the stage's" in output


def test_a_stack_file_invalid_at_the_base_is_named_and_left_to_compare_by_hand(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a commit that broke dev's stack file, then a change that mends it
    valid = (repo / "Pulumi.dev.yaml").read_text()
    _edit(repo / "Pulumi.dev.yaml", _premium_rate(1000))  # above dev's stage rate: invalid
    _git(repo, "commit", "-q", "-am", "premium above the stage")
    (repo / "Pulumi.dev.yaml").write_text(valid)
    # WHEN the review compares with the broken commit
    main(["--base", "HEAD", "--root", str(repo)])
    # THEN it names the stack and the ref whose file was invalid, rather than listing changes against it
    changes = _changes_section(capsys.readouterr().out)
    assert "- **dev**: the stack file at `HEAD` was invalid; compare by hand" in changes
    assert "plans.premium.throttle.rateLimit: must be at most the stage's" in changes
    assert "| dev |" not in changes


def test_an_unknown_base_ref_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base", "no-such-ref", "--root", str(repo)]) == 2
    assert "cannot resolve 'no-such-ref'" in capsys.readouterr().err


def test_an_invalid_stack_file_is_said_to_be_not_compared_rather_than_unchanged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN dev's stack file made invalid, and prod's unchanged
    _edit(repo / "Pulumi.dev.yaml", _premium_rate(1000))  # above dev's stage rate: invalid
    # WHEN the review compares with the last commit
    assert main(["--base", "HEAD", "--root", str(repo)]) == 2
    # THEN the changes say dev was not compared, instead of claiming nothing changed
    changes = _changes_section(capsys.readouterr().out)
    assert "No effective setting changes" not in changes
    assert (
        "- **dev**: the stack file is invalid (errors under *Invalid stack files*), so it was not compared" in changes
    )


def test_an_unknown_base_ref_is_explained_in_the_review(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a base ref git does not know
    # WHEN the review runs against it
    assert main(["--base", "no-such-ref", "--root", str(repo)]) == 2
    # THEN the Markdown (the PR comment) says why nothing was compared
    changes = _changes_section(capsys.readouterr().out)
    assert "Not compared with `no-such-ref`: git cannot resolve 'no-such-ref'" in changes
