"""A list page's `total` never counts a session that can no longer be seen, whatever the expiry
job's schedule: sessions that expired, or were terminated past their retention, between two
runs of the job are still in the counters, and the first page takes them off (the due index's
entries whose visibility passed, checked against their heads). On moto, with a frozen clock and
the job not run, then run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from test_expiry import run_job
from test_list import ids

RETENTION = 7 * 86400  # TERMINATED_RETENTION_SECONDS default

FILTERS: dict[str, dict[str, Any]] = {
    "namespace": {},
    "user": {"filters": {"user_id": "u1"}},
    "agent": {"filters": {"agent_id": "a1"}},
    "metadata": {"filters": {"metadata": {"team": "core"}}},
    "status": {"status": "active"},  # not a counter: every match is read, and checked
    "user, sorted by activity": {"filters": {"user_id": "u1"}, "sort": {"field": "last_activity_at"}},
    "agent, sorted by activity": {"filters": {"agent_id": "a1"}, "sort": {"field": "last_activity_at"}},
}


def listed(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("list", body=body)
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def every_page(api: Any, body: dict[str, Any]) -> tuple[list[str], set[int]]:
    """Every id over every page (limit 2), and every total the pages gave."""
    found, totals, cursor = [], set(), None
    while True:
        page = listed(api, {**body, "limit": 2} | ({"cursor": cursor} if cursor else {}))
        found += ids(page)
        totals.add(page["total"])
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            return found, totals


@pytest.fixture
def sessions(api: Any, frozen_clock: Any) -> dict[str, dict[str, Any]]:
    spec = {"user_id": "u1", "agent_id": "a1", "metadata": {"team": "core"}}
    made = {}
    for name, ttl in (("expires", 600), ("expires later", 1200), ("stays", 30 * 86400), ("stays too", 30 * 86400)):
        frozen_clock.advance(1)
        made[name] = api.created({**spec, "ttl_seconds": ttl})
    frozen_clock.advance(1)
    made["terminated"] = api.created({**spec, "ttl_seconds": 60 * 86400})
    api.call("terminate", session_id=made["terminated"]["session_id"])
    frozen_clock.advance(1)
    made["elsewhere"] = api.created({"user_id": "u2", "agent_id": "a2", "ttl_seconds": 600})
    return made


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_totals_leave_out_what_ended_before_the_job_settled_it(
    api: Any, frozen_clock: Any, sessions: dict[str, dict[str, Any]], name: str
) -> None:
    body = FILTERS[name]
    started = frozen_clock.now

    def expected(visible: set[str]) -> set[str]:
        if name == "namespace":
            matching = set(sessions)
        elif name == "status":  # untouched for 30 minutes, a session reads as idle
            matching = set() if (frozen_clock.now - started) >= 1_800_000 else set(sessions) - {"terminated"}
        else:
            matching = set(sessions) - {"elsewhere"}
        return {sessions[n]["session_id"] for n in visible & matching}

    def check(visible: set[str]) -> None:
        found, totals = every_page(api, body)
        assert set(found) == expected(visible) and len(found) == len(set(found))
        assert totals == {len(expected(visible))}, (name, totals)

    check(set(sessions))
    frozen_clock.advance(600)  # "expires" and "elsewhere" end; the job does not run
    check(set(sessions) - {"expires", "elsewhere"})
    frozen_clock.advance(600)  # and "expires later"
    check(set(sessions) - {"expires", "elsewhere", "expires later"})
    frozen_clock.advance(RETENTION)  # the terminated one's retention is over too
    check({"stays", "stays too"})
    run_job()  # settled: the counters now count exactly, nothing is taken off
    check({"stays", "stays too"})


def test_a_page_that_reaches_the_end_counts_what_it_saw_and_a_longer_listing_reads_the_due_shards(
    api: Any, frozen_clock: Any, sessions: dict[str, dict[str, Any]], calls: Any
) -> None:
    frozen_clock.advance(700)  # "expires" has ended; the job has not run
    calls.reset()
    whole = listed(api, {"filters": {"user_id": "u1"}})
    assert whole["total"] == 4 and len(whole["results"]) == 4
    assert calls.calls == {"Query": 1, "BatchGetItem": 1}  # one shard; no due shard read
    calls.reset()
    first = listed(api, {"filters": {"user_id": "u1"}, "limit": 2})
    assert first["total"] == 4 and first["pagination"]["has_more"] is True
    # the due shards beside the listing's; then the ended session's head and the counter's
    # shards read again together, as of one instant
    assert calls.calls == {"Query": 1 + 1, "BatchGetItem": 1, "TransactGetItems": 1}  # 1 due shard
