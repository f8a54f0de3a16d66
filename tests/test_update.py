"""PATCH /v1/agents/sessions/{session_id}: JSON merge patch, If-Match, lookups, read-only states."""

from __future__ import annotations

from agent_sessions import clock
from agent_sessions.store import keys
from conftest import scan_all
from support import OTHER_TENANT, body_of, header_of


def lookup_partitions(table, session_id):
    pk = keys.session_pk("ns_test", session_id)
    shard_suffix = f"#S{keys.shard_of(session_id, 1)}"  # families of one shard
    found = [i["GSI1PK"]["S"] for i in scan_all(table) if i["PK"]["S"] == pk and i["SK"]["S"].startswith("IDX#")]
    assert all(partition.endswith(shard_suffix) for partition in found)
    return sorted(partition.removesuffix(shard_suffix) for partition in found)


def counters(table):
    """Each listing partition's exact total: its counter shards summed."""
    totals: dict[str, int] = {}
    for item in scan_all(table):
        if item["kind"]["S"] == "counter":
            partition = item["PK"]["S"].rsplit("#COUNT#S", 1)[0]
            totals[partition] = totals.get(partition, 0) + int(item["n"]["N"])
    return totals


def test_merge_patch_merges_objects_and_null_removes(api, table):
    sid = api.created(
        {
            "metadata": {"a": "1", "b": "2"},
            "user_memory": {"prefs": {"lang": "en", "tz": "UTC"}, "name": "Ann"},
            "agent_config": {"model": "m1", "temperature": 0.5},
            "summary": "old",
        }
    )["session_id"]
    response = api.call(
        "update",
        session_id=sid,
        body={
            "metadata": {"b": None, "c": 3},
            "user_memory": {"prefs": {"tz": None, "units": "metric"}},
            "agent_config": {"temperature": 0.9},
            "summary": None,
            "situation": "new situation",
        },
    )
    assert response["statusCode"] == 200, response["body"]
    session = body_of(response)
    assert session["metadata"] == {"a": "1", "c": 3}
    assert session["user_memory"] == {"prefs": {"lang": "en", "units": "metric"}, "name": "Ann"}
    assert session["agent_config"] == {"model": "m1", "temperature": 0.9}
    assert session["summary"] is None
    assert session["situation"] == "new situation"
    assert session["version"] == 2
    assert header_of(response, "ETag") == '"2"'
    assert body_of(api.call("get", session_id=sid)) == session


def test_patch_moves_lookup_items_and_counters_in_one_transaction(api, table, calls):
    sid = api.created({"metadata": {"a": "1", "b": "2"}})["session_id"]
    before = lookup_partitions(table, sid)
    calls.reset()
    api.call("update", session_id=sid, body={"metadata": {"b": None, "c": "3"}})
    assert calls.calls == {"Query": 1, "TransactWriteItems": 1}  # head and body in one Query
    after = lookup_partitions(table, sid)
    assert len(before) == len(after) == 2
    removed = keys.lookup_partition("ns_test", "metadata", "2", "b")
    added = keys.lookup_partition("ns_test", "metadata", "3", "c")
    assert removed in before and removed not in after and added in after
    assert counters(table)[removed] == 0
    assert counters(table)[added] == 1
    by_b = body_of(api.call("list", body={"filters": {"metadata": {"b": "2"}}}))
    assert by_b["results"] == [] and by_b["total"] == 0
    by_c = body_of(api.call("list", body={"filters": {"metadata": {"c": "3"}}}))
    assert [s["session_id"] for s in by_c["results"]] == [sid] and by_c["total"] == 1


def test_null_metadata_and_agent_config_reset_to_empty_objects(api):
    sid = api.created({"metadata": {"a": "1"}, "agent_config": {"m": 1}, "user_memory": {"x": 1}})["session_id"]
    session = body_of(
        api.call("update", session_id=sid, body={"metadata": None, "agent_config": None, "user_memory": None})
    )
    assert session["metadata"] == {} and session["agent_config"] == {} and session["user_memory"] is None


