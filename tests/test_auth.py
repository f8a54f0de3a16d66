"""Authentication and tenancy: the authorizer alone, then the authorizer and the handlers
together behind the local API Gateway, across every tenant boundary."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from agent_sessions.authorizer import UnauthorizedSignal, authorize
from agent_sessions.identity.api_keys import READ_SCOPE, bearer_key, key_digest, new_api_key
from conftest import ROUTES, Tenants, scan_all
from local_runtime.apigateway import HttpRequest, policy_allows
from support import body_of, minimal_export_file

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/v1/agents/sessions/ses_x"


def request_event(authorization: str | None, namespace: str | None, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com"}
    if authorization is not None:
        headers["Authorization"] = authorization
    if namespace is not None:
        headers["X-Namespace"] = namespace
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": "/v1/agents/sessions/{session_id}",
        "path": "/v1/agents/sessions/ses_x",
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {"session_id": "ses_x"},
        "stageVariables": {},
        "requestContext": {"requestId": "r1", "stage": "dev", "httpMethod": "GET"},
    }


def arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:us-east-1:123456789012:abc123/dev/{method}{path}"


# --- the authorizer on its own -----------------------------------------------------------------


def test_allow_hands_the_handlers_their_context(tenants: Tenants) -> None:
    result = authorize(request_event(f"Bearer {tenants.a_full}", tenants.a_prod), tenants.store)
    context = result["context"]
    assert context["internal_id"] == tenants.org_a
    assert context["namespace_id"] == tenants.a_prod
    assert context["key_id"].startswith("key_")
    assert context["scopes"] == "sessions:read sessions:write"
    assert result["principalId"] == context["key_id"]
    policy = result["policyDocument"]
    # One decision serves every route (API Gateway caches it per identity): all are allowed.
    for method, path in [("POST", "/v1/agents/sessions"), ("GET", "/v1/agents/sessions/ses_1/history")]:
        assert policy_allows(policy, arn(method, path)) == (True, False)


def test_namespace_by_name_resolves_within_the_keys_organization(tenants: Tenants) -> None:
    by_name = authorize(request_event(f"Bearer {tenants.a_full}", "staging"), tenants.store)
    assert by_name["context"]["namespace_id"] == tenants.a_staging
    # Both organizations have a namespace named "prod": each key gets its own.
    a = authorize(request_event(f"Bearer {tenants.a_full}", "prod"), tenants.store)
    b = authorize(request_event(f"Bearer {tenants.b_full}", "prod"), tenants.store)
    assert a["context"]["namespace_id"] == tenants.a_prod
    assert b["context"]["namespace_id"] == tenants.b_prod


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "   ",
        "Bearer",
        "Bearer ",
        "sk_" + "a" * 43,  # no scheme
        "Basic dXNlcjpwYXNz",
        "Bearer sk_short",
        "Bearer pk_" + "a" * 43,
        "Bearer sk_" + "a" * 42 + "é",  # non-ASCII
        "Bearer sk_" + "a" * 43 + " trailing",
        "Bearer sk_" + "a" * 100_000,  # huge
        "Bearer " + "\x00" * 50,
    ],
)
def test_malformed_authorization_is_401_without_a_lookup(tenants: Tenants, authorization: str, calls: Any) -> None:
    calls.reset()
    with pytest.raises(UnauthorizedSignal) as raised:
        authorize(request_event(authorization, tenants.a_prod), tenants.store)
    assert str(raised.value) == "Unauthorized"  # the exact text API Gateway turns into 401
    assert calls.total == 0


def test_bearer_scheme_is_case_insensitive(tenants: Tenants) -> None:
    assert bearer_key(f"bearer {tenants.a_full}") == tenants.a_full
    result = authorize(request_event(f"BEARER {tenants.a_full}", "prod"), tenants.store)
    assert result["context"]["namespace_id"] == tenants.a_prod


@pytest.mark.parametrize("which", ["unknown", "revoked"])
def test_unknown_and_revoked_keys_are_401(tenants: Tenants, which: str) -> None:
    key = new_api_key() if which == "unknown" else tenants.a_revoked
    with pytest.raises(UnauthorizedSignal):
        authorize(request_event(f"Bearer {key}", tenants.a_prod), tenants.store)


@pytest.mark.parametrize(
    ("key", "namespace"),
    [
        ("b_full", "a_prod"),  # another organization's namespace id
        ("a_staging_only", "a_prod"),  # limited to another namespace
        ("a_staging_only", "prod"),
        ("a_full", "ns_doesnotexist"),
        ("a_full", "no-such-name"),
        ("a_full", "Bad Name!"),
        ("a_full", "prod\u00e9"),
        ("a_full", "x" * 5000),
    ],
)
def test_namespace_the_key_may_not_use_is_denied_everywhere(tenants: Tenants, key: str, namespace: str) -> None:
    reference = getattr(tenants, namespace) if namespace in ("a_prod", "b_prod") else namespace
    result = authorize(request_event(f"Bearer {getattr(tenants, key)}", reference), tenants.store)
    assert "internal_id" not in result.get("context", {})
    assert result["context"]["deny_code"] == "namespace_forbidden"
    for method, path in [("GET", "/v1/agents/sessions/ses_1"), ("POST", "/v1/agents/sessions")]:
        assert policy_allows(result["policyDocument"], arn(method, path)) == (False, True)


def test_read_only_key_is_denied_write_routes_only(tenants: Tenants) -> None:
    result = authorize(request_event(f"Bearer {tenants.a_read}", "prod"), tenants.store)
    policy = result["policyDocument"]
    assert result["context"]["scopes"] == "sessions:read"
    assert result["context"]["deny_code"] == "missing_scope"
    for method, path in [
        ("GET", "/v1/agents/sessions"),
        ("POST", "/v1/agents/sessions/list"),
        ("GET", "/v1/agents/sessions/ses_1"),
        ("GET", "/v1/agents/sessions/ses_1/history"),
    ]:
        assert policy_allows(policy, arn(method, path)) == (True, False), (method, path)
    for method, path in [
        ("POST", "/v1/agents/sessions"),
        ("PATCH", "/v1/agents/sessions/ses_1"),
        ("DELETE", "/v1/agents/sessions/ses_1"),
        ("POST", "/v1/agents/sessions/ses_1/messages"),
    ]:
        assert policy_allows(policy, arn(method, path)) == (False, True), (method, path)


def test_the_authorizer_reads_two_items_and_writes_nothing(tenants: Tenants, calls: Any) -> None:
    calls.reset()
    authorize(request_event(f"Bearer {tenants.a_full}", "prod"), tenants.store)
    assert dict(calls.calls) == {"GetItem": 2}


# --- through API Gateway: the authorizer and the handlers together ------------------------------


def call(gateway: Any, operation: str, headers: dict[str, str], session_id: str = "ses_AAAAAAAAAAAAAAAAAAAAAA") -> Any:
    _, method, resource = ROUTES[operation]
    path = (
        resource.replace("{session_id}", session_id)
        .replace("{seq}", "0")
        .replace("{attachment_id}", "att_AAAAAAAAAAAAAAAAAAAAAA")
    )
    path += {"rewind": "?last=1", "erase": "?user_id=u1", "export_user": "?user_id=u1"}.get(operation, "")
    body = {
        "create": {"user_id": "u1"},
        "list": {},
        "update": {"metadata": {"k": "v"}},
        "put": {"situation": "x"},
        "append": {"messages": [{"role": "user", "content": "hi"}]},
        "fork": {},
        "feedback": {"message_id": "msg_AAAAAAAAAAAAAAAA.0", "rating": "positive"},
        "update_message": {"content": "x"},
        "upload": {"name": "a.pdf", "mime_type": "application/pdf", "size": 3, "sha256": "0" * 64},
        "import_upload": {"size": 3, "sha256": "0" * 64},
    }.get(operation)
    raw = json.dumps(body).encode() if body is not None else b""
    if operation == "import":  # an export file naming this session id
        raw = minimal_export_file(session_id).encode()
    all_headers = [("Content-Type", "application/json"), *headers.items()] if raw else list(headers.items())
    return gateway.handle(HttpRequest(method, path, all_headers, raw))


def auth(key: str, namespace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Namespace": namespace}


WRITE_OPERATIONS = {
    "create",
    "update",
    "put",
    "terminate",
    "append",
    "rewind",
    "fork",
    "feedback",
    "update_message",
    "erase",
    "upload",
    "import",
    "import_upload",
}


@pytest.fixture
def victim(gateway: Any, tenants: Tenants) -> dict[str, Any]:
    """A session of organization A in its prod namespace, with one message."""
    created = call(gateway, "create", auth(tenants.a_full, "prod"))
    assert created.status == 200, created.body
    session = created.json()
    appended = call(gateway, "append", auth(tenants.a_full, "prod"), session["session_id"])
    assert appended.status == 200, appended.body
    return session


CASES = {
    "no key": lambda t: {"X-Namespace": "prod"},
    "no namespace": lambda t: {"Authorization": f"Bearer {t.a_full}"},
    "malformed key": lambda t: auth("not-a-key", "prod"),
    "unknown key": lambda t: auth(new_api_key(), "prod"),
    "revoked key": lambda t: auth(t.a_revoked, "prod"),
    "key of another organization": lambda t: auth(t.b_full, t.a_prod),
    "key limited to another namespace": lambda t: auth(t.a_staging_only, "prod"),
    "read-only key": lambda t: auth(t.a_read, "prod"),
}
EXPECTED = {
    "no key": (401, "UnauthorizedError", "unauthenticated"),
    "no namespace": (401, "UnauthorizedError", "unauthenticated"),
    "malformed key": (401, "UnauthorizedError", "unauthenticated"),
    "unknown key": (401, "UnauthorizedError", "unauthenticated"),
    "revoked key": (401, "UnauthorizedError", "unauthenticated"),
    "key of another organization": (403, "ForbiddenError", "namespace_forbidden"),
    "key limited to another namespace": (403, "ForbiddenError", "namespace_forbidden"),
    "read-only key": (403, "ForbiddenError", "missing_scope"),
}


# A read-only key may use the read routes (test_read_only_key_reads); everything else is refused.
MATRIX = [
    (case, operation)
    for case in CASES
    for operation in ROUTES
    if case != "read-only key" or operation in WRITE_OPERATIONS
]


@pytest.mark.parametrize(("case", "operation"), MATRIX)
def test_tenant_isolation_matrix(
    gateway: Any,
    tenants: Tenants,
    victim: dict[str, Any],
    table: Any,
    sessions_table_calls: Any,
    case: str,
    operation: str,
) -> None:
    before = scan_all(table)
    sessions_table_calls.operations.clear()

    response = call(gateway, operation, CASES[case](tenants), victim["session_id"])

    status, error_type, code = EXPECTED[case]
    assert response.status == status, response.body
    assert response.header("Content-Type") == "application/json"
    envelope = response.json()
    assert envelope["success"] is False
    assert envelope["status"] == status
    assert envelope["error"]["type"] == error_type
    assert envelope["error"]["code"] == code
    assert victim["session_id"] not in response.body.decode()
    assert sessions_table_calls.operations == []  # nothing read, nothing written
    assert scan_all(table) == before


def test_read_only_key_reads(gateway: Any, tenants: Tenants, victim: dict[str, Any]) -> None:
    headers = auth(tenants.a_read, "prod")
    for operation in ("get", "history", "list", "list_get", "context"):
        response = call(gateway, operation, headers, victim["session_id"])
        assert response.status == 200, (operation, response.body)
    assert call(gateway, "get", headers, victim["session_id"]).json()["session_id"] == victim["session_id"]


@pytest.mark.parametrize("operation", list(ROUTES))
def test_another_tenants_session_is_404_and_untouched(
    gateway: Any, tenants: Tenants, victim: dict[str, Any], table: Any, operation: str
) -> None:
    before = scan_all(table)
    for headers in (auth(tenants.b_full, "prod"), auth(tenants.a_full, "staging")):
        response = call(gateway, operation, headers, victim["session_id"])
        if operation in ("create", "list", "list_get", "erase", "export_user"):
            assert response.status == 200, response.body  # their own namespace, where the victim is not
            assert victim["session_id"] not in response.body.decode()
            if operation == "erase":  # the victim's user has no session in this namespace
                assert response.json() == {"purged": 0, "has_more": False}
            continue
        if operation == "import_upload":  # a ticket for their own namespace
            assert response.status == 201, response.body
            assert f"/{victim['namespace_id']}/" not in response.json()["upload_url"]
            continue
        if operation == "import":  # the same id imported into their own namespace: their own
            assert response.status == 201, response.body
            assert response.json()["namespace_id"] != victim["namespace_id"]
            assert response.json()["message_count"] == 1
            continue
        if operation == "put":  # the same id in their own namespace is a session of their own
            assert response.status == 201, response.body
            assert response.json()["namespace_id"] != victim["namespace_id"]
            assert response.json()["situation"] == "x" and response.json()["version"] == 1
            continue
        assert response.status == 404, response.body
        assert response.json()["error"]["type"] == "NotFoundError"
        assert set(response.json()) == {"success", "status", "error"}  # the envelope, no session data
    after = {json.dumps(item, sort_keys=True) for item in scan_all(table)}
    assert {json.dumps(item, sort_keys=True) for item in before} <= after  # A's items unchanged


def test_the_handler_refuses_a_context_without_the_scope(api: Any) -> None:
    """Defence in depth: a handler invoked with a read-only context refuses a write itself."""
    response = api.call("create", body={}, tenant={**api.tenant, "scopes": "sessions:read"})
    assert response["statusCode"] == 403
    assert body_of(response)["error"]["code"] == "missing_scope"


def test_revocation_takes_effect_when_the_cached_decision_expires(gateway: Any, tenants: Tenants) -> None:
    now = [1000.0]
    gateway.monotonic = lambda: now[0]
    issued = tenants.store.create_key(tenants.org_a, namespaces=None, scopes=[READ_SCOPE])
    headers = auth(issued.key, "prod")
    assert call(gateway, "list", headers).status == 200
    tenants.store.revoke_key(tenants.org_a, issued.record.key_id)
    assert call(gateway, "list", headers).status == 200  # API Gateway's cached allow
    now[0] += gateway.stack.authorizer.cache_seconds + 1
    assert call(gateway, "list", headers).status == 401


def test_keys_are_stored_only_as_digests(tenants: Tenants, table: Any) -> None:
    items = json.dumps(scan_all_identities(table))
    for key in (tenants.a_full, tenants.a_read, tenants.b_full, tenants.a_revoked):
        assert key not in items
        assert key[3:] not in items
        assert key_digest(key) in items


def scan_all_identities(client: Any) -> list[dict[str, Any]]:
    return client.scan(TableName=os.environ["IDENTITIES_TABLE_NAME"])["Items"]
