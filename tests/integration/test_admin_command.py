"""The admin command as a user runs it: a separate process, pointed at a DynamoDB endpoint by
AWS_ENDPOINT_URL_DYNAMODB alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import boto3
import pytest

from support import ROOT, create_tables

pytestmark = pytest.mark.integration


def admin(endpoint: str, table: str, *argv: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "IDENTITIES_TABLE_NAME": table,
        "PYTHONPATH": str(ROOT / "layers" / "shared"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent_sessions.admin", "--json", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_admin_command_against_dynamodb_local(dynamodb_local_endpoint: str) -> None:
    table = f"identities-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local_endpoint)
    create_tables(client, {"IdentitiesTable": table})
    org = admin(dynamodb_local_endpoint, table, "create-org", "--name", "acme")["internal_id"]
    namespace = admin(dynamodb_local_endpoint, table, "create-namespace", "--org", org, "--name", "prod")
    issued = admin(dynamodb_local_endpoint, table, "create-key", "--org", org, "--scope", "sessions:read")
    keys = admin(dynamodb_local_endpoint, table, "list-keys", "--org", org)["keys"]
    assert [k["prefix"] for k in keys] == [issued["key"][:11]]
    revoked = admin(dynamodb_local_endpoint, table, "revoke-key", "--org", org, "--key-id", issued["key_id"])
    assert revoked["revoked_at"]
    stored = json.dumps(client.scan(TableName=table)["Items"])
    assert issued["key"] not in stored
    assert namespace["namespace_id"] in stored
