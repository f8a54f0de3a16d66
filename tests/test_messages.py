"""Appending messages and reading history: order, seq, atomicity, If-Match, quotas, naming, stats."""

from __future__ import annotations

import json

import pytest

from agent_sessions.service.messages import session_name_from
from conftest import scan_all
from support import OTHER_TENANT, body_of, header_of, stored_content


def messages_in_table(table, sid):
    """(seq, content) of every stored message; a content kept in S3 is read from its object."""
    return sorted(
        (int(i["seq"]["N"]), stored_content(i))
        for i in scan_all(table)
        if sid in i["PK"]["S"] and i["SK"]["S"].startswith("MSG#")
    )


def append(api, sid, body, **kwargs):
    return api.call("append", session_id=sid, body=body, **kwargs)


def test_single_and_batch_appends_get_gapless_seq_in_request_order(api, table):
    sid = api.created({})["session_id"]
    first = body_of(append(api, sid, {"content": "one"}))
    assert [m["seq"] for m in first["messages"]] == [0]
    assert first["messages"][0]["role"] == "user"
    assert first["messages"][0]["content_type"] == "text"
    batch = body_of(append(api, sid, {"messages": [{"role": "assistant", "content": "two"}, {"content": "three"}]}))
    assert [m["seq"] for m in batch["messages"]] == [1, 2]
    assert batch["message_count"] == 3
    assert messages_in_table(table, sid) == [(0, "one"), (1, "two"), (2, "three")]
    history = body_of(api.call("history", session_id=sid))
    assert [(m["seq"], m["content"]) for m in history["messages"]] == [(0, "one"), (1, "two"), (2, "three")]
    assert history["total_messages"] == 3 and history["returned_messages"] == 3
    assert body_of(api.call("get", session_id=sid))["message_count"] == 3


def test_append_with_if_match_is_one_call_and_without_is_two(api, calls):
    sid = api.created({})["session_id"]
    calls.reset()
    append(api, sid, {"content": "a"}, headers={"If-Match": '"0"'})
    assert calls.calls == {"TransactWriteItems": 1}
    calls.reset()
    append(api, sid, {"content": "b"})
    assert calls.calls == {"GetItem": 1, "TransactWriteItems": 1}


def test_stale_if_match_is_412_with_the_current_count_and_writes_nothing(api, table):
    sid = api.created({})["session_id"]
    append(api, sid, {"content": "a"}, headers={"If-Match": '"0"'})
    stale = append(api, sid, {"content": "again"}, headers={"If-Match": '"0"'})
    assert stale["statusCode"] == 412
    assert body_of(stale)["error"]["details"]["message_count"] == 1
    assert header_of(stale, "ETag") == '"1"'
    assert messages_in_table(table, sid) == [(0, "a")]


def test_idempotent_append_replays(api, table):
    sid = api.created({})["session_id"]
    first = append(api, sid, {"content": "once"}, headers={"Idempotency-Key": "a1"})
    again = append(api, sid, {"content": "once"}, headers={"Idempotency-Key": "a1"})
    assert body_of(again) == body_of(first)
    assert header_of(again, "Idempotent-Replayed") == "true"
    assert messages_in_table(table, sid) == [(0, "once")]
    other = append(api, sid, {"content": "different"}, headers={"Idempotency-Key": "a1"})
    assert other["statusCode"] == 409


def test_an_idempotent_batch_of_large_messages_is_stored_and_replayed_whole(api, table):
    # the replay record keeps what the request does not repeat: it used to hold every
    # message's content and passed DynamoDB's 400 KB item limit (a 500)
    sid = api.created({})["session_id"]
    batch = {
        "messages": [
            {"content": "a" * 200_000, "metadata": {"part": 0}},
            {"content": "b" * 200_000, "tool_inputs": "c" * 50_000, "tool_outputs": "d" * 9, "metadata": {"part": 1}},
        ]
    }
    first = append(api, sid, batch, headers={"Idempotency-Key": "large-1"})
    assert first["statusCode"] == 200
    again = append(api, sid, batch, headers={"Idempotency-Key": "large-1"})
    assert header_of(again, "Idempotent-Replayed") == "true"
    assert body_of(again) == body_of(first)
    assert [m["content"][:1] for m in body_of(again)["messages"]] == ["a", "b"]
    assert body_of(again)["messages"][1]["tool_inputs"] == "c" * 50_000
    assert messages_in_table(table, sid) == [(0, "a" * 200_000), (1, "b" * 200_000)]
    records = [i for i in scan_all(table) if i.get("kind", {}).get("S") == "idempotency"]
    assert records and all(len(i["response_body"]["S"]) < 2_000 for i in records)


