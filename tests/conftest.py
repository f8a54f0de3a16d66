"""Fixtures: a moto DynamoDB with the template's table, the functions, a call counter, a clock."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": "agent-sessions-test",
        "POWERTOOLS_SERVICE_NAME": "agent-sessions",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentSessions",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

from agent_sessions import clock, runtime
from agent_sessions.store.client import dynamodb
from support import TENANT, LambdaContext, api_event, create_tables, load_function

ROUTES = {
    "create": ("create_session", "POST", "/v1/agents/sessions"),
    "get": ("get_session", "GET", "/v1/agents/sessions/{session_id}"),
    "list": ("list_sessions", "POST", "/v1/agents/sessions/list"),
    "list_get": ("list_sessions", "GET", "/v1/agents/sessions"),
    "update": ("update_session", "PATCH", "/v1/agents/sessions/{session_id}"),
    "terminate": ("terminate_session", "DELETE", "/v1/agents/sessions/{session_id}"),
    "append": ("append_messages", "POST", "/v1/agents/sessions/{session_id}/messages"),
    "history": ("get_history", "GET", "/v1/agents/sessions/{session_id}/history"),
}


class CallCounter:
    """DynamoDB requests made by the service's client, counted with botocore's event hooks."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, event_name: str, **_: Any) -> None:
        self.calls[event_name.rsplit(".", 1)[-1]] += 1

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class Api:
    """Calls the functions' lambda_handler with real API Gateway events."""

    def __init__(self) -> None:
        self.tenant: dict[str, Any] | None = TENANT

    def call(self, operation: str, *, session_id: str | None = None, tenant: Any = "default", **kwargs: Any) -> dict:
        function, method, resource = ROUTES[operation]
        event = api_event(
            method,
            resource,
            path_parameters={"session_id": session_id} if session_id is not None else None,
            authorizer=self.tenant if tenant == "default" else tenant,
            **kwargs,
        )
        return load_function(function).lambda_handler(event, LambdaContext(function))

    def create(self, body: dict | None = None, **kwargs: Any) -> dict:
        return self.call("create", body={} if body is None else body, **kwargs)

    def created(self, body: dict | None = None, **kwargs: Any) -> dict:
        """Create and return the session (asserting success)."""
        import json

        response = self.create(body, **kwargs)
        assert response["statusCode"] == 200, response["body"]
        return json.loads(response["body"])


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = clock.now_ms()
        monkeypatch.setattr(clock, "now_ms", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def table() -> Iterator[Any]:
    """moto's in-process DynamoDB with the table built from template.yaml."""
    from moto import mock_aws

    with mock_aws():
        runtime.reset()
        client = dynamodb()
        create_tables(client, {"SessionsTable": os.environ["TABLE_NAME"]})
        yield client
        runtime.reset()


@pytest.fixture
def calls(table: Any) -> Iterator[CallCounter]:
    counter = CallCounter()
    table.meta.events.register("before-call.dynamodb", counter)
    yield counter
    table.meta.events.unregister("before-call.dynamodb", counter)


@pytest.fixture
def api(table: Any) -> Api:
    return Api()


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def scan_all(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": os.environ["TABLE_NAME"]}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
