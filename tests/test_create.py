"""POST /v1/agents/sessions."""

from __future__ import annotations

import json
import re

import pytest

from agent_sessions import clock
from agent_sessions.store import keys
from agent_sessions.store.sizing import item_size
from conftest import scan_all
from support import OTHER_TENANT, body_of, header_of

FULL = {
    "user_id": "user-1",
    "agent_id": "agent-1",
    "session_name": "Trip planning",
    "situation": "You are a travel agent.",
    "summary": "The user wants to go to Lisbon.",
    "agent_config": {"model": "gpt-x", "temperature": 0.2, "max_tokens": 512, "available_tools": ["search"]},
    "user_memory": {"likes": ["trains"], "nested": {"a": 1}},
    "metadata": {"team": "blue", "priority": 2, "beta": True, "score": 1.5},
    "quotas": {"max_messages": 100, "max_session_duration_minutes": 60},
    "enable_memory": False,
    "ttl_seconds": 600,
}


def test_minimal_session_has_every_field_with_its_default(api, frozen_clock):
    response = api.create({})
    assert response["statusCode"] == 200
    assert header_of(response, "Content-Type") == "application/json"
    assert header_of(response, "X-Request-Id")
    assert header_of(response, "ETag") == '"1"'
    session = body_of(response)
    assert re.fullmatch(r"ses_[A-Za-z0-9_-]{20,}", session["session_id"])
    now = clock.to_iso(frozen_clock.now)
    assert session == {
        "session_id": session["session_id"],
        "namespace_id": "ns_test",
        "internal_id": "int_testorg",
        "user_id": None,
        "agent_id": None,
        "session_name": None,
        "situation": None,
        "summary": None,
        "agent_config": {},
        "user_memory": None,
        "metadata": {},
        "quotas": None,
        "enable_memory": True,
        "status": "active",
        "message_count": 0,
        "stats": {"total_messages": 0, "total_tokens": 0, "total_tool_calls": 0, "avg_latency_ms": None},
        "created_at": now,
        "updated_at": now,
        "last_activity_at": now,
        "expires_at": clock.to_iso(frozen_clock.now + 30 * 86400 * 1000),
        "terminated_at": None,
        "version": 1,
        "summary_through_seq": None,
        "forked_from": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", session["created_at"])


def test_full_session_is_stored_with_lookups_and_counters(api, table, frozen_clock):
    session = api.created(FULL)
    for name in (
        "user_id",
        "agent_id",
        "session_name",
        "situation",
        "summary",
        "agent_config",
        "user_memory",
        "metadata",
    ):
        assert session[name] == FULL[name]
    assert session["enable_memory"] is False
    assert session["quotas"] == {
        "max_messages": 100,
        "max_tokens_total": None,
        "max_tool_calls": None,
        "max_session_duration_minutes": 60,
        "rate_limit_messages_per_minute": None,
    }
    assert session["expires_at"] == clock.to_iso(frozen_clock.now + 600_000)

    items = scan_all(table)
    pk = keys.session_pk("ns_test", session["session_id"])
    by_sk = {item["SK"]["S"]: item for item in items if item["PK"]["S"] == pk}
    stored = by_sk.pop("SESSION")
    shard = keys.shard_of(session["session_id"], 1)  # a new namespace has one shard
    assert stored["GSI1PK"]["S"] == f"NS#ns_test#S{shard}"
    assert stored["GSI2PK"]["S"] == f"NS#ns_test#S{shard}"
    assert stored["GSI1SK"]["S"] == f"{session['created_at']}#{session['session_id']}"
    assert stored["GSI2SK"]["S"] == f"{session['last_activity_at']}#{session['session_id']}"
    assert int(stored["ttl"]["N"]) == -(-(frozen_clock.now + 600_000) // 1000)
    assert int(stored["layout"]["N"]) == keys.LAYOUT_VERSION
    # The head holds none of the body's fields: an append rewrites only the head.
    assert not {"situation", "summary", "agent_config", "user_memory", "metadata"} & set(stored)
    assert item_size(stored) <= 1024  # one write unit (two in a transaction) per append
    body = by_sk.pop("SESSION#BODY")
    assert json.loads(body["agent_config"]["S"]) == FULL["agent_config"]
    assert json.loads(body["metadata"]["S"]) == FULL["metadata"]
    assert body["situation"]["S"] == FULL["situation"]
    assert "ttl" not in body and "GSI1PK" not in body  # no index entry, removed by the cascade
    # one lookup item per user_id, agent_id and metadata pair, all in the session's partition,
    # each in the session's shard of its lookup partition
    assert len(by_sk) == 2 + len(FULL["metadata"])
    assert all(sk.startswith("IDX#") for sk in by_sk)
    assert all(item["GSI1PK"]["S"].endswith(f"#S{shard}") for item in by_sk.values())
    counters = {item["PK"]["S"]: int(item["n"]["N"]) for item in items if item["kind"]["S"] == "counter"}
    assert counters[f"NS#ns_test#COUNT#S{shard}"] == 1
    assert len(counters) == 1 + 2 + len(FULL["metadata"])
    assert all(pk.endswith(f"#COUNT#S{shard}") for pk in counters)
    assert set(counters.values()) == {1}


def test_create_is_one_dynamodb_call(api, calls):
    api.created(FULL)
    assert calls.calls == {"TransactWriteItems": 1}


def test_unknown_keys_are_refused_naming_the_accepted_ones(api, table):
    response = api.create({"user_id": "u", "colour": "red"})
    assert response["statusCode"] == 422
    error = body_of(response)["error"]
    assert error["type"] == "ValidationError"
    assert error["code"] == "unknown_field"
    assert "colour" in error["message"]
    assert "user_id" in error["message"] and "agent_config" in error["message"]
    assert error["details"]["errors"][0]["loc"] == ["body", "colour"]
    assert error["details"]["errors"][0]["type"] == "extra_forbidden"
    assert scan_all(table) == []


def test_unknown_nested_quota_key_names_the_quota_keys(api):
    response = api.create({"quotas": {"max_messages": 3, "max_apples": 1}})
    error = body_of(response)["error"]
    assert response["statusCode"] == 422
    assert error["details"]["errors"][0]["loc"] == ["body", "quotas", "max_apples"]
    assert "rate_limit_messages_per_minute" in error["message"]


def test_validation_errors_list_loc_msg_and_type(api):
    response = api.create({"user_id": "x" * 257, "quotas": {"max_messages": 0}, "enable_memory": "maybe"})
    assert response["statusCode"] == 422
    body = body_of(response)
    assert body["success"] is False and body["status"] == 422
    errors = {tuple(e["loc"]): e for e in body["error"]["details"]["errors"]}
    assert set(errors) == {("body", "user_id"), ("body", "quotas", "max_messages"), ("body", "enable_memory")}
    for error in errors.values():
        assert error["msg"] and error["type"]


def test_oversized_text_is_413_not_truncated(api, table):
    response = api.create({"situation": "é" * (32 * 1024 + 1)})  # 2 bytes each: 64 KiB + 2
    assert response["statusCode"] == 413
    error = body_of(response)["error"]
    assert error["type"] == "PayloadTooLargeError"
    assert error["details"]["errors"][0]["loc"] == ["body", "situation"]
    assert scan_all(table) == []


def test_oversized_agent_config_and_user_memory_are_413(api):
    assert api.create({"agent_config": {"p": "x" * (32 * 1024)}})["statusCode"] == 413
    assert api.create({"user_memory": {"p": "x" * (64 * 1024)}})["statusCode"] == 413
    assert api.create({"agent_config": {"p": "x" * (31 * 1024)}})["statusCode"] == 200


def test_metadata_limits(api):
    too_many = {f"k{i}": i for i in range(33)}
    assert api.create({"metadata": too_many})["statusCode"] == 422
    assert api.create({"metadata": {f"k{i}": i for i in range(32)}})["statusCode"] == 200
    assert api.create({"metadata": {"k" * 65: "v"}})["statusCode"] == 422
    assert api.create({"metadata": {"k": "v" * 513}})["statusCode"] == 422
    assert api.create({"metadata": {"k": {"nested": 1}}})["statusCode"] == 422
    assert api.create({"metadata": {"k": None}})["statusCode"] == 422


def test_ttl_and_expires_at_together_are_refused(api):
    response = api.create({"ttl_seconds": 60, "expires_at": "2099-01-01T00:00:00Z"})
    assert response["statusCode"] == 422


def test_expiry_is_capped_by_the_quota_duration(api, frozen_clock):
    session = api.created({"ttl_seconds": 86400, "quotas": {"max_session_duration_minutes": 5}})
    assert session["expires_at"] == clock.to_iso(frozen_clock.now + 5 * 60_000)


def test_expires_at_in_the_past_is_refused(api):
    response = api.create({"expires_at": "2001-01-01T00:00:00Z"})
    assert response["statusCode"] == 422
    assert body_of(response)["error"]["details"]["errors"][0]["loc"] == ["body", "expires_at"]


def test_malformed_json_is_400(api, table):
    response = api.call("create", raw_body='{"user_id": ')
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_json"
    assert header_of(response, "Content-Type") == "application/json"


def test_a_non_object_body_is_422(api):
    assert api.call("create", raw_body="[1, 2]")["statusCode"] == 422


def test_without_authorizer_context_the_request_is_401_and_nothing_is_written(api, table):
    response = api.create({"user_id": "u"}, tenant=None)
    assert response["statusCode"] == 401
    assert body_of(response)["error"]["type"] == "UnauthorizedError"
    assert header_of(response, "X-Request-Id")
    assert scan_all(table) == []
    assert api.create({}, tenant={"internal_id": "int_x", "namespace_id": "bad#ns"})["statusCode"] == 401


def test_idempotent_create_replays_the_first_response(api, table, calls):
    first = api.create(FULL, headers={"Idempotency-Key": "key-1"})
    calls.reset()
    second = api.create(FULL, headers={"Idempotency-Key": "key-1"})
    assert second["statusCode"] == 200
    assert body_of(second) == body_of(first)
    assert header_of(second, "Idempotent-Replayed") == "true"
    sessions = [item for item in scan_all(table) if item["SK"]["S"] == "SESSION"]
    assert len(sessions) == 1


def test_idempotency_key_with_another_body_is_409(api, table):
    api.created({"user_id": "a"}, headers={"Idempotency-Key": "key-2"})
    response = api.create({"user_id": "b"}, headers={"Idempotency-Key": "key-2"})
    assert response["statusCode"] == 409
    assert body_of(response)["error"]["code"] == "idempotency_key_reused"
    assert len([item for item in scan_all(table) if item["SK"]["S"] == "SESSION"]) == 1


def test_idempotency_keys_are_per_namespace(api):
    mine = api.created({"user_id": "a"}, headers={"Idempotency-Key": "shared"})
    theirs = api.created({"user_id": "a"}, headers={"Idempotency-Key": "shared"}, tenant=OTHER_TENANT)
    assert mine["session_id"] != theirs["session_id"]
    assert theirs["namespace_id"] == "ns_other"


def test_idempotency_key_expires(api, frozen_clock):
    first = api.created({}, headers={"Idempotency-Key": "k"})
    frozen_clock.advance(86400 + 1)
    second = api.created({}, headers={"Idempotency-Key": "k"})
    assert second["session_id"] != first["session_id"]


def test_invalid_idempotency_key_is_400(api):
    assert api.create({}, headers={"Idempotency-Key": "x" * 300})["statusCode"] == 400


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-8"]
)
def test_bodies_are_json_whatever_the_content_type_says(api, content_type):
    response = api.call("create", raw_body=json.dumps({"user_id": "curl-user"}), headers={"Content-Type": content_type})
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["user_id"] == "curl-user"
