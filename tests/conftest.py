"""Fixtures: a moto DynamoDB with the template's table, the functions, a call counter, a clock."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": "agent-sessions-test",
        "IDENTITIES_TABLE_NAME": "agent-sessions-identities-test",
        "ATTACHMENTS_BUCKET": "agent-sessions-attachments-test",
        "POWERTOOLS_SERVICE_NAME": "agent-sessions",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentSessions",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_ENDPOINT_URL_S3", None)

from agent_sessions import clock, runtime
from agent_sessions.store.client import dynamodb
from support import TENANT, LambdaContext, api_event, create_buckets, create_tables, dynamodb_local, load_function

TABLE_NAMES = {"SessionsTable": os.environ["TABLE_NAME"], "IdentitiesTable": os.environ["IDENTITIES_TABLE_NAME"]}
BUCKET_NAMES = {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]}

ROUTES = {
    "create": ("create_session", "POST", "/v1/agents/sessions"),
    "get": ("get_session", "GET", "/v1/agents/sessions/{session_id}"),
    "list": ("list_sessions", "POST", "/v1/agents/sessions/list"),
    "list_get": ("list_sessions", "GET", "/v1/agents/sessions"),
    "update": ("update_session", "PATCH", "/v1/agents/sessions/{session_id}"),
    "put": ("put_session", "PUT", "/v1/agents/sessions/{session_id}"),
    "terminate": ("terminate_session", "DELETE", "/v1/agents/sessions/{session_id}"),
    "append": ("append_messages", "POST", "/v1/agents/sessions/{session_id}/messages"),
    "history": ("get_history", "GET", "/v1/agents/sessions/{session_id}/history"),
    "rewind": ("rewind_messages", "DELETE", "/v1/agents/sessions/{session_id}/messages"),
    "context": ("get_context", "GET", "/v1/agents/sessions/{session_id}/context"),
    "fork": ("fork_session", "POST", "/v1/agents/sessions/{session_id}/fork"),
    "feedback": ("record_feedback", "POST", "/v1/agents/sessions/{session_id}/feedback"),
    "update_message": ("update_message", "PATCH", "/v1/agents/sessions/{session_id}/messages/{seq}"),
    "erase": ("erase_user", "DELETE", "/v1/agents/sessions"),
    "upload": ("create_upload", "POST", "/v1/agents/sessions/{session_id}/attachments"),
    "attachment": ("get_attachment", "GET", "/v1/agents/sessions/{session_id}/attachments/{attachment_id}"),
    "export": ("export_session", "GET", "/v1/agents/sessions/{session_id}/export"),
    "import": ("import_session", "POST", "/v1/agents/sessions/import"),
    "export_user": ("export_user", "GET", "/v1/agents/sessions/export"),
    "import_upload": ("create_import_upload", "POST", "/v1/agents/sessions/import/uploads"),
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

    def call(
        self,
        operation: str,
        *,
        session_id: str | None = None,
        seq: int | None = None,
        attachment_id: str | None = None,
        tenant: Any = "default",
        **kwargs: Any,
    ) -> dict:
        function, method, resource = ROUTES[operation]
        path_parameters = {"session_id": session_id} if session_id is not None else {}
        if seq is not None:
            path_parameters["seq"] = str(seq)
        if attachment_id is not None:
            path_parameters["attachment_id"] = attachment_id
        event = api_event(
            method,
            resource,
            path_parameters=path_parameters or None,
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
    from concurrent.futures import ThreadPoolExecutor

    from moto import mock_aws

    from agent_sessions.store import objects as object_store
    from agent_sessions.store import sessions as session_store

    with mock_aws(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="dynamodb") as serial:
        # moto's backend is not thread-safe (a transaction deep-copies the table while another
        # thread writes): the store's parallel calls run one at a time here. DynamoDB Local,
        # in tests/integration and tests/reliability, takes them in parallel as DynamoDB does.
        saved, session_store._pool = session_store._pool, serial
        saved_objects, object_store.object_pool = object_store.object_pool, lambda: serial  # type: ignore[assignment]
        runtime.reset()
        client = dynamodb()
        create_tables(client, TABLE_NAMES)
        create_buckets(object_store.s3(), BUCKET_NAMES)
        try:
            yield client
        finally:
            session_store._pool = saved
            object_store.object_pool = saved_objects  # type: ignore[assignment]
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
    """Every item of the sessions table but its layout marker (written with the table)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": os.environ["TABLE_NAME"]}
    while True:
        page = client.scan(**kwargs)
        items.extend(item for item in page["Items"] if item["PK"]["S"] != "LAYOUT")
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class SessionsTableCalls:
    """DynamoDB requests that touch the sessions table (the identities table's are not counted)."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, event_name: str, params: Any = None, **_: Any) -> None:
        import json

        if os.environ["TABLE_NAME"] in json.dumps(params, default=str):
            self.operations.append(event_name.rsplit(".", 1)[-1])


@pytest.fixture
def sessions_table_calls(table: Any) -> Iterator[SessionsTableCalls]:
    counter = SessionsTableCalls()
    table.meta.events.register("before-call.dynamodb", counter)
    yield counter
    table.meta.events.unregister("before-call.dynamodb", counter)


@pytest.fixture(scope="session")
def local_s3() -> Iterator[Any]:
    """The local runtime's S3 (moto's server, in memory here), for attachments and contents."""
    from local_runtime.s3 import LocalS3

    server = LocalS3(None)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_functions() -> Any:
    """The template's functions, imported once for the whole run (as warm Lambdas)."""
    from local_runtime.lambdas import Functions
    from local_runtime.template import read_stack

    stack = read_stack(table_names=TABLE_NAMES, parameters={"LogLevel": "WARNING"}, bucket_names=BUCKET_NAMES)
    return Functions(stack)


