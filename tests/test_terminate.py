"""DELETE /v1/agents/sessions/{session_id}: terminate (final, retained) and purge (erased now)."""

from __future__ import annotations

from agent_sessions import clock
from agent_sessions.store import keys
from conftest import scan_all
from support import OTHER_TENANT, body_of


def test_terminate_sets_status_and_time_in_one_call(api, calls, frozen_clock):
    sid = api.created({})["session_id"]
    calls.reset()
    response = api.call("terminate", session_id=sid)
    assert response["statusCode"] == 200
    assert body_of(response) == {
        "session_id": sid,
        "status": "terminated",
        "terminated_at": clock.to_iso(frozen_clock.now),
    }
    assert calls.calls == {"UpdateItem": 1}
    session = body_of(api.call("get", session_id=sid))
    assert session["status"] == "terminated"
    assert session["terminated_at"] == clock.to_iso(frozen_clock.now)
    assert session["version"] == 2


def test_terminate_is_idempotent(api, frozen_clock):
    sid = api.created({})["session_id"]
    first = body_of(api.call("terminate", session_id=sid))
    frozen_clock.advance(5)
    second = api.call("terminate", session_id=sid)
    assert second["statusCode"] == 200
    assert body_of(second) == first
    assert body_of(api.call("get", session_id=sid))["version"] == 2


def test_terminated_session_is_kept_for_the_retention_then_gone(api, table, frozen_clock):
    sid = api.created({})["session_id"]  # expires in 30 days; retention is 7
    api.call("terminate", session_id=sid)
    stored = next(i for i in scan_all(table) if i["SK"]["S"] == "SESSION")
    assert int(stored["ttl"]["N"]) == -(-(frozen_clock.now + 7 * 86400_000) // 1000)
    frozen_clock.advance(7 * 86400 - 1)
    assert api.call("get", session_id=sid)["statusCode"] == 200
    frozen_clock.advance(1)
    assert api.call("get", session_id=sid)["statusCode"] == 404


def test_terminated_session_that_expires_first_keeps_its_expiry(api, frozen_clock):
    sid = api.created({"ttl_seconds": 60})["session_id"]
    api.call("terminate", session_id=sid)
    frozen_clock.advance(60)
    assert api.call("get", session_id=sid)["statusCode"] == 404


def test_purge_erases_every_item_and_the_counters(api, table, calls):
    keep = api.created({"user_id": "u"})["session_id"]
    sid = api.created({"user_id": "u", "agent_id": "a", "metadata": {"x": "1"}})["session_id"]
    # a message item of the session, as the history operations will write it
    table.put_item(
        TableName="agent-sessions-test",
        Item={"PK": {"S": keys.session_pk("ns_test", sid)}, "SK": {"S": keys.message_sk(0)}, "kind": {"S": "message"}},
    )
    response = api.call("terminate", session_id=sid, query={"purge": "true"})
    assert response["statusCode"] == 200
    assert body_of(response) == {"session_id": sid, "deleted": True}
    assert [i for i in scan_all(table) if sid in i["PK"]["S"]] == []
    assert api.call("get", session_id=sid)["statusCode"] == 404
    page = body_of(api.call("list", body={"filters": {"user_id": "u"}}))
    assert [s["session_id"] for s in page["results"]] == [keep]
    assert page["total"] == 1
    assert body_of(api.call("list", body={}))["total"] == 1
    assert api.call("terminate", session_id=sid, query={"purge": "true"})["statusCode"] == 404


def test_other_namespace_cannot_terminate_or_purge(api):
    sid = api.created({})["session_id"]
    assert api.call("terminate", session_id=sid, tenant=OTHER_TENANT)["statusCode"] == 404
    assert api.call("terminate", session_id=sid, tenant=OTHER_TENANT, query={"purge": "true"})["statusCode"] == 404
    assert body_of(api.call("get", session_id=sid))["status"] == "active"


def test_expired_session_cannot_be_terminated(api, frozen_clock):
    sid = api.created({"ttl_seconds": 5})["session_id"]
    frozen_clock.advance(5)
    assert api.call("terminate", session_id=sid)["statusCode"] == 404


def test_purge_flag_must_be_a_boolean(api):
    sid = api.created({})["session_id"]
    assert api.call("terminate", session_id=sid, query={"purge": "perhaps"})["statusCode"] == 422
