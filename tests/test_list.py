"""Listing: the namespace index, lookups, filters, sort, cursors, totals, round trips."""

from __future__ import annotations

import json
import os

import pytest

from support import OTHER_TENANT, body_of


def ids(page):
    return [s["session_id"] for s in page["results"]]


def make_sessions(api, frozen_clock, specs):
    created = []
    for spec in specs:
        frozen_clock.advance(1)
        created.append(api.created(spec))
    return created


@pytest.fixture
def population(api, frozen_clock):
    specs = [
        {"user_id": "alice", "agent_id": "bot", "metadata": {"team": "a", "tier": 1}},
        {"user_id": "bob", "agent_id": "bot", "metadata": {"team": "b", "tier": 1}},
        {"user_id": "alice", "agent_id": "helper", "metadata": {"team": "a", "tier": 2}},
        {"user_id": "carol", "metadata": {"team": "a"}},
        {"user_id": "alice", "agent_id": "bot", "metadata": {"team": "b", "tier": 2}},
    ]
    return make_sessions(api, frozen_clock, specs)


SHARD_QUERIES = 1  # a family that never needed more has one shard: one Query
# A first page that does not reach the end of its partition also reads the due index's shards,
# side by side with the listing's (still one round trip): sessions that ended but that the
# expiry job has not settled yet are taken off the counter's total (test_exact_totals.py). A
# page that reaches the end counts what it saw.
FIRST_PAGE_QUERIES = SHARD_QUERIES + 1  # a new table's due index has one shard too


def test_namespace_list_is_newest_first_with_exact_total_in_two_round_trips(api, population, calls):
    calls.reset()
    page = body_of(api.call("list", body={}))
    assert ids(page) == [s["session_id"] for s in reversed(population)]
    assert page["total"] == 5
    assert page["pagination"] == {"limit": 50, "next_cursor": None, "has_more": False}
    # the shard, then the heads, bodies and the counter (which holds the count) in one batch get
    assert calls.calls == {"Query": SHARD_QUERIES, "BatchGetItem": 1}
    assert page["results"][0] == population[-1]


def test_oldest_first(api, population):
    page = body_of(api.call("list", body={"sort": {"field": "created_at", "direction": "asc"}}))
    assert ids(page) == [s["session_id"] for s in population]
    assert page["total"] == 5


def test_cursor_pages_through_everything_once(api, population, calls):
    seen, cursor, pages = [], None, 0
    while True:
        calls.reset()
        body = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = body_of(api.call("list", body=body))
        # a later page skips the shards the cursor says were read to their end (and the
        # total is the cursor's: no due shard is read)
        first = pages == 0
        assert calls.calls["BatchGetItem"] == 1 and 1 <= calls.calls["Query"] <= (
            FIRST_PAGE_QUERIES if first else SHARD_QUERIES
        )
        assert set(calls.calls) == {"Query", "BatchGetItem"}
        assert page["total"] == 5
        seen += ids(page)
        pages += 1
        cursor = page["pagination"]["next_cursor"]
        assert page["pagination"]["has_more"] is (cursor is not None)
        if not cursor:
            break
    assert pages == 3
    assert seen == [s["session_id"] for s in reversed(population)]


def test_lookup_by_user_is_two_calls_with_exact_total(api, population, calls):
    calls.reset()
    page = body_of(api.call("list", body={"filters": {"user_id": "alice"}}))
    assert ids(page) == [population[4]["session_id"], population[2]["session_id"], population[0]["session_id"]]
    assert page["total"] == 3
    assert calls.calls == {"Query": SHARD_QUERIES, "BatchGetItem": 1}


def test_lookup_reads_only_matching_sessions_whatever_the_namespace_size(api, frozen_clock, table, calls):
    make_sessions(api, frozen_clock, [{"user_id": f"crowd-{i}"} for i in range(60)])
    target = api.created({"user_id": "needle"})
    consumed = []
    table.meta.events.register(
        "after-call.dynamodb",
        lambda parsed, model, **_: consumed.append(
            (model.name, parsed.get("Count", len(parsed.get("Responses", {}).get(os.environ["TABLE_NAME"], []))))
        ),
    )
    calls.reset()
    page = body_of(api.call("list", body={"filters": {"user_id": "needle"}}))
    assert ids(page) == [target["session_id"]] and page["total"] == 1
    assert calls.calls == {"Query": SHARD_QUERIES, "BatchGetItem": 1}
    # the shard holds one lookup item; the batch get reads its head, body and counter shard
    # (which holds the count), and, on the container's first check, the table's marker
    assert sum(count for name, count in consumed if name == "Query") == 1
    assert [count for name, count in consumed if name == "BatchGetItem"] == [4]


