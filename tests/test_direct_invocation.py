"""Direct invocation (DESIGN §6): every operation's function takes `{"namespace_id", …}`,
returns what HTTP returns, and raises the error whose type the envelope names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_sessions import errors
from support import EVENTS, LambdaContext, body_of, load_function
from test_events import EXAMPLE_SESSION, seed_example

DIRECT = {
    "direct_create_session": "create_session",
    "direct_get_session": "get_session",
    "direct_list_sessions": "list_sessions",
    "direct_update_session": "update_session",
    "direct_put_session": "put_session",
    "direct_terminate_session": "terminate_session",
    "direct_append_messages": "append_messages",
    "direct_get_history": "get_history",
    "direct_rewind_messages": "rewind_messages",
    "direct_get_context": "get_context",
    "direct_fork_session": "fork_session",
    "direct_erase_user": "erase_user",
}


def invoke(function: str, payload: Any) -> Any:
    return load_function(function).lambda_handler(payload, LambdaContext(function))


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_sample_direct_events(name: str, table: Any) -> None:
    seed_example()
    payload = json.loads((EVENTS / f"{name}.json").read_text())
    result = invoke(DIRECT[name], payload)
    assert isinstance(result, dict)
    if "session_id" in payload and name != "direct_fork_session":
        assert result["session_id"] == EXAMPLE_SESSION


def test_a_direct_correction_names_the_message_by_seq(table: Any) -> None:
    """`seq` is the second path parameter a direct invocation can carry (PATCH …/messages/{seq})."""
    seed_example()
    invoke("append_messages", {"namespace_id": "ns_test", "session_id": EXAMPLE_SESSION, "body": {"content": "secret"}})
    payload = json.loads((EVENTS / "direct_update_message.json").read_text())
    payload["internal_id"] = "int_testorg"
    corrected = invoke("update_message", payload)
    assert (corrected["seq"], corrected["content"]) == (0, "[redacted]")
    with pytest.raises(errors.ValidationError):
        invoke("update_message", {k: v for k, v in payload.items() if k != "seq"})
    with pytest.raises(errors.NotFoundError):
        invoke("update_message", {**payload, "seq": 5})


def test_direct_returns_what_http_returns(api: Any, table: Any) -> None:
    session = api.created({"user_id": "u1"})
    over_http = body_of(api.call("get", session_id=session["session_id"]))
    direct = invoke("get_session", {"namespace_id": "ns_test", "session_id": session["session_id"]})
    assert direct == over_http


def test_missing_session_raises_not_found_error(table: Any) -> None:
    payload = json.loads((EVENTS / "direct_get_session_missing.json").read_text())
    with pytest.raises(errors.NotFoundError) as raised:
        invoke("get_session", payload)
    assert type(raised.value).__name__ == "NotFoundError"  # what a Step Functions Catch matches
    assert raised.value.code == "session_not_found"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"namespace_id": "not-a-namespace"}, errors.ValidationError),
        ({"namespace_id": "ns_test", "unexpected": 1}, errors.ValidationError),
        ({"namespace_id": "ns_test", "body": {"user_id": 7}}, errors.ValidationError),
        ({"namespace_id": "ns_test", "body": {"nope": 1}}, errors.ValidationError),
    ],
)
def test_invalid_payloads_raise_validation_error_and_write_nothing(
    table: Any, payload: dict[str, Any], error: type[Exception]
) -> None:
    from conftest import scan_all

    with pytest.raises(error):
        invoke("create_session", payload)
    assert scan_all(table) == []


def test_direct_errors_keep_their_types(api: Any, table: Any) -> None:
    session = api.created({})
    invoke("terminate_session", {"namespace_id": "ns_test", "session_id": session["session_id"]})
    with pytest.raises(errors.ConflictError):
        invoke(
            "append_messages",
            {"namespace_id": "ns_test", "session_id": session["session_id"], "body": {"messages": [{"content": "x"}]}},
        )
    with pytest.raises(errors.ValidationError):
        invoke("get_session", {"namespace_id": "ns_test"})  # session_id is required here


def test_direct_idempotency_and_if_match_headers(api: Any, table: Any) -> None:
    payload = {"namespace_id": "ns_test", "body": {"user_id": "u9"}, "headers": {"Idempotency-Key": "k-1"}}
    first = invoke("create_session", payload)
    assert invoke("create_session", payload) == first
    with pytest.raises(errors.PreconditionFailedError):
        invoke(
            "update_session",
            {
                "namespace_id": "ns_test",
                "session_id": first["session_id"],
                "body": {"summary": "x"},
                "headers": {"If-Match": '"99"'},
            },
        )
