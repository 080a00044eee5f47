"""Fixtures shared by every test package: a real DynamoDB Local for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.dynamodb_local import DynamoDBLocal

# DynamoDB Local accepts any credentials, but scopes tables by access key and region (without
# -sharedDb): everything in the session uses these, through the environment, as boto3 would on Lambda.
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_NEVER_FROM_THE_MACHINE = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """A DynamoDB Local server (in memory, free port) with the environment pointing boto3 at it."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _NEVER_FROM_THE_MACHINE:
            patch.delenv(name, raising=False)
        for name, value in LOCAL_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        server = DynamoDBLocal().start()
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint_url)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_local: DynamoDBLocal) -> Any:
    """A boto3 DynamoDB client for DynamoDB Local, configured only through the environment."""
    import boto3

    return boto3.client("dynamodb")
