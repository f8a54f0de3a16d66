"""The expiry job on moto with a controllable clock: due, not due, concurrent change, rerun,
reads proportional to the due sessions, stopping before the timeout."""

from __future__ import annotations

import json
import os
from typing import Any

from agent_sessions import clock
from agent_sessions.runtime import expiry_job, session_service
from conftest import scan_all
from support import LambdaContext, load_function

IDLE = 1800  # IDLE_AFTER_SECONDS default


def run_job(remaining_ms: int = 60_000) -> dict[str, Any]:
    context = LambdaContext("expire_sessions")
    context.get_remaining_time_in_millis = lambda: remaining_ms  # type: ignore[method-assign]
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    return load_function("expire_sessions").lambda_handler(event, context)


def stored_session(table: Any, session_id: str) -> dict[str, Any] | None:
    items = [i for i in scan_all(table) if i["SK"]["S"] == "SESSION" and i["PK"]["S"].endswith(f"#SES#{session_id}")]
    return items[0] if items else None


def test_idle_is_written_when_due_and_not_before(api: Any, table: Any, frozen_clock: Any) -> None:
    session = api.created({"user_id": "u1"})
    frozen_clock.advance(IDLE - 1)
    assert run_job()["idled"] == 0
    assert stored_session(table, session["session_id"])["status"]["S"] == "active"
    frozen_clock.advance(2)
    report = run_job()
    assert report["idled"] == 1
    item = stored_session(table, session["session_id"])
    assert item["status"]["S"] == "idle"
    assert item["version"]["N"] == "1"  # readers already saw it idle: the ETag does not change
    assert run_job()["idled"] == 0  # rerun: nothing more to do


def test_a_message_makes_it_active_again_and_reschedules(api: Any, table: Any, frozen_clock: Any) -> None:
    session = api.created({})
    frozen_clock.advance(IDLE + 1)
    run_job()
    response = api.call(
        "append", session_id=session["session_id"], body={"messages": [{"role": "user", "content": "back"}]}
    )
    assert response["statusCode"] == 200
    assert stored_session(table, session["session_id"])["status"]["S"] == "active"
    frozen_clock.advance(IDLE - 5)
    assert run_job()["idled"] == 0
    frozen_clock.advance(10)
    assert run_job()["idled"] == 1


def test_expired_sessions_end_with_everything_they_had(api: Any, table: Any, frozen_clock: Any) -> None:
    doomed = api.created({"user_id": "u1", "metadata": {"k": "v"}, "ttl_seconds": 600})
    keeper = api.created({"user_id": "u1"})
    api.call("append", session_id=doomed["session_id"], body={"messages": [{"role": "user", "content": "hi"}]})
    frozen_clock.advance(601)
    report = run_job()
    assert report["expired"] == 1
    assert report["cascaded_items"] >= 1  # the message
    leftovers = [i for i in scan_all(table) if doomed["session_id"] in str(i)]
    assert leftovers == []
    listed = json.loads(api.call("list", body={"filters": {"user_id": "u1"}})["body"])
    assert [s["session_id"] for s in listed["results"]] == [keeper["session_id"]]
    assert listed["total"] == 1  # counters settled exactly


def test_terminated_sessions_end_after_their_retention(api: Any, table: Any, frozen_clock: Any) -> None:
    session = api.created({})
    api.call("terminate", session_id=session["session_id"])
    frozen_clock.advance(7 * 86400 - 10)
    assert run_job()["expired"] == 0
    frozen_clock.advance(20)
    assert run_job()["expired"] == 1
    assert stored_session(table, session["session_id"]) is None


def test_a_concurrent_change_is_never_overwritten(api: Any, table: Any, frozen_clock: Any) -> None:
    """The job read the due entry, then the session changed: its conditional write loses."""
    session = api.created({})
    frozen_clock.advance(IDLE + 1)
    store = session_service().store
    entry = store.query_due(0, clock.now_ms()).items[0]  # a new table's due index has one shard
    seen = store.batch_get([{"PK": entry["PK"], "SK": entry["SK"]}])[(entry["PK"]["S"], "SESSION")]
    api.call("append", session_id=session["session_id"], body={"messages": [{"role": "user", "content": "x"}]})
    assert store.mark_idle("ns_test", session["session_id"], seen, clock.now_ms() + 10_000) is False
    assert stored_session(table, session["session_id"])["status"]["S"] == "active"


