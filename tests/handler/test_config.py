"""Configuration comes only from the environment, and a bad environment stops the cold start with a
message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from handler import config
from handler.config import REQUIRED_VARIABLES, ConfigError, Settings, load_settings
from tools.mocks import ROOT

VALID = {
    config.ENV_ITEMS_TABLE_NAME: "items-dev",
    config.ENV_RATE_LIMIT_TABLE_NAME: "rate-limit-dev",
    config.ENV_RATE_LIMIT_REQUESTS: "50",
    config.ENV_RATE_LIMIT_WINDOW_SECONDS: "60",
    config.ENV_RATE_LIMIT_FAIL_OPEN: "False",
    config.ENV_POWERTOOLS_SERVICE_NAME: "tiered-api",
    config.ENV_POWERTOOLS_METRICS_NAMESPACE: "TieredApi",
}


def test_valid_environment_loads_typed_settings():
    assert load_settings(VALID) == Settings(
        items_table_name="items-dev",
        rate_limit_table_name="rate-limit-dev",
        rate_limit_requests=50,
        rate_limit_window_seconds=60,
        rate_limit_fail_open=False,
        service_name="tiered-api",
        metrics_namespace="TieredApi",
    )


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_fail_open_is_read_whatever_the_case_of_true(value):
    assert load_settings({**VALID, config.ENV_RATE_LIMIT_FAIL_OPEN: value}).rate_limit_fail_open is True


def test_the_longest_window_allowed_loads():
    longest = load_settings({**VALID, config.ENV_RATE_LIMIT_WINDOW_SECONDS: "86400"})

    assert longest.rate_limit_window_seconds == 86400


@pytest.mark.parametrize(
    ("name", "field"),
    [
        (config.ENV_RATE_LIMIT_REQUESTS, "rate_limit_requests"),
        (config.ENV_RATE_LIMIT_WINDOW_SECONDS, "rate_limit_window_seconds"),
    ],
)
def test_a_limit_or_window_of_one_loads(name, field):
    assert getattr(load_settings({**VALID, name: "1"}), field) == 1


# DynamoDB's rule for table names: 3-255 characters of A-Z a-z 0-9 _ . -
@pytest.mark.parametrize(
    "table_name", ["abc", "a" * 255, "items_v2.dev-1"], ids=["shortest", "longest", "every-punctuation"]
)
def test_table_names_dynamodb_allows_load(table_name):
    assert load_settings({**VALID, config.ENV_ITEMS_TABLE_NAME: table_name}).items_table_name == table_name


@pytest.mark.parametrize("name", REQUIRED_VARIABLES)
def test_missing_variable_is_named(name):
    environment = {key: value for key, value in VALID.items() if key != name}

    with pytest.raises(ConfigError, match=f"{name} is missing"):
        load_settings(environment)


def test_an_empty_environment_is_reported_missing_each_required_variable_once():
    with pytest.raises(ConfigError) as raised:
        load_settings({})

    problems = str(raised.value).removeprefix("invalid handler configuration: ").split("; ")
    assert sorted(problems) == sorted(f"{name} is missing" for name in REQUIRED_VARIABLES)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (config.ENV_ITEMS_TABLE_NAME, "ab"),
        (config.ENV_ITEMS_TABLE_NAME, "a" * 256),
        (config.ENV_ITEMS_TABLE_NAME, "items table"),
        (config.ENV_RATE_LIMIT_TABLE_NAME, "rate/limit"),
        (config.ENV_RATE_LIMIT_REQUESTS, "0"),
        (config.ENV_RATE_LIMIT_REQUESTS, "-5"),
        (config.ENV_RATE_LIMIT_REQUESTS, "ten"),
        (config.ENV_RATE_LIMIT_REQUESTS, "1.5"),
        (config.ENV_RATE_LIMIT_WINDOW_SECONDS, "0"),
        (config.ENV_RATE_LIMIT_WINDOW_SECONDS, "86401"),
        (config.ENV_RATE_LIMIT_FAIL_OPEN, "yes"),
        (config.ENV_RATE_LIMIT_FAIL_OPEN, "1"),
        (config.ENV_POWERTOOLS_METRICS_NAMESPACE, "   "),
    ],
)
def test_invalid_variable_is_named_with_its_value(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**VALID, name: value})


def test_every_problem_is_reported_at_once():
    environment = {**VALID, config.ENV_RATE_LIMIT_REQUESTS: "0", config.ENV_RATE_LIMIT_FAIL_OPEN: "maybe"}
    del environment[config.ENV_ITEMS_TABLE_NAME]

    with pytest.raises(ConfigError) as raised:
        load_settings(environment)

    message = str(raised.value)
    for name in (
        config.ENV_ITEMS_TABLE_NAME,
        config.ENV_RATE_LIMIT_REQUESTS,
        config.ENV_RATE_LIMIT_FAIL_OPEN,
    ):
        assert name in message


@pytest.mark.parametrize("name", [config.ENV_RATE_LIMIT_WINDOW_SECONDS, config.ENV_ITEMS_TABLE_NAME])
def test_cold_start_fails_naming_the_bad_variable(name):
    # GIVEN a Lambda environment with one variable missing
    environment = {key: value for key, value in {**os.environ, **VALID}.items() if key != name}

    # WHEN the runtime imports the handler (a cold start)
    result = subprocess.run(
        [sys.executable, "-c", "import handler.app"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # THEN the import fails and says which variable
    assert result.returncode != 0
    assert f"ConfigError: invalid handler configuration: {name} is missing" in result.stderr