@pytest.fixture
def gateway(table: Any, local_functions: Any) -> Any:
    """The local runtime's API Gateway in front of the template's functions, in-process, with
    an empty authorizer cache."""
    from local_runtime.apigateway import Gateway

    runtime.reset()
    return Gateway(local_functions.stack, local_functions.invoke)


@dataclass
class Tenants:
    store: Any  # IdentityStore
    org_a: str
    org_b: str
    a_prod: str  # namespace ids
    a_staging: str
    b_prod: str
    a_full: str  # keys
    a_read: str
    a_staging_only: str
    a_revoked: str
    b_full: str


@pytest.fixture
def tenants(table: Any) -> Tenants:
    """Two organizations (acme: prod and staging; globex: prod) and keys of every kind."""
    from agent_sessions.identity.api_keys import READ_SCOPE, WRITE_SCOPE
    from agent_sessions.identity.store import IdentityStore
    from agent_sessions.settings import get_settings

    store = IdentityStore(get_settings())
    org_a = store.create_organization("acme").internal_id
    org_b = store.create_organization("globex").internal_id
    a_prod = store.create_namespace(org_a, "prod").namespace_id
    a_staging = store.create_namespace(org_a, "staging").namespace_id
    b_prod = store.create_namespace(org_b, "prod").namespace_id
    both = [READ_SCOPE, WRITE_SCOPE]
    revoked = store.create_key(org_a, namespaces=None, scopes=both)
    store.revoke_key(org_a, revoked.record.key_id)
    return Tenants(
        store=store,
        org_a=org_a,
        org_b=org_b,
        a_prod=a_prod,
        a_staging=a_staging,
        b_prod=b_prod,
        a_full=store.create_key(org_a, namespaces=None, scopes=both).key,
        a_read=store.create_key(org_a, namespaces=None, scopes=[READ_SCOPE]).key,
        a_staging_only=store.create_key(org_a, namespaces=["staging"], scopes=both).key,
        a_revoked=revoked.key,
        b_full=store.create_key(org_b, namespaces=None, scopes=both).key,
    )


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    """Amazon's DynamoDB Local for the whole run, started on first use."""
    if shutil.which("java") is None:
        pytest.skip("Java is not installed; DynamoDB Local needs Java 17")
    try:
        with dynamodb_local() as endpoint:
            yield endpoint
    except RuntimeError as error:
        pytest.fail(str(error))