def test_quota_refusals_write_nothing(api, table):
    sid = api.created({"quotas": {"max_messages": 3, "max_tokens_total": 100, "max_tool_calls": 1}})["session_id"]
    assert append(api, sid, {"messages": [{"content": "a", "token_count": 60}, {"content": "b"}]})["statusCode"] == 200
    too_many = append(api, sid, {"messages": [{"content": "c"}, {"content": "d"}]})
    assert too_many["statusCode"] == 429
    assert body_of(too_many)["error"]["code"] == "quota_max_messages"
    tokens = append(api, sid, {"content": "c", "token_count": 41}, headers={"If-Match": '"2"'})
    assert tokens["statusCode"] == 429
    assert body_of(tokens)["error"]["code"] == "quota_max_tokens_total"
    assert messages_in_table(table, sid) == [(0, "a"), (1, "b")]
    assert append(api, sid, {"content": "c", "token_count": 40}, headers={"If-Match": '"2"'})["statusCode"] == 200
    assert body_of(api.call("get", session_id=sid))["stats"]["total_tokens"] == 100


def test_tool_call_quota(api):
    sid = api.created({"quotas": {"max_tool_calls": 1}})["session_id"]
    call = {"role": "assistant", "content": "{}", "content_type": "tool_call", "tool_name": "search"}
    assert append(api, sid, call)["statusCode"] == 200
    refused = append(api, sid, call, headers={"If-Match": '"1"'})
    assert refused["statusCode"] == 429
    assert body_of(refused)["error"]["code"] == "quota_max_tool_calls"


def test_rate_limit_per_minute_with_retry_after(api, frozen_clock):
    frozen_clock.now = (frozen_clock.now // 60_000) * 60_000 + 1_000  # one second into a minute
    sid = api.created({"quotas": {"rate_limit_messages_per_minute": 3}})["session_id"]
    assert append(api, sid, {"messages": [{"content": "a"}, {"content": "b"}]})["statusCode"] == 200
    assert append(api, sid, {"content": "c"}, headers={"If-Match": '"2"'})["statusCode"] == 200
    limited = append(api, sid, {"content": "d"})
    assert limited["statusCode"] == 429
    assert body_of(limited)["error"]["code"] == "quota_rate_limit_messages_per_minute"
    assert header_of(limited, "Retry-After") == "59"
    frozen_clock.advance(60)
    assert append(api, sid, {"content": "d"}, headers={"If-Match": '"3"'})["statusCode"] == 200


def test_read_only_and_expired_sessions_refuse_appends(api, table, frozen_clock):
    archived = api.created({})["session_id"]
    api.call("update", session_id=archived, body={"status": "archived"})
    refused = append(api, archived, {"content": "x"})
    assert refused["statusCode"] == 409 and body_of(refused)["error"]["code"] == "session_archived"
    assert append(api, archived, {"content": "x"}, headers={"If-Match": '"0"'})["statusCode"] == 409
    terminated = api.created({})["session_id"]
    api.call("terminate", session_id=terminated)
    assert body_of(append(api, terminated, {"content": "x"}))["error"]["code"] == "session_terminated"
    short = api.created({"ttl_seconds": 5})["session_id"]
    frozen_clock.advance(5)
    assert append(api, short, {"content": "x"})["statusCode"] == 404
    assert append(api, short, {"content": "x"}, headers={"If-Match": '"0"'})["statusCode"] == 404
    assert not [i for i in scan_all(table) if i["SK"]["S"].startswith("MSG#")]


def test_idle_session_becomes_active_on_append(api, frozen_clock):
    sid = api.created({})["session_id"]
    frozen_clock.advance(1800)
    assert body_of(api.call("get", session_id=sid))["status"] == "idle"
    append(api, sid, {"content": "back"})
    assert body_of(api.call("get", session_id=sid))["status"] == "active"


def test_session_is_named_from_the_first_user_message_only(api):
    sid = api.created({})["session_id"]
    named = body_of(
        append(api, sid, {"messages": [{"role": "system", "content": "sys"}, {"content": "Plan my   trip\nto Lisbon"}]})
    )
    assert named["session_name"] == "Plan my trip to Lisbon"
    body_of(append(api, sid, {"content": "Something else"}))
    assert body_of(api.call("get", session_id=sid))["session_name"] == "Plan my trip to Lisbon"
    # cleared by PATCH: later user messages do not name it again
    api.call("update", session_id=sid, body={"session_name": None})
    append(api, sid, {"content": "Yet another"})
    assert body_of(api.call("get", session_id=sid))["session_name"] is None


def test_explicit_name_is_kept(api):
    sid = api.created({"session_name": "Mine"})["session_id"]
    result = body_of(append(api, sid, {"content": "hello"}))
    assert result["session_name"] == "Mine"
    assert body_of(api.call("get", session_id=sid))["session_name"] == "Mine"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("short", "short"),
        ("word " * 30, ("word " * 16).strip()),
        ("x" * 100, "x" * 80),
        ("   ", None),
        ("a" * 79 + " tail", "a" * 79),
    ],
)
def test_generated_names_cut_at_a_word_boundary(content, expected):
    name = session_name_from(content)
    assert name == expected
    assert name is None or len(name) <= 80


