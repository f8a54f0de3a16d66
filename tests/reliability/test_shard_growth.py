"""Shards that grow under load (DESIGN §4), through the local runtime's HTTP server on DynamoDB
Local: writers create sessions and listers page through the namespace and a popular agent
while another process doubles both families' counts from 1 to 32. No page misses a session
that existed before its listing began, none shows one twice, every total lies between what
existed when the listing began and what exists after it, and cursors taken before a doubling
keep working after it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent_sessions.store import keys, shards
from reliability.conftest import TABLE_NAMES, LiveApi, retried, scale

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

AGENT = "grow-bot"


def raise_elsewhere(live_api: LiveApi, partition: str, count: int) -> None:
    """What another container's throttled writer (or set-shards) writes: the count item alone,
    so this process's writers and readers learn it only from what they read."""
    live_api.table.update_item(
        TableName=TABLE_NAMES["SessionsTable"],
        Key=shards.count_key(partition),
        UpdateExpression="SET shards = :count, raised_ms = :now",
        ConditionExpression="attribute_not_exists(shards) OR shards < :count",
        ExpressionAttributeValues={":count": {"N": str(count)}, ":now": {"N": str(int(time.time() * 1000))}},
    )


def test_counts_doubling_under_load_lose_no_session_from_any_page_or_total(live_api: LiveApi) -> None:
    namespace = keys.namespace_partition(live_api.namespace_id)
    agent = keys.lookup_partition(live_api.namespace_id, "agent_id", AGENT)
    created: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    listings = {"pages": 0, "listings": 0}

    def create(worker: int) -> None:
        reply = retried(lambda: live_api.create({"agent_id": AGENT, "user_id": f"writer-{worker}"}))
        assert reply.status == 200, reply.body
        with lock:
            created.append(reply.body["session_id"])

    for worker in range(20):  # some sessions from before any growth, all in shard 0
        create(worker)

    def writer(worker: int) -> None:
        while not stop.is_set():
            create(worker)

    def lister(query: str) -> None:
        while not stop.is_set():
            with lock:
                before = set(created)
            seen: list[str] = []
            cursor = None
            while True:
                path = f"/v1/agents/sessions?limit=9{query}" + (f"&cursor={cursor}" if cursor else "")
                reply = retried(lambda path=path: live_api.request("GET", path))
                assert reply.status == 200, reply.body
                seen += [session["session_id"] for session in reply.body["results"]]
                with lock:
                    existing = len(created)
                assert len(before) <= reply.body["total"] <= existing + 4  # + creates answered late
                cursor = reply.body["pagination"]["next_cursor"]
                listings["pages"] += 1
                if cursor is None:
                    break
            assert len(seen) == len(set(seen)), "a session listed twice"
            missing = before - set(seen)
            assert not missing, f"{len(missing)} sessions missing from a listing"
            listings["listings"] += 1

    writers, listers = scale(3, 6), ["", f"&agent_id={AGENT}", "&order=asc"]
    with ThreadPoolExecutor(writers + len(listers)) as pool:
        running = [pool.submit(writer, worker) for worker in range(writers)]
        running += [pool.submit(lister, query) for query in listers]
        try:
            for count in (2, 4, 8, 16, 32):
                time.sleep(scale(1, 3) * 0.4)
                raise_elsewhere(live_api, namespace, count)
                raise_elsewhere(live_api, agent, count)
            time.sleep(0.5)
        finally:
            stop.set()
        for future in running:
            future.result()

    assert listings["listings"] >= len(listers) and listings["pages"] > 10
    # the writers learned the counts from the listers' reads: later sessions are spread out
    heads = [item for item in live_api.scan() if item["SK"]["S"] == keys.SESSION_SK and "#SES#" in item["PK"]["S"]]
    assert len(heads) == len(created)
    assert len({keys.shard_in(item["GSI1PK"]["S"]) for item in heads}) > 4
    # and a final listing, with no writer running, is exact
    final = retried(lambda: live_api.request("GET", f"/v1/agents/sessions?limit=200&agent_id={AGENT}"))
    ids: list[str] = [session["session_id"] for session in final.body["results"]]
    cursor = final.body["pagination"]["next_cursor"]
    while cursor:
        reply = retried(
            lambda cursor=cursor: live_api.request(
                "GET", f"/v1/agents/sessions?limit=200&agent_id={AGENT}&cursor={cursor}"
            )
        )
        ids += [session["session_id"] for session in reply.body["results"]]
        cursor = reply.body["pagination"]["next_cursor"]
    assert sorted(ids) == sorted(created) and final.body["total"] == len(created)
