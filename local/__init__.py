"""The local stack behind ``make dev`` and the tests: DynamoDB Local runner and gateway emulation."""

__all__ = ["dynamodb_local"]
