"""Sharded listing partitions: whatever the shards hold, pages come back in one exact global
order, every session once, with exact totals, through cursors that resume per shard.

On DynamoDB Local: moto copies the whole table for every transaction, so a crowd of sessions
there costs seconds per create."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from agent_sessions.admin import run as admin
from agent_sessions.store import keys
from conftest import Api
from support import body_of

pytestmark = pytest.mark.integration

POPULAR = {"agent_id": "support-bot", "metadata": {"env": "prod"}}


@pytest.fixture
def api(local_table: Any) -> Api:
    return Api()


@pytest.fixture
def crowd(api: Any, frozen_clock: Any) -> list[dict[str, Any]]:
    """70 sessions (spread over the 16 shards the namespace, the agent and the metadata pair
    were given), created 1 s apart; every other one by user u0 (one shard)."""
    for family in ([], ["--agent", "support-bot"], ["--metadata", "env=prod"]):  # u0 keeps one shard
        admin(["set-shards", "--namespace", "ns_test", "--count", "16", *family])
    sessions = []
    for index in range(70):
        frozen_clock.advance(1)
        body = {**POPULAR, "user_id": "u0" if index % 2 == 0 else f"user-{index}"}
        sessions.append(api.created(body))
    shards = Counter(keys.shard_of(s["session_id"], 16) for s in sessions)
    assert len(shards) >= 8 and len(set(shards.values())) > 1  # spread, unevenly
    return sessions


def pages(api: Any, body: dict[str, Any]) -> tuple[list[str], list[int]]:
    seen: list[str] = []
    totals: list[int] = []
    cursor = None
    while True:
        page = body_of(api.call("list", body=body | ({"cursor": cursor} if cursor else {})))
        seen += [s["session_id"] for s in page["results"]]
        totals.append(page["total"])
        cursor = page["pagination"]["next_cursor"]
        assert page["pagination"]["has_more"] is (cursor is not None)
        if cursor is None:
            return seen, totals


def test_pages_merge_the_shards_in_created_order(api: Any, crowd: Any) -> None:
    expected = [s["session_id"] for s in crowd]
    for filters in ({}, {"agent_id": "support-bot"}, {"metadata": {"env": "prod"}}):
        for direction in ("desc", "asc"):
            for limit in (1, 7, 16, 50, 200):
                body = {"limit": limit, "sort": {"field": "created_at", "direction": direction}, "filters": filters}
                seen, totals = pages(api, body)
                assert seen == (expected if direction == "asc" else expected[::-1]), body
                assert set(totals) == {70}, body


def test_a_users_sessions_by_activity_across_shards(api: Any, crowd: Any, frozen_clock: Any) -> None:
    mine = [s for i, s in enumerate(crowd) if i % 2 == 0]
    # activity in an order unrelated to creation and to the shards
    order = sorted(mine, key=lambda s: hash(s["session_id"]) % 997)
    for session in order:
        frozen_clock.advance(1)
        response = api.call("append", session_id=session["session_id"], body={"role": "user", "content": "hi"})
        assert response["statusCode"] == 200
    seen, totals = pages(api, {"limit": 6, "filters": {"user_id": "u0"}, "sort": {"field": "last_activity_at"}})
    assert seen == [s["session_id"] for s in reversed(order)]
    assert set(totals) == {35}
    everything, _ = pages(api, {"limit": 9, "sort": {"field": "last_activity_at", "direction": "asc"}})
    untouched = [s["session_id"] for i, s in enumerate(crowd) if i % 2 == 1]
    assert everything == untouched + [s["session_id"] for s in order]


def test_residual_filters_and_offset_across_shards(api: Any, crowd: Any) -> None:
    archived = [crowd[i]["session_id"] for i in range(0, 70, 5)]
    for session_id in archived:
        assert api.call("update", session_id=session_id, body={"status": "archived"})["statusCode"] == 200
    seen, totals = pages(api, {"limit": 4, "status": "archived"})
    assert seen == archived[::-1] and set(totals) == {14}
    page = body_of(api.call("list_get", query={"limit": "5", "offset": "10", "agent_id": "support-bot"}))
    assert [s["session_id"] for s in page["results"]] == [s["session_id"] for s in crowd[::-1][10:15]]
    assert page["total"] == 70


def test_a_cursor_from_another_filter_or_altered_shard_list_is_refused(api: Any, crowd: Any) -> None:
    first = body_of(api.call("list", body={"limit": 3}))
    cursor = first["pagination"]["next_cursor"]
    other = api.call("list", body={"limit": 3, "cursor": cursor, "filters": {"agent_id": "support-bot"}})
    assert other["statusCode"] == 400 and body_of(other)["error"]["code"] == "invalid_cursor"


def test_created_ranges_at_the_edges_of_time(api: Any, frozen_clock: Any) -> None:
    """On DynamoDB Local, which refuses a BETWEEN whose bounds cross: bounds that cross, years
    before 1000 (sort keys must keep four digits to sort as time) and the last and first
    instants RFC 3339 can name answer pages, never a 500."""
    made = []
    for _ in range(3):
        frozen_clock.advance(1)
        made.append(api.created({"user_id": "edge"}))
    ids = [s["session_id"] for s in made]

    def listed(filters: dict[str, Any]) -> tuple[list[str], int]:
        for call in (
            lambda: api.call("list", body={"filters": filters, "sort": {"direction": "asc"}}),
            lambda: api.call("list_get", query={key: str(value) for key, value in filters.items()} | {"order": "asc"}),
        ):
            response = call()
            assert response["statusCode"] == 200, response
            page = body_of(response)
        return [s["session_id"] for s in page["results"]], page["total"]

    middle = made[1]["created_at"]
    assert listed({"created_after": middle, "created_before": middle}) == ([], 0)
    assert listed({"created_after": "2999-01-01T00:00:00Z", "created_before": "2001-01-01T00:00:00Z"}) == ([], 0)
    assert listed({"created_after": "0021-01-01T00:00:00Z"}) == (ids, 3)
    assert listed({"created_before": "0999-12-31T23:59:59Z"}) == ([], 0)
    assert listed({"created_after": "9999-12-31T23:59:59.999Z"}) == ([], 0)
    assert listed({"created_before": "0001-01-01T00:00:00+01:00"}) == ([], 0)
    assert listed({"created_after": made[0]["created_at"], "created_before": made[2]["created_at"]}) == (
        [ids[1]],
        1,
    )


def test_totals_stay_exact_while_sessions_end_between_expiry_runs(api: Any, crowd: Any, frozen_clock: Any) -> None:
    """On DynamoDB Local's real indexes: sessions that expire, or whose retention after
    termination passes, while the expiry job does not run leave every page's total exact, in
    every counted partition and across the shards."""
    short = []
    for index in range(12):
        frozen_clock.advance(1)
        body = {**POPULAR, "user_id": "u0" if index % 2 == 0 else f"short-{index}", "ttl_seconds": 600}
        short.append(api.created(body))
    terminated = crowd[3]["session_id"]
    assert api.call("terminate", session_id=terminated)["statusCode"] == 200
    everyone = [s["session_id"] for s in crowd + short]
    u0 = [s["session_id"] for i, s in enumerate(crowd) if i % 2 == 0] + [
        s["session_id"] for i, s in enumerate(short) if i % 2 == 0
    ]
    filters = ({}, {"user_id": "u0"}, {"agent_id": "support-bot"}, {"metadata": {"env": "prod"}})

    def check(expected_all: list[str], expected_u0: list[str]) -> None:
        for flt in filters:
            wanted = expected_u0 if flt == {"user_id": "u0"} else expected_all
            seen, totals = pages(api, {"limit": 7, "filters": flt})
            assert sorted(seen) == sorted(wanted), flt
            assert set(totals) == {len(wanted)}, (flt, totals)

    check(everyone, u0)
    frozen_clock.advance(601)  # the 12 short sessions end; the job does not run
    gone = {s["session_id"] for s in short}
    check([s for s in everyone if s not in gone], [s for s in u0 if s not in gone])
    frozen_clock.advance(7 * 86400)  # and the terminated session's retention passes
    gone.add(terminated)
    check([s for s in everyone if s not in gone], [s for s in u0 if s not in gone])


def test_a_page_of_large_sessions_stops_before_lambdas_response_limit(api: Any, frozen_clock: Any) -> None:
    """Sessions of ~220 KB each (a 64 KiB situation, summary and memory, a 32 KiB config): a
    page of 200 would be ~13 MB, past what one Lambda response carries (6 MB). Each page stops
    before, and the cursor carries on: every session once, the same exact total."""
    big = {
        "agent_id": "big-bot",
        "situation": "s" * 65_000,
        "summary": "u" * 65_000,
        "user_memory": {"notes": "m" * 64_000},
        "agent_config": {"prompt": "p" * 32_000},
    }
    made = []
    for _ in range(60):
        frozen_clock.advance(1)
        made.append(api.created(big)["session_id"])
    for body in (
        {"limit": 200, "filters": {"agent_id": "big-bot"}},  # the index's order
        {"limit": 200, "filters": {"agent_id": "big-bot"}, "sort": {"field": "last_activity_at"}},  # in memory
    ):
        seen, totals, sizes, cursor = [], set(), [], None
        while True:
            response = api.call("list", body=body | ({"cursor": cursor} if cursor else {}))
            assert response["statusCode"] == 200
            sizes.append(len(json.dumps(response)))
            page = body_of(response)
            seen += [s["session_id"] for s in page["results"]]
            totals.add(page["total"])
            cursor = page["pagination"]["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(made) and len(seen) == 60, body
        assert totals == {60} and len(sizes) >= 3 and max(sizes) < 6_291_456, (body, sizes)
