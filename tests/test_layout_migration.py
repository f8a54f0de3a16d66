"""migrate-layout: a table written by the previous version (layout 1) keeps working, and the
migration moves it to layout 2 exactly once, resuming a half-finished run."""

from __future__ import annotations

import os
from typing import Any

import pytest

import layout1
from agent_sessions import clock
from agent_sessions.admin import run as admin
from agent_sessions.models.items import SessionItem
from agent_sessions.runtime import session_service
from agent_sessions.store import keys, layout, shards
from agent_sessions.store.layout import LayoutStore
from conftest import scan_all
from support import body_of, header_of

TABLE = os.environ["TABLE_NAME"]
USERS = ["alice", "bob", "carol"]


def old_session(index: int, *, ended: bool = False) -> SessionItem:
    now = clock.now_ms() - 1000 + index
    return SessionItem(
        namespace_id="ns_test",
        session_id=f"ses_layout1session{index:06d}",
        internal_id="int_testorg",
        user_id=USERS[index % 3],
        agent_id="bot" if index % 2 else "helper",
        situation=f"situation {index}",
        agent_config={"model": "m", "n": index},
        metadata={"team": "a" if index % 2 else "b", "idx": str(index)},
        created_ms=now,
        updated_ms=now,
        last_activity_ms=now,
        expires_ms=now - 1 if ended else now + 86_400_000,
        version=3,
        layout=1,
    )


@pytest.fixture
def old_table(table: Any, frozen_clock: Any) -> list[SessionItem]:
    """25 live sessions and 1 that has ended (not yet removed by TTL), as layout 1 wrote them."""
    sessions = [old_session(i) for i in range(25)]
    table.delete_item(TableName=TABLE, Key=shards.marker_key())  # layout 1 had no marker
    for session in [*sessions, old_session(99, ended=True)]:
        layout1.create(table, TABLE, session)
    return sessions


def layout_store() -> LayoutStore:
    return LayoutStore(session_service().store)


def listed(api: Any, **filters: Any) -> dict[str, Any]:
    return body_of(api.call("list", body={"filters": filters} if filters else {}))


def assert_fully_migrated(table: Any, api: Any, sessions: list[SessionItem]) -> None:
    items = scan_all(table)
    heads = [i for i in items if i["SK"]["S"] == "SESSION"]
    live_heads = [i for i in heads if "layout1session000099" not in i["PK"]["S"]]
    assert len(live_heads) == 25 and all(i["layout"]["N"] == "2" for i in live_heads)
    assert {i["PK"]["S"] for i in items if i["SK"]["S"] == keys.BODY_SK} >= {i["PK"]["S"] for i in live_heads}
    assert not [i for i in items if i["PK"]["S"].endswith("#COUNT")]  # layout 1's counters are gone
    for head in live_heads:
        shard = keys.shard_of(keys.parse_session_pk(head["PK"]["S"])[1], 1)  # placed with a count of 1
        assert head["GSI1PK"]["S"] == f"NS#ns_test#S{shard}"
        assert head["DUEPK"]["S"] == keys.due_pk(0)  # placed with the due index's count, 1
    # exact totals and complete listings through every kind of partition
    everything = listed(api)
    assert everything["total"] == 25
    assert {s["session_id"] for s in everything["results"]} == {s.session_id for s in sessions}
    assert listed(api, user_id="alice")["total"] == 9
    assert listed(api, agent_id="bot")["total"] == 12
    team_a = listed(api, metadata={"team": "a"})
    assert team_a["total"] == 12 and len(team_a["results"]) == 12
    by_activity = body_of(api.call("list", body={"sort": {"field": "last_activity_at", "direction": "desc"}}))
    assert len(by_activity["results"]) == 25
    # the sessions themselves are unchanged, ETag included
    for session in sessions[:3]:
        response = api.call("get", session_id=session.session_id)
        got = body_of(response)
        assert got["situation"] == session.situation and got["agent_config"] == session.agent_config
        assert got["metadata"] == session.metadata and got["version"] == 3
        assert header_of(response, "ETag") == '"3"'


