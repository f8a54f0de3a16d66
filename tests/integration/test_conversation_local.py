"""Conversation operations at size, on DynamoDB Local: forks of 1, 1,000 and 10,000 messages
copied exactly, and erasing a user with 250 sessions in three calls, each removal seen on the
table's stream and published as `session.purged` by the stream consumer."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from agent_sessions import publisher
from agent_sessions.runtime import session_changes
from agent_sessions.store import keys
from conftest import Api, scan_all
from support import body_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dynamodb_local_endpoint() -> Any:
    """An instance of DynamoDB Local for this module alone: 10,000-message forks leave it
    holding tens of thousands of stream records, which slow every later request on it."""
    from support import dynamodb_local

    with dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture
def api(local_table: Any) -> Api:
    return Api()


def fill(api: Api, session_id: str, count: int) -> None:
    for start in range(0, count, 99):
        batch = [{"content": f"m{n}", "token_count": 1} for n in range(start, min(start + 99, count))]
        response = api.call("append", session_id=session_id, body={"messages": batch})
        assert response["statusCode"] == 200, response["body"]


def test_erasing_a_user_with_250_sessions_takes_three_calls(api: Api, local_table: Any, monkeypatch: Any) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    table = os.environ["TABLE_NAME"]
    sessions = [api.created({"user_id": "leaving", "metadata": {"n": str(n)}})["session_id"] for n in range(250)]
    for session_id in sessions[:20]:
        api.call("append", session_id=session_id, body={"content": "private"})
    stays = api.created({"user_id": "staying"})["session_id"]
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
    arn = local_table.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    positions = {}
    for shard in shards:  # read from here on
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")
        positions[shard["ShardId"]] = iterator["ShardIterator"]

    answers = [body_of(api.call("erase", query={"user_id": "leaving"})) for _ in range(3)]
    assert answers == [
        {"purged": 100, "has_more": True},
        {"purged": 100, "has_more": True},
        {"purged": 50, "has_more": False},
    ]
    left = scan_all(local_table)
    assert not [i for i in left if any(i["PK"]["S"].endswith(f"#SES#{sid}") for sid in sessions)]
    assert "private" not in str(left)
    assert body_of(api.call("list", body={"filters": {"user_id": "leaving"}}))["total"] == 0
    everyone = body_of(api.call("list", body={}))
    assert everyone["total"] == 1 and everyone["results"][0]["session_id"] == stays

    # Every removal is on the stream; the consumer publishes session.purged once per session.
    removals = []
    for iterator in positions.values():
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            removals += [
                r
                for r in page["Records"]
                if r["eventName"] == "REMOVE" and r["dynamodb"]["Keys"]["SK"]["S"] == keys.SESSION_SK
            ]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    published: list[tuple[str, str]] = []
    monkeypatch.setattr(publisher, "publish", lambda bus, kind, detail: published.append((kind, detail["session_id"])))
    for record in removals:  # as Lambda hands them over: the time in epoch seconds
        record["dynamodb"]["ApproximateCreationDateTime"] = record["dynamodb"][
            "ApproximateCreationDateTime"
        ].timestamp()
        session_changes().handle(record)
    assert sorted(published) == sorted(("session.purged", sid) for sid in sessions)
    assert body_of(api.call("erase", query={"user_id": "leaving"})) == {"purged": 0, "has_more": False}


@pytest.mark.parametrize("size", [1, 1_000, 10_000])
def test_a_fork_copies_every_message_exactly(api: Api, local_table: Any, size: int) -> None:
    parent = api.created({"user_id": "u", "agent_id": "a", "metadata": {"k": "v"}})["session_id"]
    fill(api, parent, size)
    response = api.call("fork", session_id=parent, body={})
    assert response["statusCode"] == 200, response["body"]
    child = body_of(response)
    assert child["message_count"] == size and child["stats"]["total_tokens"] == size
    assert child["forked_from"] == {"session_id": parent, "through_seq": size - 1}
    pk = keys.session_pk("ns_test", child["session_id"])
    copies = {
        int(i["SK"]["S"][4:]): i["content"]["S"]
        for i in scan_all(local_table)
        if i["PK"]["S"] == pk and i["SK"]["S"].startswith("MSG#")
    }
    assert copies == {n: f"m{n}" for n in range(size)}
    last_page = body_of(api.call("history", session_id=child["session_id"], query={"order": "desc", "limit": "1"}))
    assert last_page["messages"][0]["content"] == f"m{size - 1}" and last_page["total_messages"] == size
    listed = body_of(api.call("list", body={"filters": {"metadata": {"k": "v"}}}))
    assert listed["total"] == 2
