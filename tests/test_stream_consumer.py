"""The stream consumer with stream records as AWS delivers them: creation, termination, TTL
removal (counters settled once), purge, partial batch failure; events captured from a real
(moto) EventBridge bus through a rule into a queue."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from agent_sessions import clock, publisher
from agent_sessions.models.items import SessionItem
from agent_sessions.runtime import session_service
from agent_sessions.store import keys
from conftest import scan_all
from support import LambdaContext, load_function

BUS = "agent-sessions-test"
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.fixture
def captured_events(table: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    from agent_sessions import runtime

    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    runtime.reset()
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="captured")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": [publisher.SOURCE]}))
    events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        out = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return received


def record(
    name: str, *, old: dict | None = None, new: dict | None = None, identity: dict | None = None, seq: str = "1"
):
    image = new or old
    assert image is not None
    data: dict[str, Any] = {
        "ApproximateCreationDateTime": clock.now_ms() // 1000,
        "Keys": {"PK": image["PK"], "SK": image["SK"]},
        "SequenceNumber": seq,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        data["OldImage"] = old
    if new is not None:
        data["NewImage"] = new
    out = {
        "eventID": f"evt-{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": data,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
    }
    if identity:
        out["userIdentity"] = identity
    return out


def consume(*records: dict[str, Any]) -> dict[str, Any]:
    return load_function("on_session_change").lambda_handler(
        {"Records": list(records)}, LambdaContext("on_session_change")
    )


def raw_session(table: Any, session_id: str) -> dict[str, Any]:
    return next(i for i in scan_all(table) if i["SK"]["S"] == "SESSION" and i["PK"]["S"].endswith(f"#SES#{session_id}"))


def test_created_and_terminated_events_with_the_documented_detail(api: Any, table: Any, captured_events: Any) -> None:
    session = api.created({"user_id": "u1", "user_memory": {"secret": "never published"}})
    created = raw_session(table, session["session_id"])
    api.call("terminate", session_id=session["session_id"])
    terminated = raw_session(table, session["session_id"])
    assert consume(record("INSERT", new=created, seq="1"), record("MODIFY", old=created, new=terminated, seq="2")) == {
        "batchItemFailures": []
    }
    events = captured_events()
    assert [e["detail-type"] for e in events] == ["session.created", "session.terminated"]
    detail = events[1]["detail"]
    assert detail["session_id"] == session["session_id"]
    assert detail["status"] == "terminated"
    assert detail["event_id"] == "evt-2"
    assert set(detail) == {
        "event_id", "session_id", "namespace_id", "internal_id", "user_id", "agent_id", "status",
        "message_count", "created_at", "updated_at", "last_activity_at", "expires_at", "terminated_at",
        "occurred_at",
    }  # fmt: skip
    assert "never published" not in json.dumps(events)


def test_ttl_removal_cascades_settles_counters_once_and_publishes_expired(
    api: Any, table: Any, captured_events: Any, frozen_clock: Any
) -> None:
    session = api.created({"user_id": "u1", "metadata": {"k": "v"}, "ttl_seconds": 60})
    other = api.created({"user_id": "u1"})
    sid = session["session_id"]
    api.call("append", session_id=sid, body={"messages": [{"role": "user", "content": "m1"}]})
    image = raw_session(table, sid)
    # DynamoDB's TTL deletes the session item (only that item), later than its end.
    frozen_clock.advance(3600)
    table.delete_item(TableName=os.environ["TABLE_NAME"], Key={"PK": image["PK"], "SK": image["SK"]})
    removal = record("REMOVE", old=image, identity=TTL_IDENTITY, seq="9")
    assert consume(removal) == {"batchItemFailures": []}
    assert consume(removal) == {"batchItemFailures": []}  # redelivered: changes nothing more
    assert [i for i in scan_all(table) if sid in json.dumps(i) and i["SK"]["S"] != keys.ENDED_SK] == []
    listed = json.loads(api.call("list", body={"filters": {"user_id": "u1"}})["body"])
    assert listed["total"] == 1 and [s["session_id"] for s in listed["results"]] == [other["session_id"]]
    namespace_total = json.loads(api.call("list", body={})["body"])["total"]
    assert namespace_total == 1
    # the metadata pair lives in the body: the consumer read it before deleting the partition
    by_pair = json.loads(api.call("list", body={"filters": {"metadata": {"k": "v"}}})["body"])
    assert by_pair["total"] == 0 and by_pair["results"] == []
    assert [e["detail-type"] for e in captured_events()] == ["session.expired", "session.expired"]


def test_purge_removal_cascades_and_publishes_purged(api: Any, table: Any, captured_events: Any) -> None:
    session = api.created({"user_id": "u1"})
    image = raw_session(table, session["session_id"])
    api.call("terminate", session_id=session["session_id"], query={"purge": "true"})
    assert consume(record("REMOVE", old=image, seq="5")) == {"batchItemFailures": []}
    assert [e["detail-type"] for e in captured_events()] == ["session.purged"]
    assert json.loads(api.call("list", body={})["body"])["total"] == 0  # purge settled it, not the consumer again


def test_partial_failure_reports_only_the_failing_record(
    api: Any, table: Any, captured_events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = raw_session(table, api.created({})["session_id"])
    bad = raw_session(table, api.created({})["session_id"])
    original = publisher.publish

    def flaky(bus: str, detail_type: str, detail: dict[str, Any]) -> None:
        if bad["PK"]["S"].endswith("#SES#" + detail["session_id"]):
            raise publisher.PublishFailed("EventBridge refused it")
        original(bus, detail_type, detail)

    monkeypatch.setattr(publisher, "publish", flaky)
    result = consume(record("INSERT", new=good, seq="11"), record("INSERT", new=bad, seq="12"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "12"}]}
    assert [e["detail"]["session_id"] for e in captured_events()] == [keys.parse_session_pk(good["PK"]["S"])[1]]


def test_session_item_round_trips_through_a_stream_image(api: Any, table: Any) -> None:
    session = api.created({"user_id": "u1", "quotas": {"max_messages": 5}})
    item = SessionItem.from_item(raw_session(table, session["session_id"]))
    assert item == session_service().store.get_session("ns_test", session["session_id"])


def test_a_fork_is_announced_once_complete_and_an_unfinished_one_never(
    api: Any, table: Any, captured_events: Any
) -> None:
    from agent_sessions.models.items import SessionItem
    from agent_sessions.runtime import conversation_service

    store = conversation_service().store
    pending = SessionItem(
        namespace_id="ns_test", session_id="child", internal_id="int_testorg",
        created_ms=1, updated_ms=1, last_activity_ms=1, expires_ms=1,
    )  # fmt: skip
    store.put_pending(pending, 3600, 1_000)
    pending_image = raw_session(table, "child")
    assert consume(record("INSERT", new=pending_image, seq="1")) == {"batchItemFailures": []}
    assert captured_events() == []  # invisible: nothing to announce yet
    # the fork completes: the real head replaces the invisible one
    parent = api.created({"user_id": "u1"})["session_id"]
    api.call("append", session_id=parent, body={"content": "hi"})
    forked = api.call("fork", session_id=parent, body={"session_id": "done-child"})
    assert forked["statusCode"] == 200
    done = raw_session(table, "done-child")
    as_pending = {**done, "status": {"S": "forking"}}
    consume(record("MODIFY", old=as_pending, new=done, seq="2"))
    assert [(e["detail-type"], e["detail"]["session_id"]) for e in captured_events()] == [
        ("session.created", "done-child")
    ]
    # an unfinished fork's head removed by TTL: its copies go, no event
    api.call("append", session_id=parent, body={"content": "again"})
    copy = {
        "PK": pending_image["PK"],
        "SK": {"S": "MSG#0000000000"},
        "message_id": {"S": "msg_x"},
        "content": {"S": "orphan"},
    }
    table.put_item(TableName=os.environ["TABLE_NAME"], Item=copy)
    table.delete_item(TableName=os.environ["TABLE_NAME"], Key={"PK": pending_image["PK"], "SK": pending_image["SK"]})
    consume(record("REMOVE", old=pending_image, identity=TTL_IDENTITY, seq="3"))
    assert [i for i in scan_all(table) if i["PK"] == pending_image["PK"]] == []
    assert captured_events() == []  # nothing announced for it (the queue was read above)
