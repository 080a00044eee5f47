"""The seeds' AWS sample handler, reproduced for measurement only (never deployed).

Source: aws-samples/aws-cdk-examples, ``python/apigw-http-api-lambda-dynamodb-python-cdk/lambda/apigw-handler/index.py``
(MIT-0), the handler of the CDK sample the seeds describe. Its behaviour is kept as is, faults included: one
module-level ``boto3.client("dynamodb")``, ``json.loads(event["body"])`` with no error handling (bad JSON or a
missing field raise, which API Gateway answers with 502), an unconditional ``put_item``, and a default row written
whenever the body is empty. Only the names are ours; its logging calls go to the root logger as upstream's do.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)

import boto3  # noqa: E402 (upstream's order: logger first, then the client)

dynamodb_client = boto3.client("dynamodb")

_OK_HEADERS = {"Content-Type": "application/json"}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    table = os.environ.get("TABLE_NAME")
    logging.info(f"## Loaded table name from environment variable DDB_TABLE: {table}")
    if event["body"]:
        item = json.loads(event["body"])
        logging.info(f"## Received payload: {item}")
        year = str(item["year"])
        title = str(item["title"])
        item_id = str(item["id"])
        dynamodb_client.put_item(
            TableName=table,
            Item={"year": {"N": year}, "title": {"S": title}, "id": {"S": item_id}},
        )
        return {
            "statusCode": 200,
            "headers": _OK_HEADERS,
            "body": json.dumps({"message": "Successfully inserted data!"}),
        }
    logging.info("## Received request without a payload")
    dynamodb_client.put_item(
        TableName=table,
        Item={"year": {"N": "2012"}, "title": {"S": "The Amazing Spider-Man 2"}, "id": {"S": str(uuid.uuid4())}},
    )
    return {"statusCode": 200, "headers": _OK_HEADERS, "body": json.dumps({"message": "Successfully inserted data!"})}
