"""Many clients at once on one session, through the local runtime's HTTP server, on
DynamoDB Local (whose transactions really conflict): nothing lost, nothing doubled."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reliability.conftest import LiveApi, every_message, retried, scale

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_concurrent_appends_and_patches_lose_nothing(live_api: LiveApi) -> None:
    session_id = live_api.create().body["session_id"]
    appenders, appends_each = scale(6, 16), scale(8, 30)
    patchers, patches_each = scale(3, 8), scale(4, 10)

    def appender(worker: int) -> list[str]:
        sent: list[str] = []
        for n in range(appends_each):
            batch = [f"a{worker}-{n}-{part}" for part in range(1 + n % 3)]
            key = uuid.uuid4().hex
            reply = retried(
                lambda batch=batch, key=key: live_api.request(
                    "POST",
                    f"/v1/agents/sessions/{session_id}/messages",
                    {"messages": [{"role": "user", "content": text} for text in batch]},
                    headers={"Idempotency-Key": key},
                )
            )
            assert reply.status in (200, 201), reply.body
            sent.extend(batch)
        return sent

    def patcher(worker: int) -> dict[str, int]:
        for n in range(patches_each):
            reply = retried(
                lambda n=n: live_api.request(
                    "PATCH", f"/v1/agents/sessions/{session_id}", {"metadata": {f"p{worker}": str(n)}}
                )
            )
            assert reply.status == 200, reply.body
        return {f"p{worker}": patches_each - 1}

    with ThreadPoolExecutor(appenders + patchers) as pool:
        appended = [pool.submit(appender, worker) for worker in range(appenders)]
        patched = [pool.submit(patcher, worker) for worker in range(patchers)]
        sent = [text for future in appended for text in future.result()]
        final_metadata: dict[str, Any] = {}
        for future in patched:
            final_metadata.update({key: str(value) for key, value in future.result().items()})

    session = live_api.session(session_id).body
    messages = every_message(live_api, session_id)
    assert session["message_count"] == len(sent) == session["stats"]["total_messages"]
    assert [message["seq"] for message in messages] == list(range(len(sent)))  # gapless, from 0
    assert sorted(message["content"] for message in messages) == sorted(sent)  # none lost, none doubled
    for worker in range(appenders):  # each client's own messages stay in the order it sent them
        mine = [m["content"] for m in messages if m["content"].startswith(f"a{worker}-")]
        assert mine == [text for text in sent if text.startswith(f"a{worker}-")]
    assert session["metadata"] == final_metadata  # every patcher's last write survived
    stored = [item for item in live_api.scan() if item["SK"]["S"].startswith("MSG#")]
    assert len(stored) == len(sent)


def test_concurrent_retries_of_one_create_make_one_session(live_api: LiveApi) -> None:
    key = uuid.uuid4().hex
    body = {"user_id": "racer", "metadata": {"k": "v"}}
    with ThreadPoolExecutor(scale(8, 24)) as pool:
        replies = list(
            pool.map(lambda _: retried(lambda: live_api.create(body, {"Idempotency-Key": key})), range(scale(16, 64)))
        )
    assert {reply.status for reply in replies} == {200}
    assert len({reply.body["session_id"] for reply in replies}) == 1
    assert sum(reply.headers.get("idempotent-replayed") == "true" for reply in replies) == len(replies) - 1
    sessions = [item for item in live_api.scan() if item["SK"]["S"] == "SESSION"]
    assert len(sessions) == 1
    listed = live_api.request("GET", "/v1/agents/sessions?limit=10").body
    assert listed["total"] == 1


def test_concurrent_retries_of_one_append_append_once(live_api: LiveApi) -> None:
    session_id = live_api.create().body["session_id"]
    key = uuid.uuid4().hex
    body = {"messages": [{"role": "user", "content": "once"}, {"role": "assistant", "content": "only once"}]}

    def send(_: int) -> Any:
        return retried(
            lambda: live_api.request(
                "POST", f"/v1/agents/sessions/{session_id}/messages", body, headers={"Idempotency-Key": key}
            )
        )

    with ThreadPoolExecutor(scale(8, 24)) as pool:
        replies = list(pool.map(send, range(scale(16, 64))))
    assert {reply.status for reply in replies} == {200}
    assert len({tuple(m["message_id"] for m in reply.body["messages"]) for reply in replies}) == 1
    session = live_api.session(session_id).body
    assert session["message_count"] == 2
    assert [m["content"] for m in every_message(live_api, session_id)] == ["once", "only once"]


def test_rewinds_racing_appends_leave_exact_state(live_api: LiveApi) -> None:
    """8 appenders and 2 rewinders (pop the last message, half of them with If-Match) on one
    session: every pop removes exactly one message, and afterwards the stored messages are
    exactly the appended minus the popped, gapless, with stats that agree."""
    session_id = live_api.create().body["session_id"]
    appenders, appends_each = 8, scale(6, 20)
    rewinders, pops_each = 2, scale(6, 20)

    def appender(worker: int) -> list[str]:
        sent: list[str] = []
        for n in range(appends_each):
            text = f"a{worker}-{n}"
            key = uuid.uuid4().hex
            reply = retried(
                lambda text=text, key=key: live_api.request(
                    "POST",
                    f"/v1/agents/sessions/{session_id}/messages",
                    {"content": text, "token_count": 1},
                    headers={"Idempotency-Key": key},
                )
            )
            assert reply.status == 200, reply.body
            sent.append(text)
        return sent

    def rewinder(worker: int) -> tuple[list[str], int]:
        popped: list[str] = []
        stale = 0
        for n in range(pops_each):
            headers = {}
            if n % 2:  # exactly-once with If-Match: the count just read, 412 if an append came first
                headers["If-Match"] = f'"{live_api.session(session_id).body["message_count"]}"'
            reply = retried(
                lambda headers=headers: live_api.request(
                    "DELETE", f"/v1/agents/sessions/{session_id}/messages?last=1", headers=headers
                )
            )
            if reply.status == 412:
                stale += 1
                continue
            assert reply.status == 200, reply.body
            assert reply.body["removed_count"] == len(reply.body["removed"]) <= 1
            popped += [m["content"] for m in reply.body["removed"]]
        return popped, stale

    with ThreadPoolExecutor(appenders + rewinders) as pool:
        appended = [pool.submit(appender, worker) for worker in range(appenders)]
        rewound = [pool.submit(rewinder, worker) for worker in range(rewinders)]
        sent = [text for future in appended for text in future.result()]
        popped = [text for future in rewound for text in future.result()[0]]

    assert len(popped) == len(set(popped)) and set(popped) <= set(sent)  # each pop took a different message
    session = live_api.session(session_id).body
    messages = every_message(live_api, session_id)
    survivors = sorted(m["content"] for m in messages)
    assert survivors == sorted(set(sent) - set(popped))
    assert [m["seq"] for m in messages] == list(range(len(messages)))  # gapless
    assert session["message_count"] == len(messages) == session["stats"]["total_messages"]
    assert session["stats"]["total_tokens"] == len(messages)  # every pop took its tokens with it
    stored = [item for item in live_api.scan() if item["SK"]["S"].startswith("MSG#")]
    assert len(stored) == len(messages)  # nothing hidden left behind
