"""Faults injected into the functions' DynamoDB calls with botocore's event hooks: throttling,
store errors, and a store that committed a write but whose answer was lost. Every request
either succeeds or answers 429/503 with Retry-After, and afterwards the stored state is
exact: what was acknowledged is there once, what was refused is not there at all."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3
from botocore.awsrequest import AWSResponse

from agent_sessions.store.client import dynamodb
from conftest import TABLE_NAMES
from reliability.conftest import LiveApi, Reply, every_message, scale

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

FAULTS = {
    "throttled": (
        400,
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "store_error": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
}


class _Raw:
    """What botocore reads an injected response's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FaultInjector:
    """A `before-send` hook on the sessions table's requests: with probability `rate`, answer
    in place of DynamoDB — a throttle, a 500, or (for writes) send the request for real and
    then lose the answer behind a 500, which botocore retries with the same request."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.http = urllib3.PoolManager(maxsize=16)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if f'"{TABLE_NAMES["SessionsTable"]}"'.encode() not in body:
            return None
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        with self.lock:
            roll = self.random.random()
            kind = self.random.choice(["throttled", "store_error", "lost_answer"])
        if roll >= self.rate:
            return None
        if kind == "lost_answer":
            if not target.endswith(("TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem")):
                kind = "store_error"
            else:
                self.http.request(request.method, request.url, body=body, headers=dict(request.headers.items()))
        status, code, message = FAULTS["store_error" if kind == "lost_answer" else kind]
        with self.lock:
            self.injected[kind] += 1
        payload = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": uuid.uuid4().hex}
        return AWSResponse(request.url, status, headers, _Raw(payload))


@pytest.fixture
def faults(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultInjector]:
    import botocore.retries.standard

    # botocore's standard mode keeps its policy (which errors, how many attempts, the retry
    # quota); only its sleeps are shortened so the suite spends its time on requests.
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.005)
    injector = FaultInjector(rate=0.25, seed=7)
    client = dynamodb()
    client.meta.events.register_first("before-send.dynamodb", injector)
    yield injector
    client.meta.events.unregister("before-send.dynamodb", injector)


def _acceptable(reply: Reply) -> bool:
    if reply.status in (200,):
        return True
    if reply.status in (429, 503):
        assert reply.headers.get("retry-after", "").isdigit(), reply.headers
        assert reply.body["success"] is False and reply.body["status"] == reply.status
        return True
    return False


def test_faults_leave_exact_state(live_api: LiveApi, faults: FaultInjector) -> None:
    clients, appends_each = scale(4, 12), scale(10, 40)
    created: list[str] = []
    while len(created) < 3:
        reply = live_api.create({"user_id": "faulty"})
        assert _acceptable(reply), reply.body
        if reply.status == 200:
            created.append(reply.body["session_id"])

    def client(worker: int) -> dict[str, Any]:
        acknowledged: list[str] = []
        refused: list[str] = []
        unknown: list[str] = []
        statuses: Counter[int] = Counter()
        for n in range(appends_each):
            session_id = created[n % len(created)]
            text = f"c{worker}-{n}"
            reply = live_api.request(
                "POST", f"/v1/agents/sessions/{session_id}/messages", {"role": "user", "content": text}
            )
            statuses[reply.status] += 1
            assert _acceptable(reply), (reply.status, reply.body)
            if reply.status == 200:
                acknowledged.append(text)
            elif reply.body["error"]["code"] == "write_conflict":
                refused.append(text)  # the service gave up before anything committed
            else:
                unknown.append(text)  # a lost answer: committed or not, the caller cannot tell
            read = live_api.session(session_id)
            statuses[read.status] += 1
            assert _acceptable(read), (read.status, read.body)
        return {"acknowledged": acknowledged, "refused": refused, "unknown": unknown, "statuses": statuses}

    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(client, range(clients)))
    faults.rate = 0.0
    statuses = sum((outcome["statuses"] for outcome in outcomes), Counter())
    assert set(faults.injected) == {"throttled", "store_error", "lost_answer"}, faults.injected
    assert statuses[200] > 0, statuses

    stored: list[str] = []
    for session_id in created:
        session = live_api.session(session_id).body
        messages = every_message(live_api, session_id)
        assert [m["seq"] for m in messages] == list(range(len(messages)))  # gapless
        assert session["message_count"] == len(messages) == session["stats"]["total_messages"]
        stored.extend(m["content"] for m in messages)
    assert len(stored) == len(set(stored))  # nothing doubled, even where an answer was lost
    acknowledged = {text for outcome in outcomes for text in outcome["acknowledged"]}
    refused = {text for outcome in outcomes for text in outcome["refused"]}
    assert acknowledged <= set(stored)  # nothing acknowledged is missing
    assert not refused & set(stored)  # nothing refused was written
    assert set(stored) <= acknowledged | {text for outcome in outcomes for text in outcome["unknown"]}


def test_idempotent_retries_through_faults_append_exactly_once(live_api: LiveApi, faults: FaultInjector) -> None:
    """The client's way out of "unknown": retry with the same Idempotency-Key until it gets
    an answer; each logical append then lands exactly once."""
    session_id = None
    while session_id is None:
        reply = live_api.create({"user_id": "faulty"})
        session_id = reply.body["session_id"] if reply.status == 200 else None
    texts = [f"m{n}" for n in range(scale(20, 80))]
    for text in texts:
        key = uuid.uuid4().hex
        for _ in range(50):
            reply = live_api.request(
                "POST",
                f"/v1/agents/sessions/{session_id}/messages",
                {"content": text},
                headers={"Idempotency-Key": key},
            )
            assert _acceptable(reply), (reply.status, reply.body)
            if reply.status == 200:
                assert [m["content"] for m in reply.body["messages"]] == [text]
                break
        else:
            pytest.fail(f"{text} never succeeded")
    faults.rate = 0.0
    assert [m["content"] for m in every_message(live_api, session_id)] == texts
    assert live_api.session(session_id).body["message_count"] == len(texts)


def test_forks_and_rewinds_through_faults(live_api: LiveApi, faults: FaultInjector) -> None:
    """A fork retried with one Idempotency-Key through faults makes exactly one complete child
    and never a partial one; rewinds retried with If-Match remove exactly what they say."""
    faults.rate = 0.0
    parent = live_api.create({"user_id": "faulty"}).body["session_id"]
    texts = [f"m{n}" for n in range(120)]
    for start in range(0, 120, 60):
        batch = {"messages": [{"content": text} for text in texts[start : start + 60]]}
        assert live_api.request("POST", f"/v1/agents/sessions/{parent}/messages", batch).status == 200
    faults.rate = 0.25
    key = uuid.uuid4().hex
    child = None
    for _ in range(60):
        reply = live_api.request("POST", f"/v1/agents/sessions/{parent}/fork", {}, headers={"Idempotency-Key": key})
        assert _acceptable(reply) or reply.status == 409, (reply.status, reply.body)
        if reply.status == 200:
            child = reply.body["session_id"]
            break
    assert child is not None, "the fork never succeeded"
    count = 120
    for _ in range(3):  # pop three, each exactly once through faults
        for _ in range(60):
            reply = live_api.request(
                "DELETE", f"/v1/agents/sessions/{child}/messages?last=1", headers={"If-Match": f'"{count}"'}
            )
            assert _acceptable(reply) or reply.status == 412, (reply.status, reply.body)
            if reply.status in (200, 412):
                break
        count -= 1
    faults.rate = 0.0
    children = [i for i in live_api.scan() if i["SK"]["S"] == "SESSION" and i.get("forked_from")]
    assert len(children) == 1  # one child, however many retries
    assert [m["content"] for m in every_message(live_api, child)] == texts[:117]
    assert live_api.session(child).body["message_count"] == 117
    assert [m["content"] for m in every_message(live_api, parent)] == texts  # the parent untouched
    listed = live_api.request("GET", "/v1/agents/sessions?user_id=faulty").body
    assert listed["total"] == 2