def test_if_match_stale_is_412_and_changes_nothing(api):
    sid = api.created({})["session_id"]
    assert api.call("update", session_id=sid, body={"summary": "one"}, headers={"If-Match": '"1"'})["statusCode"] == 200
    stale = api.call("update", session_id=sid, body={"summary": "two"}, headers={"If-Match": '"1"'})
    assert stale["statusCode"] == 412
    assert body_of(stale)["error"]["details"]["current_version"] == 2
    assert header_of(stale, "ETag") == '"2"'
    assert body_of(api.call("get", session_id=sid))["summary"] == "one"
    assert (
        api.call("update", session_id=sid, body={"summary": "x"}, headers={"If-Match": "garbage"})["statusCode"] == 412
    )
    assert api.call("update", session_id=sid, body={"summary": "x"}, headers={"If-Match": "*"})["statusCode"] == 200


def test_an_empty_patch_changes_nothing(api, calls):
    sid = api.created({})["session_id"]
    calls.reset()
    session = body_of(api.call("update", session_id=sid, body={}))
    assert session["version"] == 1
    assert calls.calls == {"Query": 1}


def test_unknown_and_immutable_keys_are_422(api):
    sid = api.created({"user_id": "u"})["session_id"]
    for body in ({"user_id": "v"}, {"quotas": {}}, {"colour": 1}):
        response = api.call("update", session_id=sid, body=body)
        assert response["statusCode"] == 422
        assert "metadata" in body_of(response)["error"]["message"]
    assert api.call("update", session_id=sid, body={"status": None})["statusCode"] == 422
    assert api.call("update", session_id=sid, body={"status": "terminated"})["statusCode"] == 422
    assert api.call("update", session_id=sid, body={"status": "idle"})["statusCode"] == 422


def test_merged_result_is_checked_against_limits(api):
    sid = api.created({"metadata": {f"k{i}": i for i in range(32)}})["session_id"]
    response = api.call("update", session_id=sid, body={"metadata": {"one_more": 1}})
    assert response["statusCode"] == 422
    assert body_of(response)["error"]["details"]["errors"][0]["loc"][:2] == ["body", "metadata"]
    big = api.call("update", session_id=sid, body={"user_memory": {"x": "y" * 70_000}})
    assert big["statusCode"] == 413


def test_expiry_moves_by_ttl_seconds_or_expires_at(api, frozen_clock):
    sid = api.created({"ttl_seconds": 60})["session_id"]
    frozen_clock.advance(30)
    session = body_of(api.call("update", session_id=sid, body={"ttl_seconds": 3600}))
    assert session["expires_at"] == clock.to_iso(frozen_clock.now + 3_600_000)
    target = clock.to_iso(frozen_clock.now + 7_200_000)
    assert body_of(api.call("update", session_id=sid, body={"expires_at": target}))["expires_at"] == target
    assert api.call("update", session_id=sid, body={"expires_at": "2001-01-01T00:00:00Z"})["statusCode"] == 422
    assert api.call("update", session_id=sid, body={"expires_at": None})["statusCode"] == 422


def test_archived_is_read_only_until_reactivated(api, frozen_clock):
    sid = api.created({})["session_id"]
    archived = body_of(api.call("update", session_id=sid, body={"status": "archived"}))
    assert archived["status"] == "archived"
    frozen_clock.advance(4000)
    assert body_of(api.call("get", session_id=sid))["status"] == "archived"  # never derived idle
    refused = api.call("update", session_id=sid, body={"summary": "x"})
    assert refused["statusCode"] == 409
    assert body_of(refused)["error"]["code"] == "session_archived"
    back = body_of(api.call("update", session_id=sid, body={"status": "active", "summary": "x"}))
    assert back["status"] == "active" and back["summary"] == "x"
    assert back["last_activity_at"] == clock.to_iso(frozen_clock.now)


def test_terminated_sessions_cannot_be_patched(api):
    sid = api.created({})["session_id"]
    api.call("terminate", session_id=sid)
    response = api.call("update", session_id=sid, body={"summary": "x"})
    assert response["statusCode"] == 409
    assert body_of(response)["error"]["code"] == "session_terminated"
    assert api.call("update", session_id=sid, body={"status": "active"})["statusCode"] == 409


def test_other_namespace_and_expired_sessions_are_404(api, frozen_clock):
    sid = api.created({"ttl_seconds": 10})["session_id"]
    assert api.call("update", session_id=sid, body={"summary": "x"}, tenant=OTHER_TENANT)["statusCode"] == 404
    frozen_clock.advance(10)
    assert api.call("update", session_id=sid, body={"summary": "x"})["statusCode"] == 404
