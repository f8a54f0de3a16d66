"""Conversation operations (DESIGN §2b) on moto: rewind, context window, compaction, fork,
feedback, message corrections, erasing a user, caller-chosen session ids — each asserted on
what the table holds afterwards, not only on the answer."""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions.store import keys
from conftest import scan_all
from support import body_of, header_of


def append(api: Any, sid: str, *messages: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": list(messages)} if len(messages) != 1 else dict(messages[0])
    response = api.call("append", session_id=sid, body=body, headers=headers)
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)


def history(api: Any, sid: str) -> list[dict[str, Any]]:
    return body_of(api.call("history", session_id=sid, query={"limit": "200"}))["messages"]


def message_items(table: Any, sid: str) -> dict[int, dict[str, Any]]:
    pk = keys.session_pk("ns_test", sid)
    return {int(i["SK"]["S"][4:]): i for i in scan_all(table) if i["PK"]["S"] == pk and i["SK"]["S"].startswith("MSG#")}


@pytest.fixture
def chat(api: Any) -> dict[str, Any]:
    """A session with 5 messages: tokens 10..50, one tool call, latencies on the assistant's."""
    session = api.created({"user_id": "u1", "quotas": {"max_messages": 6, "max_tokens_total": 200}})
    append(
        api,
        session["session_id"],
        {"role": "user", "content": "hello there", "token_count": 10},
        {"role": "assistant", "content": "calling", "content_type": "tool_call", "tool_name": "t", "token_count": 20},
        {"role": "tool", "content": "result", "content_type": "tool_result", "tool_name": "t", "token_count": 30},
        {"role": "assistant", "content": "answer", "token_count": 40, "latency_ms": 100},
        {"role": "user", "content": "thanks", "token_count": 50},
    )
    return session


# --- rewind --------------------------------------------------------------------------------------


def test_rewind_last_one_pops_exactly_one_and_frees_its_position(api: Any, table: Any, chat: Any) -> None:
    sid = chat["session_id"]
    popped_id = history(api, sid)[-1]["message_id"]
    response = api.call("rewind", session_id=sid, query={"last": "1"})
    assert response["statusCode"] == 200, response["body"]
    result = body_of(response)
    assert (result["message_count"], result["removed_count"]) == (4, 1)
    assert [m["content"] for m in result["removed"]] == ["thanks"]
    assert header_of(response, "ETag") == '"4"'
    session = body_of(api.call("get", session_id=sid))
    assert session["message_count"] == 4
    assert session["stats"] == {
        "total_messages": 4,
        "total_tokens": 100,
        "total_tool_calls": 1,
        "avg_latency_ms": 100.0,
    }
    assert sorted(message_items(table, sid)) == [0, 1, 2, 3]  # the item is gone, not just hidden
    again = append(api, sid, {"role": "user", "content": "new turn", "token_count": 5})
    assert again["messages"][0]["seq"] == 4 and again["messages"][0]["message_id"] != popped_id
    assert [m["content"] for m in history(api, sid)] == ["hello there", "calling", "result", "answer", "new turn"]


def test_rewind_from_seq_gives_back_stats_and_quota_room(api: Any, table: Any, chat: Any) -> None:
    sid = chat["session_id"]
    append(api, sid, {"content": "sixth"})  # at max_messages (6)
    refused = api.call("append", session_id=sid, body={"content": "seventh"})
    assert refused["statusCode"] == 429
    result = body_of(api.call("rewind", session_id=sid, query={"from_seq": "2"}))
    assert result["message_count"] == 2 and result["removed_count"] == 4
    assert [m["seq"] for m in result["removed"]] == [2, 3, 4, 5]
    session = body_of(api.call("get", session_id=sid))
    assert session["stats"] == {"total_messages": 2, "total_tokens": 30, "total_tool_calls": 1, "avg_latency_ms": None}
    assert sorted(message_items(table, sid)) == [0, 1]
    append(api, sid, {"content": "room again", "token_count": 170})  # tokens quota room given back too
    assert body_of(api.call("get", session_id=sid))["stats"]["total_tokens"] == 200


