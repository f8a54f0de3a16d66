"""PUT /v1/agents/sessions/{session_id}: create or replace by id, exactly as stored."""

from __future__ import annotations

import pytest

from agent_sessions.store import keys
from conftest import scan_all
from support import OTHER_TENANT, body_of, header_of
from test_update import counters, lookup_partitions


def test_a_put_of_a_new_id_creates_it_as_a_post_would(api, table):
    response = api.call(
        "put",
        session_id="ticket:42",
        body={"user_id": "u1", "agent_id": "support", "metadata": {"channel": "web"}, "situation": "be kind"},
    )
    assert response["statusCode"] == 201, response["body"]
    session = body_of(response)
    assert header_of(response, "Location") == "/v1/agents/sessions/ticket%3A42"
    assert header_of(response, "ETag") == '"1"'
    assert (session["session_id"], session["user_id"], session["agent_id"]) == ("ticket:42", "u1", "support")
    assert (session["metadata"], session["situation"], session["version"]) == ({"channel": "web"}, "be kind", 1)
    assert body_of(api.call("get", session_id="ticket:42")) == session
    posted = api.created({"user_id": "u1", "agent_id": "support", "metadata": {"channel": "web"}})
    assert sorted(lookup_partitions(table, "ticket:42")) == sorted(lookup_partitions(table, posted["session_id"]))
    totals = counters(table)
    assert totals["NS#ns_test"] == 2


def test_a_put_replaces_every_field_and_fields_left_out_reset(api, table, frozen_clock):
    api.call(
        "put",
        session_id="t-1",
        body={
            "user_id": "u1",
            "agent_id": "a1",
            "session_name": "First",
            "situation": "s",
            "summary": "sum",
            "agent_config": {"model": "m1"},
            "user_memory": {"k": 1},
            "metadata": {"a": "1", "b": "2"},
            "enable_memory": False,
            "ttl_seconds": 60,
        },
    )
    before = counters(table)
    frozen_clock.now += 1000
    response = api.call("put", session_id="t-1", body={"user_id": "u2", "metadata": {"b": "2", "c": 3}})
    assert response["statusCode"] == 200, response["body"]
    assert header_of(response, "Location") is None
    session = body_of(response)
    assert (session["user_id"], session["agent_id"], session["session_name"], session["situation"]) == (
        "u2",
        None,
        None,
        None,
    )
    assert (session["summary"], session["agent_config"], session["user_memory"]) == (None, {}, None)
    assert (session["metadata"], session["enable_memory"], session["version"]) == ({"b": "2", "c": 3}, True, 2)
    assert body_of(api.call("get", session_id="t-1")) == session
    # lookups moved: the old user, agent and metadata pairs are gone, the new ones are there
    assert lookup_partitions(table, "t-1") == sorted(
        [
            keys.lookup_partition("ns_test", "user_id", "u2"),
            keys.lookup_partition("ns_test", "metadata", "2", "b"),
            keys.lookup_partition("ns_test", "metadata", "3", "c"),
        ]
    )
    after = counters(table)
    assert after["NS#ns_test"] == before["NS#ns_test"] == 1  # totals unchanged
    moved = {k: v for k, v in after.items() if before.get(k) != v}
    assert moved and all(v in (0, 1) for v in moved.values())
    listed = body_of(api.call("list", body={"filters": {"user_id": "u2"}}))
    assert [s["session_id"] for s in listed["results"]] == ["t-1"] and listed["total"] == 1
    assert body_of(api.call("list", body={"filters": {"user_id": "u1"}}))["total"] == 0
    assert body_of(api.call("list", body={"filters": {"metadata": {"a": "1"}}}))["total"] == 0


def test_if_match_and_if_none_match(api, table):
    created = api.call("put", session_id="t-2", body={}, headers={"If-None-Match": "*"})
    assert created["statusCode"] == 201, created["body"]
    again = api.call("put", session_id="t-2", body={"situation": "x"}, headers={"If-None-Match": "*"})
    assert again["statusCode"] == 412 and body_of(again)["error"]["code"] == "session_exists"
    stale = api.call("put", session_id="t-2", body={"situation": "x"}, headers={"If-Match": '"7"'})
    assert stale["statusCode"] == 412 and body_of(stale)["error"]["details"]["current_version"] == 1
    fresh = api.call("put", session_id="t-2", body={"situation": "x"}, headers={"If-Match": '"1"'})
    assert fresh["statusCode"] == 200 and body_of(fresh)["situation"] == "x"
    missing = api.call("put", session_id="t-absent", body={}, headers={"If-Match": '"1"'})
    assert missing["statusCode"] == 412
    assert api.call("get", session_id="t-absent")["statusCode"] == 404  # nothing was created
    bad = api.call("put", session_id="t-2", body={}, headers={"If-None-Match": '"1"'})
    assert bad["statusCode"] == 400 and body_of(bad)["error"]["code"] == "invalid_if_none_match"
    assert body_of(api.call("get", session_id="t-2"))["situation"] == "x"


