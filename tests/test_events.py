"""The sample events in events/ are real API Gateway events that the functions answer."""

from __future__ import annotations

import json

import pytest

from agent_sessions import clock
from agent_sessions.models.items import SessionItem
from agent_sessions.runtime import session_service
from support import EVENTS, LambdaContext, body_of, load_function

EXAMPLE_SESSION = "ses_EXAMPLEexampleEXAMPLE0"

EXPECTED = {
    "create_session": ("create_session", 200),
    "create_session_422": ("create_session", 422),
    "get_session": ("get_session", 200),
    "get_session_404": ("get_session", 404),
    "list_sessions_post": ("list_sessions", 200),
    "list_sessions_get": ("list_sessions", 200),
    "list_sessions_422": ("list_sessions", 422),
    "update_session": ("update_session", 200),
    "update_session_404": ("update_session", 404),
    "update_session_422": ("update_session", 422),
    "put_session": ("put_session", 200),
    "terminate_session": ("terminate_session", 200),
    "terminate_session_purge": ("terminate_session", 200),
    "append_messages": ("append_messages", 200),
    "append_messages_404": ("append_messages", 404),
    "append_messages_422": ("append_messages", 422),
    "get_history": ("get_history", 200),
    "get_history_404": ("get_history", 404),
    "rewind_messages": ("rewind_messages", 200),
    "get_context": ("get_context", 200),
    "fork_session": ("fork_session", 200),
    "record_feedback_404": ("record_feedback", 404),
    "update_message_404": ("update_message", 404),
    "erase_user": ("erase_user", 200),
    "create_upload": ("create_upload", 201),
    "get_attachment_404": ("get_attachment", 404),
}


AUTHORIZER_EVENTS = {"authorizer"}
# Direct invocations (tests/test_direct_invocation.py) and the schedule (tests/test_expiry.py).
OTHER_EVENTS = {path.stem for path in EVENTS.glob("direct_*.json")} | {"expire_sessions"}
EXAMPLE_KEY = "sk_EXAMPLEexampleEXAMPLEexampleEXAMPLEexample0"


def test_every_event_file_is_covered():
    assert {path.stem for path in EVENTS.glob("*.json")} == set(EXPECTED) | AUTHORIZER_EVENTS | OTHER_EVENTS


def test_authorizer_event(table):
    from agent_sessions.identity.store import IdentityStore
    from agent_sessions.settings import get_settings

    store = IdentityStore(get_settings())
    org = store.create_organization("example").internal_id
    namespace = store.create_namespace(org, "prod").namespace_id
    store.create_key(org, namespaces=None, scopes=["sessions:read"], secret=EXAMPLE_KEY)
    event = json.loads((EVENTS / "authorizer.json").read_text())
    result = load_function("authorizer").lambda_handler(event, LambdaContext("authorizer"))
    assert result["context"]["namespace_id"] == namespace
    assert result["context"]["scopes"] == "sessions:read"
    allowed = [s for s in result["policyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert any(r.endswith("/GET/v1/agents/sessions/*") for s in allowed for r in s["Resource"])


def seed_example(namespace_id: str = "ns_test", internal_id: str = "int_testorg") -> None:
    """The session every sample event names."""
    now = clock.now_ms()
    seed = SessionItem(
        namespace_id=namespace_id,
        session_id=EXAMPLE_SESSION,
        internal_id=internal_id,
        user_id="user-42",
        metadata={"channel": "web", "tier": "gold"},
        created_ms=now,
        updated_ms=now,
        last_activity_ms=now,
        expires_ms=now + 3_600_000,
    )
    session_service().store.create_session(seed, None, now)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event(name, table):
    context = json.loads((EVENTS / f"{name}.json").read_text())["requestContext"]["authorizer"]
    seed_example(context["namespace_id"], context["internal_id"])
    function, status = EXPECTED[name]
    event = json.loads((EVENTS / f"{name}.json").read_text())
    response = load_function(function).lambda_handler(event, LambdaContext(function))
    assert response["statusCode"] == status, response["body"]
    body = body_of(response)
    if function == "create_upload":
        assert body["attachment_id"].startswith("att_") and body["upload_headers"]["Content-Length"] == "1048576"
    elif status != 200:
        assert body["success"] is False and body["status"] == status
    elif function == "list_sessions":
        assert [s["session_id"] for s in body["results"]] == [EXAMPLE_SESSION]
