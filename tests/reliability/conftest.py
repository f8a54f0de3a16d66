"""The reliability suite's harness: the whole local runtime (its API Gateway with the
authorizer, the template's functions as warm environments, a real HTTP server) in this
process, on DynamoDB Local, with a real organization, namespace and API key.

In-process so that faults can be injected into the functions' DynamoDB client with
botocore's event hooks. `RELIABILITY_SCALE=full` (make test-reliability) multiplies the
clients, requests and examples; the default is the bounded form `make test` runs.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from agent_sessions import runtime
from conftest import TABLE_NAMES
from support import create_buckets, create_tables

FULL = os.environ.get("RELIABILITY_SCALE", "bounded") == "full"


def scale(bounded: int, full: int) -> int:
    return full if FULL else bounded


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes

    @property
    def error(self) -> dict[str, Any]:
        return dict(self.body["error"])


class LiveApi:
    """An HTTP client for the running local runtime, authenticated as the suite's tenant."""

    def __init__(
        self, base_url: str, key: str, namespace: str, namespace_id: str, table: Any, organization: str = ""
    ) -> None:
        self.base_url = base_url
        self.key = key  # valid in every namespace of the organization
        self.namespace = namespace
        self.namespace_id = namespace_id
        self.table = table  # a boto3 client on the same DynamoDB Local, for stored-state checks
        self.organization = organization  # its internal id, for tests that need more namespaces
        self._local = threading.local()

    def new_namespace(self, name: str) -> str:
        """A new, empty namespace of the same organization (the key works in it): its name."""
        from agent_sessions.identity.store import IdentityStore
        from agent_sessions.settings import get_settings

        return IdentityStore(get_settings()).create_namespace(self.organization, name).name

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            parts = urlsplit(self.base_url)
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
            self._local.connection = connection
        return connection

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        auth: bool = True,
    ) -> Reply:
        sent = dict(headers or {})
        if auth:
            sent.setdefault("Authorization", f"Bearer {self.key}")
            sent.setdefault("X-Namespace", self.namespace)
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        for attempt in range(2):  # one reconnect: the server may have closed an idle keep-alive
            connection = self._connection()
            try:
                connection.request(method, path, body=payload, headers=sent)
                response = connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        text = data.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed, data)

    def create(self, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Reply:
        return self.request(
            "POST", "/v1/agents/sessions", body if body is not None else {"user_id": "u1"}, headers=headers
        )

    def session(self, session_id: str) -> Reply:
        return self.request("GET", f"/v1/agents/sessions/{session_id}")

    def history(self, session_id: str, query: str = "limit=1000") -> Reply:
        return self.request("GET", f"/v1/agents/sessions/{session_id}/history?{query}")

    def scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": TABLE_NAMES["SessionsTable"], "ConsistentRead": True}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def live_api(
    dynamodb_local_endpoint: str, local_s3: Any, local_functions: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveApi]:
    from agent_sessions.identity.api_keys import READ_SCOPE, WRITE_SCOPE
    from agent_sessions.identity.store import IdentityStore
    from agent_sessions.settings import get_settings
    from local_runtime.apigateway import Gateway
    from local_runtime.server import LocalServer

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_s3.endpoint)  # attachments, large contents
    runtime.reset()
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local_endpoint)
    create_tables(client, TABLE_NAMES)
    create_buckets(local_s3.client(), {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]}, existing_ok=True)
    identities = IdentityStore(get_settings())
    organization = identities.create_organization("reliability").internal_id
    namespace = identities.create_namespace(organization, "suite")
    key = identities.create_key(organization, namespaces=None, scopes=[READ_SCOPE, WRITE_SCOPE]).key

    with open(os.devnull, "w") as quiet:
        server = LocalServer(
            ("127.0.0.1", 0), Gateway(local_functions.stack, local_functions.invoke), local_functions, access_log=quiet
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield LiveApi(server.base_url, key, namespace.name, namespace.namespace_id, client, organization)
        finally:
            server.shutdown()
            server.server_close()
            for name in TABLE_NAMES.values():
                client.delete_table(TableName=name)
            runtime.reset()


def every_message(api: LiveApi, session_id: str) -> list[dict[str, Any]]:
    """The whole history, oldest first, page by page through the API."""
    messages: list[dict[str, Any]] = []
    query = "limit=100"
    while True:
        reply = api.history(session_id, query)
        assert reply.status == 200, reply.body
        messages.extend(reply.body["messages"])
        if not reply.body["has_more"]:
            return messages
        query = f"limit=100&cursor={reply.body['next_cursor']}"


def retried(send: Any, *, attempts: int = 40) -> Reply:
    """What a well-behaved client does: on 429/503 wait for Retry-After (shortened here)
    and send the very same request again (same Idempotency-Key)."""
    import time

    for _ in range(attempts):
        reply: Reply = send()
        if reply.status not in (429, 503):
            return reply
        assert reply.headers.get("retry-after", "").isdigit(), reply.headers
        time.sleep(0.01)
    return reply