def test_stats_arithmetic(api):
    sid = api.created({})["session_id"]
    append(
        api,
        sid,
        {
            "messages": [
                {"content": "q", "token_count": 10, "latency_ms": 100},
                {
                    "role": "assistant",
                    "content": "{}",
                    "content_type": "tool_call",
                    "token_count": 5,
                    "latency_ms": 300,
                },
                {"role": "tool", "content": "r", "content_type": "tool_result"},
            ]
        },
    )
    append(api, sid, {"role": "assistant", "content": "a", "token_count": 7, "latency_ms": 200.5})
    stats = body_of(api.call("get", session_id=sid))["stats"]
    assert stats == {"total_messages": 4, "total_tokens": 22, "total_tool_calls": 1, "avg_latency_ms": 200.167}


def test_size_limits(api, table):
    sid = api.created({})["session_id"]
    # content: up to 4 MiB (kept in S3 past the inline size); more is 413 naming the field
    big = append(api, sid, {"content": "x" * (4 * 1024 * 1024 + 1)})
    assert big["statusCode"] == 413 and body_of(big)["error"]["details"]["errors"][0]["loc"][-1] == "content"
    # what the item keeps (tool fields, metadata, small content): 256 KiB a message
    fields = append(api, sid, {"content": "x", "tool_inputs": "x" * (256 * 1024)})
    assert fields["statusCode"] == 413 and body_of(fields)["error"]["code"] == "message_too_large"
    many = append(api, sid, {"messages": [{"content": "y", "tool_outputs": "y" * 200_000}] * 25})
    assert many["statusCode"] == 413
    assert body_of(many)["error"]["code"] == "transaction_too_large"
    assert "4 MB" in body_of(many)["error"]["message"]
    too_long = append(api, sid, {"messages": [{"content": "z"}] * 100})
    assert too_long["statusCode"] == 422
    assert (
        append(
            api,
            sid,
            {
                "messages": [{"content": "z"}] * 99,
            },
            headers={"Idempotency-Key": "k"},
        )["statusCode"]
        == 422
    )
    assert not [i for i in scan_all(table) if i["SK"]["S"].startswith("MSG#")]
    assert append(api, sid, {"messages": [{"content": "z"}] * 99})["statusCode"] == 200


def test_bad_bodies(api):
    sid = api.created({})["session_id"]
    assert append(api, sid, {})["statusCode"] == 422
    assert append(api, sid, {"content": "a", "messages": [{"content": "b"}]})["statusCode"] == 422
    assert append(api, sid, {"content": "a", "role": "robot"})["statusCode"] == 422
    assert append(api, sid, {"content": "a", "colour": 1})["statusCode"] == 422
    assert append(api, sid, {"content": "a", "stream": True})["statusCode"] == 200
    assert append(api, sid, {"messages": []})["statusCode"] == 422


def test_other_namespace_cannot_append_or_read(api, table):
    sid = api.created({})["session_id"]
    append(api, sid, {"content": "secret"})
    assert append(api, sid, {"content": "x"}, tenant=OTHER_TENANT)["statusCode"] == 404
    assert append(api, sid, {"content": "x"}, tenant=OTHER_TENANT, headers={"If-Match": '"1"'})["statusCode"] == 404
    history = api.call("history", session_id=sid, tenant=OTHER_TENANT)
    assert history["statusCode"] == 404 and "secret" not in history["body"]
    assert messages_in_table(table, sid) == [(0, "secret")]


