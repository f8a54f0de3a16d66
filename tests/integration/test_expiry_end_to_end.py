"""Expiry end to end on DynamoDB Local, which really expires TTL items and serves the stream:
a short-lived session with messages is invisible the moment it expires, then DynamoDB's TTL
removes it, then the stream consumer (fed as AWS's event source mapping feeds it) deletes
its messages and publishes `session.expired` to EventBridge (a local bus, captured here)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import Api, scan_all

pytestmark = pytest.mark.integration


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_expired_session_disappears_then_is_removed_cascaded_and_announced(
    local_table: Any, stream_harness: Any
) -> None:
    bus, feeder = stream_harness.bus, stream_harness.feeder
    api = Api()
    session = api.created({"user_id": "u1", "ttl_seconds": 2})
    sid = session["session_id"]
    appended = api.call(
        "append", session_id=sid, body={"messages": [{"content": "one"}, {"role": "assistant", "content": "two"}]}
    )
    assert appended["statusCode"] == 200, appended["body"]

    time.sleep(2.2)
    assert api.call("get", session_id=sid)["statusCode"] == 404  # invisible at once
    assert api.call("history", session_id=sid)["statusCode"] == 404

    def session_item_gone() -> bool:
        return not any(i["SK"]["S"] == "SESSION" for i in scan_all(local_table) if sid in json.dumps(i))

    wait_until(session_item_gone, 90, "DynamoDB Local's TTL to remove the session")
    feeder.drain()

    remaining = [i for i in scan_all(local_table) if sid in json.dumps(i) and i["SK"]["S"] != "ENDED"]
    assert remaining == []  # messages and lookups are gone too
    assert feeder.failed_batches == []
    events = [(e["detail-type"], e["detail"]["session_id"]) for e in bus.events]
    assert ("session.created", sid) in events
    assert ("session.expired", sid) in events
    expired = next(e for e in bus.events if e["detail-type"] == "session.expired")
    assert expired["detail"]["message_count"] == 2
    assert "one" not in json.dumps(expired)  # never message content
    total = json.loads(api.call("list", body={})["body"])["total"]
    assert total == 0  # the namespace counter no longer counts it