def test_agent_and_single_metadata_lookups(api, population):
    by_agent = body_of(api.call("list", body={"filters": {"agent_id": "bot"}}))
    assert set(ids(by_agent)) == {population[i]["session_id"] for i in (0, 1, 4)} and by_agent["total"] == 3
    by_team = body_of(api.call("list", body={"filters": {"metadata": {"team": "a"}}}))
    assert set(ids(by_team)) == {population[i]["session_id"] for i in (0, 2, 3)} and by_team["total"] == 3


def test_several_filters_are_anded(api, population):
    page = body_of(api.call("list", body={"filters": {"metadata": {"team": "b", "tier": 2}}}))
    assert ids(page) == [population[4]["session_id"]] and page["total"] == 1
    page = body_of(
        api.call("list", body={"filters": {"user_id": "alice", "agent_id": "bot", "metadata": {"team": "a"}}})
    )
    assert ids(page) == [population[0]["session_id"]] and page["total"] == 1


def test_metadata_numbers_match_their_text(api, population):
    as_text = body_of(api.call("list_get", query={"metadata.tier": "1"}))
    as_number = body_of(api.call("list", body={"filters": {"metadata": {"tier": 1}}}))
    assert set(ids(as_text)) == set(ids(as_number)) == {population[0]["session_id"], population[1]["session_id"]}


def test_status_filter_uses_derived_idle(api, population, frozen_clock):
    api.call("update", session_id=population[1]["session_id"], body={"status": "archived"})
    api.call("terminate", session_id=population[2]["session_id"])
    frozen_clock.advance(1800)
    fresh = api.created({"user_id": "dave"})
    assert ids(body_of(api.call("list", body={"status": "active"}))) == [fresh["session_id"]]
    idle = body_of(api.call("list", body={"status": "idle"}))
    assert set(ids(idle)) == {population[i]["session_id"] for i in (0, 3, 4)} and idle["total"] == 3
    assert ids(body_of(api.call("list", body={"status": "archived"}))) == [population[1]["session_id"]]
    assert ids(body_of(api.call("list", body={"status": "terminated"}))) == [population[2]["session_id"]]
    assert all(s["status"] == "idle" for s in idle["results"])


def test_created_range(api, population):
    after = population[1]["created_at"]
    before = population[4]["created_at"]
    page = body_of(api.call("list", body={"filters": {"created_after": after, "created_before": before}}))
    assert ids(page) == [population[3]["session_id"], population[2]["session_id"]] and page["total"] == 2
    page = body_of(api.call("list", body={"filters": {"user_id": "alice", "created_after": after}}))
    assert ids(page) == [population[4]["session_id"], population[2]["session_id"]] and page["total"] == 2


def test_sort_by_last_activity(api, population, frozen_clock):
    frozen_clock.advance(10)
    api.call("update", session_id=population[0]["session_id"], body={"status": "archived"})
    api.call("update", session_id=population[0]["session_id"], body={"status": "active"})  # activity now
    sort = {"field": "last_activity_at", "direction": "desc"}
    ns = body_of(api.call("list", body={"sort": sort}))
    assert ids(ns)[0] == population[0]["session_id"] and ns["total"] == 5
    mine = body_of(api.call("list", body={"sort": sort, "filters": {"user_id": "alice"}}))
    assert ids(mine) == [population[i]["session_id"] for i in (0, 4, 2)]
    team = body_of(api.call("list", body={"sort": sort, "filters": {"metadata": {"team": "a"}}, "limit": 2}))
    assert ids(team) == [population[i]["session_id"] for i in (0, 3)] and team["total"] == 3
    rest = body_of(
        api.call(
            "list",
            body={"sort": sort, "filters": {"metadata": {"team": "a"}}, "cursor": team["pagination"]["next_cursor"]},
        )
    )
    assert ids(rest) == [population[2]["session_id"]]


def test_include_total_false_gives_minus_one(api, population):
    page = body_of(api.call("list_get", query={"include_total": "false", "limit": "2"}))
    assert page["total"] == -1 and len(page["results"]) == 2 and page["pagination"]["has_more"] is True


def test_offset_and_page(api, population):
    page = body_of(api.call("list_get", query={"offset": "1", "limit": "2"}))
    assert ids(page) == [population[3]["session_id"], population[2]["session_id"]] and page["total"] == 5
    page = body_of(api.call("list_get", query={"page": "3", "page_size": "2"}))
    assert ids(page) == [population[0]["session_id"]]
    # The document's bound on offset is a 422 naming the field; page x limit past it (which no
    # schema can state) the service's 400.
    for refused in (api.call("list_get", query={"offset": "10001"}), api.call("list", body={"offset": 10001})):
        assert refused["statusCode"] == 422, refused["body"]
        assert body_of(refused)["error"]["details"]["errors"][0]["loc"][-1] == "offset"
    too_far = api.call("list_get", query={"page": "102", "page_size": "100"})
    assert too_far["statusCode"] == 400 and body_of(too_far)["error"]["code"] == "offset_too_large"
    assert body_of(api.call("list_get", query={"page": "101", "page_size": "100"}))["results"] == []