def test_history_pages_by_offset_and_cursor_agree(api, calls):
    sid = api.created({})["session_id"]
    append(api, sid, {"messages": [{"content": f"m{i}"} for i in range(25)]})
    by_cursor, cursor = [], None
    while True:
        query = {"limit": "10"} | ({"cursor": cursor} if cursor else {})
        calls.reset()
        page = body_of(api.call("history", session_id=sid, query=query))
        assert calls.calls["Query"] == 1
        by_cursor += [m["seq"] for m in page["messages"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if not cursor:
            break
    by_offset = []
    for offset in (0, 10, 20):
        page = body_of(api.call("history", session_id=sid, query={"limit": "10", "offset": str(offset)}))
        by_offset += [m["seq"] for m in page["messages"]]
    assert by_cursor == by_offset == list(range(25))


def test_history_newest_first(api, calls):
    sid = api.created({})["session_id"]
    append(api, sid, {"messages": [{"content": f"m{i}"} for i in range(7)]})
    calls.reset()
    page = body_of(api.call("history", session_id=sid, query={"order": "desc", "limit": "3"}))
    assert calls.calls == {"Query": 1}
    assert [m["seq"] for m in page["messages"]] == [6, 5, 4]
    rest = body_of(
        api.call("history", session_id=sid, query={"order": "desc", "limit": "10", "cursor": page["next_cursor"]})
    )
    assert [m["seq"] for m in rest["messages"]] == [3, 2, 1, 0] and rest["has_more"] is False
    by_offset = body_of(api.call("history", session_id=sid, query={"order": "desc", "offset": "5"}))
    assert [m["seq"] for m in by_offset["messages"]] == [1, 0]


def test_history_validation_and_cursor_binding(api):
    sid = api.created({})["session_id"]
    other = api.created({})["session_id"]
    append(api, sid, {"messages": [{"content": "a"}, {"content": "b"}]})
    assert api.call("history", session_id=sid, query={"limit": "201"})["statusCode"] == 422
    assert api.call("history", session_id=sid, query={"limit": "0"})["statusCode"] == 422
    cursor = body_of(api.call("history", session_id=sid, query={"limit": "1"}))["next_cursor"]
    assert api.call("history", session_id=other, query={"cursor": cursor})["statusCode"] == 400
    assert api.call("history", session_id=sid, query={"cursor": cursor, "order": "desc"})["statusCode"] == 400
    assert api.call("history", session_id="ses_" + "n" * 22)["statusCode"] == 404


def test_a_history_page_stops_before_lambdas_response_limit_and_the_cursor_goes_on(api, table):
    # 40 messages of 250 KB are 10 MB: more than one Lambda response (6 MB) can carry
    sid = api.created({})["session_id"]
    contents = [chr(ord("a") + i % 26) * 250_000 for i in range(40)]
    for start in range(0, 40, 10):
        batch = {"messages": [{"content": c} for c in contents[start : start + 10]]}
        assert append(api, sid, batch)["statusCode"] == 200
    seen, pages = [], 0
    query = {"limit": "200"}
    while True:
        response = api.call("history", session_id=sid, query=query)
        assert response["statusCode"] == 200
        # the body inside the response, as the runtime serializes it, stays under 6 MB
        assert len(json.dumps(response)) < 6_291_456
        page = body_of(response)
        pages += 1
        seen += [m["content"] for m in page["messages"]]
        assert page["returned_messages"] == len(page["messages"]) and page["total_messages"] == 40
        if not page["has_more"]:
            break
        query = {"limit": "200", "cursor": page["next_cursor"]}
    assert seen == contents and pages >= 2


def test_text_that_escapes_large_is_measured_as_sent(api, table):
    # control characters take 6 bytes once escaped (and 7 in the response): 30 of these
    # messages are 1.2 MB of text and about 8.4 MB as sent
    sid = api.created({})["session_id"]
    content = "\x01" * 40_000
    for _ in range(3):
        assert append(api, sid, {"messages": [{"content": content}] * 10})["statusCode"] == 200
    seen, query = 0, {"limit": "50", "order": "desc"}
    while True:
        response = api.call("history", session_id=sid, query=query)
        assert len(json.dumps(response)) < 6_291_456
        page = body_of(response)
        assert page["returned_messages"] < 30 or seen  # the first page cannot hold all 30
        seen += page["returned_messages"]
        if not page["has_more"]:
            break
        query = {"limit": "50", "order": "desc", "cursor": page["next_cursor"]}
    assert seen == 30