def test_rewind_with_if_match_is_exactly_once(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    stale = api.call("rewind", session_id=sid, query={"last": "1"}, headers={"If-Match": '"4"'})
    assert stale["statusCode"] == 412 and header_of(stale, "ETag") == '"5"'
    assert body_of(stale)["error"]["code"] == "count_mismatch"
    assert (
        body_of(api.call("rewind", session_id=sid, query={"last": "1"}, headers={"If-Match": '"5"'}))["message_count"]
        == 4
    )
    retried = api.call("rewind", session_id=sid, query={"last": "1"}, headers={"If-Match": '"5"'})
    assert retried["statusCode"] == 412  # the retry of a rewind that landed removes nothing more
    assert body_of(api.call("get", session_id=sid))["message_count"] == 4


def test_rewind_refusals(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    for query in ({}, {"from_seq": "1", "last": "1"}, {"last": "0"}, {"from_seq": "-1"}):
        response = api.call("rewind", session_id=sid, query=query)
        assert response["statusCode"] == 422, (query, response["body"])
    assert api.call("rewind", session_id="unknown-session", query={"last": "1"})["statusCode"] == 404
    api.call("update", session_id=sid, body={"status": "archived"})
    archived = api.call("rewind", session_id=sid, query={"last": "1"})
    assert archived["statusCode"] == 409 and body_of(archived)["error"]["code"] == "session_archived"
    assert body_of(api.call("get", session_id=sid))["message_count"] == 5
    nothing = api.call("update", session_id=sid, body={"status": "active"})
    assert nothing["statusCode"] == 200
    empty = body_of(api.call("rewind", session_id=sid, query={"from_seq": "9"}))
    assert (empty["message_count"], empty["removed_count"], empty["removed"]) == (5, 0, [])


def test_a_long_rewind_deletes_past_one_transaction(api: Any, table: Any) -> None:
    sid = api.created({})["session_id"]
    for start in range(0, 250, 99):
        append(api, sid, *({"content": f"m{n}"} for n in range(start, min(start + 99, 250))))
    result = body_of(api.call("rewind", session_id=sid, query={"from_seq": "10"}))
    assert (result["message_count"], result["removed_count"], result["removed"]) == (10, 240, None)
    assert sorted(message_items(table, sid)) == list(range(10))
    assert [m["content"] for m in history(api, sid)] == [f"m{n}" for n in range(10)]


def test_rewind_below_the_summary_checkpoint_moves_the_checkpoint(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    assert api.call("update", session_id=sid, body={"summary": "s", "summary_through_seq": 3})["statusCode"] == 200
    api.call("rewind", session_id=sid, query={"from_seq": "2"})
    assert body_of(api.call("get", session_id=sid))["summary_through_seq"] == 1
    api.call("rewind", session_id=sid, query={"from_seq": "0"})
    assert body_of(api.call("get", session_id=sid))["summary_through_seq"] is None


# --- context window ------------------------------------------------------------------------------


def context(api: Any, sid: str, **query: Any) -> dict[str, Any]:
    response = api.call("context", session_id=sid, query={k: str(v) for k, v in query.items()})
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)


def test_context_takes_the_newest_that_fit_oldest_first(api: Any, chat: Any, calls: Any) -> None:
    sid = chat["session_id"]
    calls.reset()
    window = context(api, sid, max_tokens=90)
    assert calls.calls == {"Query": 1}
    assert [m["content"] for m in window["messages"]] == ["answer", "thanks"]
    assert (window["token_estimate"], window["truncated"], window["message_count"]) == (90, True, 5)
    everything = context(api, sid)
    assert len(everything["messages"]) == 5 and everything["truncated"] is False
    assert [m["content"] for m in context(api, sid, max_messages=2)["messages"]] == ["answer", "thanks"]


def test_context_budget_edges(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    zero = context(api, sid, max_tokens=0)
    assert (zero["messages"], zero["truncated"], zero["token_estimate"]) == ([], True, 0)
    assert context(api, sid, max_messages=0)["messages"] == []
    assert context(api, sid, max_tokens=49)["messages"] == []  # the newest alone (50) is over
    assert [m["content"] for m in context(api, sid, max_tokens=50)["messages"]] == ["thanks"]
    lone = api.created({})["session_id"]
    append(api, lone, {"content": "x" * 401})  # no token_count: ceil(401 / 4) = 101
    assert context(api, lone, max_tokens=100)["messages"] == []
    assert context(api, lone, max_tokens=101)["token_estimate"] == 101


def test_context_never_returns_a_tool_result_without_its_call(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    # 120 tokens fit the result (30), the answer (40), thanks (50); the call (20) does not
    window = context(api, sid, max_tokens=120)
    assert [m["content"] for m in window["messages"]] == ["answer", "thanks"]
    assert window["truncated"] is True and window["token_estimate"] == 90
    with_call = context(api, sid, max_tokens=140)
    assert [m["content_type"] for m in with_call["messages"]] == ["tool_call", "tool_result", "text", "text"]


def test_compaction_checkpoint_and_the_context_after_it(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    # A checkpoint beyond the conversation: the session's state refuses it (409, the field named).
    beyond = api.call("update", session_id=sid, body={"summary": "s", "summary_through_seq": 5})
    assert beyond["statusCode"] == 409, beyond["body"]
    assert body_of(beyond)["error"]["code"] == "seq_beyond_conversation"
    assert body_of(beyond)["error"]["details"] == {"field": "summary_through_seq", "seq": 5, "message_count": 5}
    # Without the summary it checkpoints, the request itself is invalid (422).
    refused = api.call("update", session_id=sid, body={"summary_through_seq": 1})
    assert refused["statusCode"] == 422, refused["body"]
    assert body_of(refused)["error"]["details"]["errors"][0]["loc"] == ["body"]
    assert body_of(api.call("get", session_id=sid))["summary_through_seq"] is None
    patched = body_of(
        api.call("update", session_id=sid, body={"summary": "greeted; tool ran", "summary_through_seq": 2})
    )
    assert patched["summary_through_seq"] == 2 and patched["summary"] == "greeted; tool ran"
    window = context(api, sid)
    assert window["summary_through_seq"] == 2 and window["summary"] == "greeted; tool ran"
    assert [m["seq"] for m in window["messages"]] == [3, 4]
    assert window["token_estimate"] == 90 + 5  # the summary's 17 characters count ceil(17 / 4)
    assert len(history(api, sid)) == 5  # history keeps every message


# --- feedback and corrections --------------------------------------------------------------------


def test_feedback_is_stored_on_the_message_and_replaced(api: Any, table: Any, chat: Any, calls: Any) -> None:
    sid = chat["session_id"]
    target = history(api, sid)[3]
    calls.reset()
    response = api.call(
        "feedback",
        session_id=sid,
        body={"message_id": target["message_id"], "rating": "positive", "feedback_text": "good"},
    )
    assert response["statusCode"] == 200, response["body"]
    assert calls.calls == {"TransactWriteItems": 1}  # its id carries its seq: no read at all
    result = body_of(response)
    assert {k: result[k] for k in ("session_id", "message_id", "rating", "stored")} == {
        "session_id": sid,
        "message_id": target["message_id"],
        "rating": "positive",
        "stored": True,
    }
    api.call("feedback", session_id=sid, body={"message_id": target["message_id"], "rating": "negative"})
    stored = history(api, sid)[3]["feedback"]
    assert stored["rating"] == "negative" and stored["feedback_text"] is None
    assert body_of(api.call("get", session_id=sid))["version"] == chat["version"] + 1  # the append only


def test_feedback_on_a_message_not_in_the_session_is_404(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    other = api.created({})["session_id"]
    foreign = append(api, other, {"content": "elsewhere"})["messages"][0]["message_id"]
    popped = history(api, sid)[-1]["message_id"]
    api.call("rewind", session_id=sid, query={"last": "1"})
    for message_id in (foreign, popped, "msg_AAAAAAAAAAAAAAAA.3", "msg_oldstyleid0000000000"):
        response = api.call("feedback", session_id=sid, body={"message_id": message_id, "rating": "positive"})
        assert response["statusCode"] == 404, (message_id, response["body"])
        assert body_of(response)["error"]["code"] == "message_not_found"
    assert (
        api.call("feedback", session_id="nope", body={"message_id": foreign, "rating": "positive"})["statusCode"] == 404
    )


def test_redaction_corrects_a_message_and_the_stats_follow(api: Any, table: Any, chat: Any) -> None:
    sid = chat["session_id"]
    response = api.call(
        "update_message",
        session_id=sid,
        seq=0,
        body={"content": "[redacted]", "token_count": 2, "metadata": {"pii": True}},
    )
    assert response["statusCode"] == 200, response["body"]
    message = body_of(response)
    assert (message["content"], message["token_count"], message["metadata"]) == ("[redacted]", 2, {"pii": True})
    assert message["message_id"] == history(api, sid)[0]["message_id"]
    session = body_of(api.call("get", session_id=sid))
    assert session["stats"]["total_tokens"] == 150 - 8 and session["version"] == chat["version"] + 2
    stored = message_items(table, sid)[0]
    assert stored["content"]["S"] == "[redacted]" and "hello there" not in str(stored)
    over = api.call("update_message", session_id=sid, seq=1, body={"token_count": 100})  # quota 200
    assert over["statusCode"] == 429 and body_of(over)["error"]["code"] == "quota_max_tokens_total"
    for seq, body, status in ((9, {"content": "x"}, 404), (1, {"content": None}, 422), (1, {}, 422)):
        assert api.call("update_message", session_id=sid, seq=seq, body=body)["statusCode"] == status


# --- fork ----------------------------------------------------------------------------------------


def test_fork_copies_configuration_and_messages_through_a_seq(api: Any, table: Any, chat: Any) -> None:
    sid = chat["session_id"]
    api.call("update", session_id=sid, body={"metadata": {"team": "a", "drop": "me"}, "situation": "be brief"})
    response = api.call(
        "fork",
        session_id=sid,
        body={"through_seq": 2, "metadata": {"drop": None, "branch": "b"}, "session_name": "alt"},
    )
    assert response["statusCode"] == 200, response["body"]
    child = body_of(response)
    assert child["forked_from"] == {"session_id": sid, "through_seq": 2}
    assert child["session_id"] != sid and child["message_count"] == 3
    assert (child["user_id"], child["situation"], child["session_name"]) == ("u1", "be brief", "alt")
    assert child["metadata"] == {"team": "a", "branch": "b"}
    assert child["stats"] == {"total_messages": 3, "total_tokens": 60, "total_tool_calls": 1, "avg_latency_ms": None}
    parent_messages, child_messages = history(api, sid)[:3], history(api, child["session_id"])
    strip = lambda ms: [{k: v for k, v in m.items() if k not in ("message_id", "timestamp")} for m in ms]  # noqa: E731
    assert strip(child_messages) == strip(parent_messages)
    assert not {m["message_id"] for m in child_messages} & {m["message_id"] for m in parent_messages}
    # independent: purging the parent leaves the child whole
    api.call("terminate", session_id=sid, query={"purge": "true"})
    assert len(history(api, child["session_id"])) == 3
    listed = body_of(api.call("list", body={"filters": {"metadata": {"branch": "b"}}}))
    assert listed["total"] == 1 and listed["results"][0]["session_id"] == child["session_id"]


def test_fork_is_idempotent_and_names_its_child(api: Any, chat: Any) -> None:
    sid = chat["session_id"]
    key = {"Idempotency-Key": "fork-1"}
    first = api.call("fork", session_id=sid, body={"session_id": "branch:1"}, headers=key)
    again = api.call("fork", session_id=sid, body={"session_id": "branch:1"}, headers=key)
    assert first["statusCode"] == again["statusCode"] == 200
    assert body_of(again) == body_of(first) and header_of(again, "Idempotent-Replayed") == "true"
    assert body_of(first)["session_id"] == "branch:1"
    other_body = api.call("fork", session_id=sid, body={"through_seq": 0}, headers=key)
    assert other_body["statusCode"] == 409
    taken = api.call("fork", session_id=sid, body={"session_id": "branch:1"})
    assert taken["statusCode"] == 409 and body_of(taken)["error"]["code"] == "session_exists"
    beyond = api.call("fork", session_id=sid, body={"through_seq": 5})
    assert beyond["statusCode"] == 409, beyond["body"]
    assert body_of(beyond)["error"]["details"] == {"field": "through_seq", "seq": 5, "message_count": 5}


def test_a_fork_that_fails_halfway_leaves_nothing_visible(
    api: Any, table: Any, chat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from agent_sessions.store.conversation import ConversationStore

    sid = api.created({"user_id": "u1"})["session_id"]
    for start in range(0, 200, 50):
        append(api, sid, *({"content": f"m{n}"} for n in range(start, start + 50)))
    before = scan_all(table)
    original = ConversationStore._put_chunk
    written: list[int] = []

    def failing(self: Any, chunk: Any) -> None:
        if len(written) >= 3:  # the store fails after some copies were written
            error = {"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}
            raise ClientError(error, "BatchWriteItem")  # type: ignore[arg-type]
        written.append(len(chunk))
        original(self, chunk)

    monkeypatch.setattr(ConversationStore, "_put_chunk", failing)
    response = api.call("fork", session_id=sid, body={"session_id": "half"})
    assert response["statusCode"] == 503 and header_of(response, "Retry-After")
    assert sum(written) >= 75  # copies were written before the failure
    assert api.call("get", session_id="half")["statusCode"] == 404
    assert body_of(api.call("list", body={}))["total"] == 2  # the chat and the parent, no child
    assert scan_all(table) == before  # the copies and the invisible head were removed
    monkeypatch.undo()
    done = api.call("fork", session_id=sid, body={"session_id": "half"})  # the same fork, again
    assert done["statusCode"] == 200 and body_of(done)["message_count"] == 200


def test_a_pending_fork_head_is_invisible_and_expires(api: Any, table: Any, chat: Any) -> None:
    from agent_sessions.models.items import SessionItem
    from agent_sessions.runtime import conversation_service

    store = conversation_service().store
    pending = SessionItem(
        namespace_id="ns_test", session_id="pending", internal_id="int_testorg",
        created_ms=1, updated_ms=1, last_activity_ms=1, expires_ms=1,
    )  # fmt: skip
    store.put_pending(pending, 3600, 1_000_000)
    item = next(i for i in scan_all(table) if i["PK"]["S"].endswith("#SES#pending"))
    assert item["status"]["S"] == "forking" and int(item["ttl"]["N"]) == 1000 + 3600
    assert not {"GSI1PK", "GSI2PK", "DUEPK"} & set(item)
    assert api.call("get", session_id="pending")["statusCode"] == 404
    assert body_of(api.call("list", body={}))["total"] == 1


# --- erasure and caller-chosen ids -----------------------------------------------------------------


def test_erasing_a_user_removes_every_item_of_their_sessions(api: Any, table: Any) -> None:
    mine = [api.created({"user_id": "gone", "metadata": {"k": str(n)}})["session_id"] for n in range(3)]
    keep = api.created({"user_id": "stays"})["session_id"]
    for sid in mine:
        append(api, sid, {"content": "secret"})
    api.call("terminate", session_id=mine[0])
    response = api.call("erase", query={"user_id": "gone"})
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response) == {"purged": 3, "has_more": False}
    left = scan_all(table)
    assert not [i for i in left if any(sid in i["PK"]["S"] for sid in mine)]
    assert "secret" not in str(left)
    assert body_of(api.call("list", body={"filters": {"user_id": "gone"}}))["total"] == 0
    assert body_of(api.call("list", body={}))["total"] == 1
    assert api.call("get", session_id=keep)["statusCode"] == 200
    assert body_of(api.call("erase", query={"user_id": "gone"})) == {"purged": 0, "has_more": False}
    assert api.call("erase", query={})["statusCode"] == 422


def test_a_caller_chosen_session_id(api: Any) -> None:
    created = api.created({"session_id": "thread:abc-1.2", "user_id": "u"})
    assert created["session_id"] == "thread:abc-1.2"
    assert body_of(api.call("get", session_id="thread:abc-1.2"))["user_id"] == "u"
    duplicate = api.create({"session_id": "thread:abc-1.2"})
    assert duplicate["statusCode"] == 409 and body_of(duplicate)["error"]["code"] == "session_exists"
    key = {"Idempotency-Key": "named-1"}
    first = api.create({"session_id": "named"}, headers=key)
    replay = api.create({"session_id": "named"}, headers=key)
    assert first["statusCode"] == replay["statusCode"] == 200 and body_of(first) == body_of(replay)
    for bad in ("has space", "x" * 129, "a#b", ""):
        assert api.create({"session_id": bad})["statusCode"] == 422, bad
    append(api, "thread:abc-1.2", {"content": "hi"})
    assert [m["content"] for m in history(api, "thread:abc-1.2")] == ["hi"]


def test_a_context_window_stops_before_lambdas_response_limit(api: Any) -> None:
    # 40 messages of 250 KB (10 MB) and no token budget: the newest that one response can
    # carry beside the situation, oldest first, marked truncated
    import json

    sid = api.created({"situation": "You help.\x01" * 5_000})["session_id"]
    for start in range(0, 40, 10):
        batch = [{"content": f"{start + i:02d}" + "x" * 250_000} for i in range(10)]
        append(api, sid, *batch)
    response = api.call("context", session_id=sid, query={"max_messages": "200"})
    assert response["statusCode"] == 200
    assert len(json.dumps(response)) < 6_291_456
    window = body_of(response)
    kept = [int(m["content"][:2]) for m in window["messages"]]
    assert window["truncated"] is True and 10 <= len(kept) < 40
    assert kept == list(range(40 - len(kept), 40))  # the newest, oldest first