def test_query_parameter_form(api, population):
    page = body_of(api.call("list_get", query={"user_id": "alice", "agent_id": "bot", "order": "asc"}))
    assert ids(page) == [population[0]["session_id"], population[4]["session_id"]]
    page = body_of(api.call("list_get", query={"metadata_filter": json.dumps({"team": "b"})}))
    assert set(ids(page)) == {population[1]["session_id"], population[4]["session_id"]}
    assert api.call("list_get", query={"metadata_filter": "{not json"})["statusCode"] == 422
    assert api.call("list_get", query={"limit": "0"})["statusCode"] == 422
    assert api.call("list_get", query={"limit": "201"})["statusCode"] == 422
    assert api.call("list_get", query={"status": "sleeping"})["statusCode"] == 422


def test_expired_sessions_are_not_listed(api, frozen_clock):
    short = api.created({"ttl_seconds": 5, "user_id": "u"})
    long = api.created({"user_id": "u"})
    frozen_clock.advance(5)
    assert ids(body_of(api.call("list", body={}))) == [long["session_id"]]
    assert ids(body_of(api.call("list", body={"filters": {"user_id": "u"}}))) == [long["session_id"]]
    assert short["session_id"] not in json.dumps(body_of(api.call("list", body={"status": "active"})))


def test_namespaces_never_mix(api, population):
    theirs = body_of(api.call("list", body={}, tenant=OTHER_TENANT))
    assert theirs["results"] == [] and theirs["total"] == 0
    assert body_of(api.call("list", body={"filters": {"user_id": "alice"}}, tenant=OTHER_TENANT))["total"] == 0


def test_cursor_tampering_and_reuse_elsewhere_are_400(api, population):
    cursor = body_of(api.call("list", body={"limit": 2}))["pagination"]["next_cursor"]
    payload, signature = cursor.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (flipped + "." + signature, cursor + "x", "garbage"):
        response = api.call("list", body={"limit": 2, "cursor": bad})
        assert response["statusCode"] == 400, bad
        assert body_of(response)["error"]["code"] == "invalid_cursor"
    other_filter = api.call("list", body={"limit": 2, "cursor": cursor, "status": "active"})
    assert other_filter["statusCode"] == 400
    other_namespace = api.call("list", body={"limit": 2, "cursor": cursor}, tenant=OTHER_TENANT)
    assert other_namespace["statusCode"] == 400


def test_an_offset_with_a_cursor_skips_from_the_cursor_and_an_empty_cursor_is_the_first_page(api, population):
    first = body_of(api.call("list", body={"limit": 2}))
    assert ids(first) == [population[4]["session_id"], population[3]["session_id"]]
    cursor = first["pagination"]["next_cursor"]
    skipped = body_of(api.call("list", body={"limit": 2, "cursor": cursor, "offset": 1}))
    assert ids(skipped) == [population[1]["session_id"], population[0]["session_id"]]
    assert skipped["pagination"]["has_more"] is False
    from_query = body_of(api.call("list_get", query={"limit": "2", "cursor": cursor, "offset": "1"}))
    assert ids(from_query) == ids(skipped)
    for empty in (
        api.call("list", body={"limit": 2, "cursor": ""}),
        api.call("list_get", query={"limit": "2", "cursor": ""}),
    ):
        assert ids(body_of(empty)) == ids(first)


def test_list_body_refuses_unknown_keys(api):
    response = api.call("list", body={"filters": {"colour": "red"}})
    assert response["statusCode"] == 422
    assert "user_id" in body_of(response)["error"]["message"]


def test_unknown_query_parameters_are_refused_naming_what_is_accepted(api, population):
    refused = api.call("list_get", query={"limt": "5"})
    assert refused["statusCode"] == 422, refused["body"]
    error = body_of(refused)["error"]
    assert error["code"] == "unknown_query_parameter"
    assert error["details"]["errors"] == [
        {"loc": ["query", "limt"], "msg": "Unknown query parameter", "type": "extra_forbidden"}
    ]
    assert (
        "limit" in error["details"]["accepted_parameters"] and "metadata.KEY" in error["details"]["accepted_parameters"]
    )
    # the metadata.KEY family stays accepted
    assert api.call("list_get", query={"metadata.team": "b"})["statusCode"] == 200
    assert api.call("list", body={}, query={"user_id": "alice"})["statusCode"] == 422  # not a POST list parameter
