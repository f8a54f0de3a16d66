"""Behaviour that needs real DynamoDB semantics: concurrent transactions and table rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Api, scan_all
from support import body_of

pytestmark = pytest.mark.integration


@pytest.fixture
def local_api(local_table) -> Api:
    return Api()


def test_table_from_template_has_ttl_streams_and_indexes(local_table, monkeypatch):
    import os

    name = os.environ["TABLE_NAME"]
    description = local_table.describe_table(TableName=name)["Table"]
    assert {index["IndexName"] for index in description["GlobalSecondaryIndexes"]} == {
        "GSI1",
        "GSI2",
        "GSI3",
        "DueIndex",
    }
    assert description["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = local_table.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_concurrent_idempotent_creates_make_exactly_one_session(local_api, local_table):
    body = {"user_id": "racer", "metadata": {"team": "a"}}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: local_api.create(body, headers={"Idempotency-Key": "race-1"}), range(24)))
    assert {r["statusCode"] for r in responses} == {200}, [r["body"] for r in responses if r["statusCode"] != 200]
    assert len({body_of(r)["session_id"] for r in responses}) == 1
    sessions = [item for item in scan_all(local_table) if item["SK"]["S"] == "SESSION"]
    assert len(sessions) == 1
    listed = body_of(local_api.call("list", body={"filters": {"user_id": "racer"}}))
    assert listed["total"] == 1


def test_concurrent_creates_keep_the_namespace_counter_exact(local_api, local_table):
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: local_api.create({"user_id": f"u{i % 3}"}), range(30)))
    assert {r["statusCode"] for r in responses} == {200}
    page = body_of(local_api.call("list", body={}))
    assert page["total"] == 30
    assert body_of(local_api.call("list", body={"filters": {"user_id": "u0"}}))["total"] == 10


def test_concurrent_patches_lose_no_update(local_api):
    session = local_api.created({})
    sid = session["session_id"]
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda i: local_api.call("update", session_id=sid, body={"metadata": {f"k{i}": i}}), range(20))
        )
    assert {r["statusCode"] for r in responses} == {200}, [r["body"] for r in responses if r["statusCode"] != 200]
    final = body_of(local_api.call("get", session_id=sid))
    assert final["metadata"] == {f"k{i}": i for i in range(20)}
    assert final["version"] == 21


def test_if_match_lets_exactly_one_of_concurrent_patches_win(local_api):
    sid = local_api.created({})["session_id"]
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda i: local_api.call(
                    "update", session_id=sid, body={"summary": f"s{i}"}, headers={"If-Match": '"1"'}
                ),
                range(10),
            )
        )
    statuses = sorted(r["statusCode"] for r in responses)
    assert statuses.count(200) == 1
    assert set(statuses) == {200, 412}


def test_terminate_and_purge_on_real_dynamodb(local_api, local_table):
    sid = local_api.created({"user_id": "u", "metadata": {"a": "b"}})["session_id"]
    assert body_of(local_api.call("terminate", session_id=sid))["status"] == "terminated"
    again = local_api.call("terminate", session_id=sid)
    assert again["statusCode"] == 200
    purged = local_api.call("terminate", session_id=sid, query={"purge": "true"})
    assert body_of(purged) == {"session_id": sid, "deleted": True}
    assert [item for item in scan_all(local_table) if sid in item["PK"]["S"]] == []
    assert local_api.call("get", session_id=sid)["statusCode"] == 404


def test_concurrent_appends_leave_no_gap_and_an_exact_count(local_api, local_table):
    sid = local_api.created({})["session_id"]
    per_thread, threads = 6, 8

    def client(worker: int) -> list[int]:
        statuses = []
        for i in range(per_thread):
            body = (
                {"messages": [{"content": f"w{worker}-{i}-a"}, {"content": f"w{worker}-{i}-b"}]}
                if i % 2
                else {"content": f"w{worker}-{i}"}
            )
            statuses.append(local_api.call("append", session_id=sid, body=body)["statusCode"])
        return statuses

    with ThreadPoolExecutor(threads) as pool:
        statuses = [s for result in pool.map(client, range(threads)) for s in result]
    assert set(statuses) == {200}
    expected = threads * (per_thread // 2) * 3
    session = body_of(local_api.call("get", session_id=sid))
    stored = sorted(
        int(item["seq"]["N"])
        for item in scan_all(local_table)
        if sid in item["PK"]["S"] and item["SK"]["S"].startswith("MSG#")
    )
    assert session["message_count"] == len(stored) == expected
    assert stored == list(range(expected))
    history, cursor = [], None
    while True:
        page = body_of(
            local_api.call("history", session_id=sid, query={"limit": "50"} | ({"cursor": cursor} if cursor else {}))
        )
        history += [m["seq"] for m in page["messages"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert history == list(range(expected))


def test_if_match_appends_are_exactly_once_under_races(local_api, local_table):
    sid = local_api.created({})["session_id"]
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda i: local_api.call(
                    "append", session_id=sid, body={"content": f"c{i}"}, headers={"If-Match": '"0"'}
                ),
                range(12),
            )
        )
    statuses = sorted(r["statusCode"] for r in responses)
    assert statuses.count(200) == 1 and set(statuses) == {200, 412}
    assert body_of(local_api.call("get", session_id=sid))["message_count"] == 1


def test_refused_batch_leaves_nothing_on_real_dynamodb(local_api, local_table):
    sid = local_api.created({"quotas": {"max_messages": 3}})["session_id"]
    local_api.call("append", session_id=sid, body={"content": "a"})
    refused = local_api.call(
        "append", session_id=sid, body={"messages": [{"content": "b"}] * 3}, headers={"If-Match": '"1"'}
    )
    assert refused["statusCode"] == 429
    stored = [i for i in scan_all(local_table) if sid in i["PK"]["S"] and i["SK"]["S"].startswith("MSG#")]
    assert len(stored) == 1
    assert body_of(local_api.call("get", session_id=sid))["message_count"] == 1


def test_session_name_null_marker_survives_real_dynamodb(local_api):
    sid = local_api.created({})["session_id"]
    local_api.call("append", session_id=sid, body={"content": "first words"}, headers={"If-Match": '"0"'})
    assert body_of(local_api.call("get", session_id=sid))["session_name"] == "first words"
    local_api.call("update", session_id=sid, body={"session_name": None})
    local_api.call("append", session_id=sid, body={"content": "second"}, headers={"If-Match": '"1"'})
    assert body_of(local_api.call("get", session_id=sid))["session_name"] is None