def test_an_idempotency_key_replays_the_first_answer(api, table):
    first = api.call("put", session_id="t-3", body={"situation": "a"}, headers={"Idempotency-Key": "k-1"})
    assert first["statusCode"] == 201
    replay = api.call("put", session_id="t-3", body={"situation": "a"}, headers={"Idempotency-Key": "k-1"})
    assert replay["statusCode"] == 201 and header_of(replay, "Idempotent-Replayed") == "true"
    assert body_of(replay) == body_of(first)
    assert body_of(api.call("get", session_id="t-3"))["version"] == 1  # replayed, not written again
    second = api.call("put", session_id="t-3", body={"situation": "b"}, headers={"Idempotency-Key": "k-2"})
    assert second["statusCode"] == 200
    again = api.call("put", session_id="t-3", body={"situation": "b"}, headers={"Idempotency-Key": "k-2"})
    assert again["statusCode"] == 200 and body_of(again) == body_of(second)
    assert body_of(api.call("get", session_id="t-3"))["version"] == 2
    reused = api.call("put", session_id="t-3", body={"situation": "c"}, headers={"Idempotency-Key": "k-2"})
    assert reused["statusCode"] == 409 and body_of(reused)["error"]["code"] == "idempotency_key_reused"


def test_read_only_sessions_and_fields_fixed_once_messages_exist(api, table):
    api.call("put", session_id="t-4", body={"user_id": "u1", "quotas": {"max_messages": 10}})
    assert api.call("append", session_id="t-4", body={"content": "hi"})["statusCode"] == 200
    for change in ({"user_id": "u2", "quotas": {"max_messages": 10}}, {"user_id": "u1"}):
        refused = api.call("put", session_id="t-4", body=change)
        assert refused["statusCode"] == 409 and body_of(refused)["error"]["code"] == "field_fixed"
    kept = api.call("put", session_id="t-4", body={"user_id": "u1", "quotas": {"max_messages": 10}, "situation": "s"})
    assert kept["statusCode"] == 200 and body_of(kept)["message_count"] == 1
    assert body_of(kept)["stats"]["total_messages"] == 1  # the conversation stays
    api.call("update", session_id="t-4", body={"status": "archived"})
    archived = api.call("put", session_id="t-4", body={"user_id": "u1", "quotas": {"max_messages": 10}})
    assert archived["statusCode"] == 409 and body_of(archived)["error"]["code"] == "session_archived"
    api.call("put", session_id="t-5", body={})
    api.call("terminate", session_id="t-5")
    terminated = api.call("put", session_id="t-5", body={})
    assert terminated["statusCode"] == 409 and body_of(terminated)["error"]["code"] == "session_terminated"


@pytest.mark.parametrize("session_id", ["bad!id", "x" * 129, "a b"])
def test_invalid_ids_are_refused_naming_the_path(api, table, session_id):
    response = api.call("put", session_id=session_id, body={})
    assert response["statusCode"] == 422
    assert body_of(response)["error"]["details"]["errors"][0]["loc"] == ["path", "session_id"]
    assert not [item for item in scan_all(table) if item.get("kind", {}).get("S") == "session"]


@pytest.mark.parametrize("session_id", ["list", "import", "export", "search"])
def test_route_words_are_reserved(api, table, session_id):
    response = api.call("put", session_id=session_id, body={})
    assert response["statusCode"] == 409
    assert body_of(response)["error"]["code"] == "session_id_reserved"
    assert not [item for item in scan_all(table) if item.get("kind", {}).get("S") == "session"]


def test_another_tenant_cannot_replace_a_session_and_gets_its_own(api, table):
    api.call("put", session_id="shared-name", body={"situation": "mine"})
    theirs = api.call("put", session_id="shared-name", body={"situation": "theirs"}, tenant=OTHER_TENANT)
    assert theirs["statusCode"] == 201  # a namespace of its own: a new session, not mine
    assert body_of(api.call("get", session_id="shared-name"))["situation"] == "mine"


def test_a_put_is_one_conditional_write_after_one_read(api, table, calls):
    api.call("put", session_id="t-6", body={})
    calls.reset()
    api.call("put", session_id="t-6", body={"situation": "s"})
    assert dict(calls.calls) == {"Query": 1, "TransactWriteItems": 1}
    calls.reset()
    api.call("put", session_id="t-7", body={})
    assert dict(calls.calls) == {"Query": 1, "TransactWriteItems": 1}
    calls.reset()
    api.call("put", session_id="t-8", body={}, headers={"If-None-Match": "*"})
    assert dict(calls.calls) == {"TransactWriteItems": 1}


def test_a_change_too_large_for_one_transaction_is_refused_whole(api, table):
    """Replacing user, agent and all 32 metadata pairs moves 68 listed values (a lookup and a
    counter each): more than one DynamoDB transaction holds. It is a 409 naming the limit, not
    a 500, and nothing is written; half the change passes."""
    first = {f"k{i}": f"a{i}" for i in range(32)}
    api.call("put", session_id="big", body={"user_id": "u1", "agent_id": "a1", "metadata": first})
    before = scan_all(table)
    second = {f"k{i}": f"b{i}" for i in range(32)}
    refused = api.call("put", session_id="big", body={"user_id": "u2", "agent_id": "a2", "metadata": second})
    assert refused["statusCode"] == 409, refused["body"]
    error = body_of(refused)["error"]
    assert (error["code"], error["details"]) == ("too_many_listed_changes", {"changed": 68, "limit": 49})
    patched = api.call("update", session_id="big", body={"metadata": second})
    assert patched["statusCode"] == 409 and body_of(patched)["error"]["details"]["changed"] == 64
    assert scan_all(table) == before
    half = {**first, **{f"k{i}": f"b{i}" for i in range(24)}}
    assert api.call("update", session_id="big", body={"metadata": half})["statusCode"] == 200
    assert body_of(api.call("get", session_id="big"))["metadata"] == half