def test_layout1_table_keeps_answering_before_the_migration(api: Any, old_table: list[SessionItem]) -> None:
    session = old_table[0]
    got = body_of(api.call("get", session_id=session.session_id))
    assert got["situation"] == "situation 0" and got["metadata"] == session.metadata
    appended = api.call("append", session_id=session.session_id, body={"role": "user", "content": "hello"})
    assert appended["statusCode"] == 200, appended["body"]
    history = body_of(api.call("history", session_id=session.session_id))
    assert [m["content"] for m in history["messages"]] == ["hello"]
    assert layout_store().needs_migration() is True


def test_migration_moves_everything_once(api: Any, table: Any, old_table: list[SessionItem]) -> None:
    api.call("append", session_id=old_table[3].session_id, body={"role": "user", "content": "kept"})
    result = admin(["migrate-layout"])
    assert result["migrated_now"] is True and result["layout"] == 3 and result["state"] == "done"
    report = result["report"]
    assert report["sessions_migrated"] == 25
    assert report["sessions_ended_skipped"] == 1
    assert report["legacy_counters_deleted"] == 1 + 3 + 2 + 2 + 26  # namespace, users, agents, teams, idx values
    assert report["complete"] is True
    assert_fully_migrated(table, api, old_table)
    history = body_of(api.call("history", session_id=old_table[3].session_id))
    assert [m["content"] for m in history["messages"]] == ["kept"]

    # again: nothing to do, nothing counted twice
    again = admin(["migrate-layout"])
    assert again["migrated_now"] is False
    assert listed(api)["total"] == 25 and listed(api, user_id="alice")["total"] == 9
    assert admin(["migrate-layout", "--status"])["layout"] == 3


def test_a_half_finished_migration_resumes_without_counting_twice(
    api: Any, table: Any, old_table: list[SessionItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "SCAN_PAGE", 20)
    first = layout_store().migrate(max_pages=2)
    assert first.complete is False and 0 < first.sessions_migrated < 25
    state = layout_store().state()
    assert (state.version, state.state) == (1, "running") and state.resume_key is not None
    # a run that stopped between saving its position and the next page redoes some sessions
    # of the page before: they are already layout 2 and are not counted again
    resumed = layout_store().migrate()
    assert resumed.resumed is True and resumed.complete is True
    assert resumed.sessions_migrated == 25
    assert_fully_migrated(table, api, old_table)


def test_a_session_changed_during_the_migration_is_read_again(
    api: Any, table: Any, old_table: list[SessionItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service keeps running: a PATCH between the migration's read and its write makes
    the write's condition fail; the session is read again and moved with the change."""
    target = old_table[0]
    store = session_service().store
    original = store.replace_session
    patched = []

    def racing_replace(old: SessionItem, new: SessionItem, now_ms: int) -> None:
        if old.session_id == target.session_id and not patched:
            patched.append(True)
            response = api.call("update", session_id=target.session_id, body={"summary": "during"})
            assert response["statusCode"] == 200
        original(old, new, now_ms)

    monkeypatch.setattr(store, "replace_session", racing_replace)
    report = layout_store().migrate()
    assert report.complete and patched
    got = body_of(api.call("get", session_id=target.session_id))
    assert got["summary"] == "during" and got["version"] == 4
    monkeypatch.undo()
    assert_fully_migrated_totals(api)


def assert_fully_migrated_totals(api: Any) -> None:
    assert listed(api)["total"] == 25
    assert listed(api, user_id="alice")["total"] == 9


def test_a_new_table_is_marked_current_and_needs_nothing(api: Any, table: Any) -> None:
    api.created({"user_id": "u1"})
    store = layout_store()
    assert store.needs_migration() is False
    assert store.state().version == keys.TABLE_LAYOUT_VERSION and store.state().state == "done"
    assert store.migrate().sessions_migrated == 0
    assert listed(api)["total"] == 1