def test_reads_are_proportional_to_due_sessions(api: Any, table: Any, frozen_clock: Any, calls: Any) -> None:
    idle = [api.created({"ttl_seconds": 86400})["session_id"] for _ in range(30)]
    frozen_clock.advance(IDLE + 1)
    due = [api.created({"ttl_seconds": 60})["session_id"] for _ in range(3)]
    frozen_clock.advance(61)
    calls.reset()
    report = run_job()
    assert report["expired"] == 3
    # the due index's count (1 batch get: a new table's has one shard), 1 shard query; per
    # shard page holding sessions that have not ended, 1 batch get of their heads (the due
    # index projects nothing an append changes); per ended session: 1 Query (head and body),
    # 1 transaction, 1 partition query (+ its batch delete). The 30 idle sessions are due too
    # (idle) and cost 1 UpdateItem each.
    assert calls.calls["Query"] == 1 + 3 + 3
    assert calls.calls["BatchGetItem"] == 1 + 1
    assert len(idle) == 30
    assert calls.calls["Scan"] == 0
    assert calls.calls["GetItem"] == 0
    assert calls.calls["UpdateItem"] == 30
    assert report["idled"] == 30
    assert all(stored_session(table, sid) is None for sid in due)


def test_it_stops_before_its_timeout_and_the_next_run_resumes(api: Any, table: Any, frozen_clock: Any) -> None:
    ids = [api.created({"ttl_seconds": 60})["session_id"] for _ in range(5)]
    frozen_clock.advance(61)
    job = expiry_job()
    budget = iter([60_000, 60_000, 60_000, 0] + [0] * 100)
    first = job.run(clock.now_ms(), lambda: next(budget))
    assert first.complete is False
    assert first.expired < 5
    second = run_job()
    assert second["complete"] is True
    assert first.expired + second["expired"] == 5
    assert all(stored_session(table, sid) is None for sid in ids)


def test_metrics_are_emitted(api: Any, frozen_clock: Any, capsys: Any) -> None:
    api.created({"ttl_seconds": 60})
    frozen_clock.advance(61)
    capsys.readouterr()
    run_job()
    out = capsys.readouterr().out
    assert '"SessionsExpired"' in out and os.environ["POWERTOOLS_METRICS_NAMESPACE"] in out


def due_entry(table: Any, session_id: str) -> str:
    return stored_session(table, session_id)["DUESK"]["S"]


def test_an_append_leaves_the_due_index_alone_and_the_job_reschedules(api: Any, table: Any, frozen_clock: Any) -> None:
    """An append only moves the idle time later: the early due entry stays (no write to the
    due index), and the job, meeting it, moves it to the real deadline without idling."""
    session = api.created({})
    before = due_entry(table, session["session_id"])
    frozen_clock.advance(IDLE - 100)
    api.call("append", session_id=session["session_id"], body={"role": "user", "content": "still here"})
    assert due_entry(table, session["session_id"]) == before
    frozen_clock.advance(101)  # the first idle time has passed, the real one has not
    report = run_job()
    assert (report["idled"], report["rescheduled"]) == (0, 1)
    assert stored_session(table, session["session_id"])["status"]["S"] == "active"
    frozen_clock.advance(IDLE - 102)  # 1 s before the real idle time
    assert run_job()["idled"] == 0
    frozen_clock.advance(2)
    assert run_job()["idled"] == 1


def test_waking_an_idle_session_moves_its_due_entry_even_with_if_match(api: Any, table: Any, frozen_clock: Any) -> None:
    """The job wrote idle (due entry: the session's end). An append with If-Match does not read
    first; its condition expects `active`, fails, and the retry writes the new idle time."""
    session = api.created({})
    frozen_clock.advance(IDLE + 1)
    assert run_job()["idled"] == 1
    end_entry = due_entry(table, session["session_id"])
    response = api.call(
        "append",
        session_id=session["session_id"],
        body={"role": "user", "content": "back"},
        headers={"If-Match": '"0"'},
    )
    assert response["statusCode"] == 200, response["body"]
    woken = due_entry(table, session["session_id"])
    assert woken < end_entry
    assert int(woken.split("#", 1)[0]) == clock.now_ms() + IDLE * 1000
    frozen_clock.advance(IDLE + 1)
    assert run_job()["idled"] == 1


def test_rewound_redacted_and_forked_sessions_expire_cleanly(api: Any, table: Any, frozen_clock: Any) -> None:
    parent = api.created({"user_id": "u1", "ttl_seconds": 600})["session_id"]
    api.call("append", session_id=parent, body={"messages": [{"content": f"m{n}"} for n in range(5)]})
    api.call("rewind", session_id=parent, query={"last": "2"})
    api.call("update_message", session_id=parent, seq=0, body={"content": "[redacted]"})
    child = json.loads(api.call("fork", session_id=parent, body={})["body"])["session_id"]
    frozen_clock.advance(601)  # the parent ends; the child (default TTL) lives on
    report = run_job()
    assert report["expired"] == 1
    assert [i for i in scan_all(table) if f"#SES#{parent}" in i["PK"]["S"]] == []
    listed = json.loads(api.call("list", body={"filters": {"user_id": "u1"}})["body"])
    assert [s["session_id"] for s in listed["results"]] == [child] and listed["total"] == 1
    history = json.loads(api.call("history", session_id=child)["body"])["messages"]
    assert [m["content"] for m in history] == ["[redacted]", "m1", "m2"]
