"""Shards that follow heat (DESIGN §4): a family starts with one shard; `set-shards` and
throttles raise its count; readers find every session whatever count a writer used; a table
written when every family had 16 keeps them through migrate-layout."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from agent_sessions.admin import run as admin
from agent_sessions.errors import AppError
from agent_sessions.store import keys, shards
from conftest import scan_all
from support import body_of

TABLE = os.environ["TABLE_NAME"]
NAMESPACE = keys.namespace_partition("ns_test")
GSI_THROTTLE = (
    "Throughput exceeds the current capacity for one or more global secondary indexes. "
    "DynamoDB is automatically scaling your index so please try again shortly."
)
TABLE_THROTTLE = "Throughput exceeds the current capacity of your table or index."


def family(field: str, value: str, key: str | None = None) -> str:
    return keys.lookup_partition("ns_test", field, value, key)


def stored_count(table: Any, partition: str) -> int | None:
    item = table.get_item(TableName=TABLE, Key=shards.count_key(partition)).get("Item")
    return int(item["shards"]["N"]) if item and "shards" in item else None


def heads(table: Any) -> dict[str, dict[str, Any]]:
    return {
        keys.parse_session_pk(item["PK"]["S"])[1]: item
        for item in scan_all(table)
        if item["SK"]["S"] == keys.SESSION_SK and "#SES#" in item["PK"]["S"]
    }


def every_page(api: Any, body: dict[str, Any], limit: int = 7) -> tuple[list[str], set[int]]:
    seen: list[str] = []
    totals: set[int] = set()
    cursor = None
    while True:
        page = body_of(api.call("list", body=body | {"limit": limit} | ({"cursor": cursor} if cursor else {})))
        seen += [s["session_id"] for s in page["results"]]
        totals.add(page["total"])
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            return seen, totals


class Throttle:
    """Fault injection: the next `times` TransactWriteItems calls are cancelled as DynamoDB
    cancels a throttled transaction, with the reason on action `position`."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.left = 0
        self.position = 0
        self.message = GSI_THROTTLE
        self.seen: list[list[dict[str, Any]]] = []
        table.meta.events.register("before-call.dynamodb.TransactWriteItems", self)

    def arm(self, *, position: int = 0, message: str = GSI_THROTTLE, times: int = 1) -> None:
        self.position, self.message, self.left = position, message, times

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        if self.left <= 0:
            return
        self.left -= 1
        actions = json.loads(params["body"])["TransactItems"]
        self.seen.append(actions)
        reasons: list[dict[str, Any]] = [{"Code": "None"} for _ in actions]
        reasons[self.position] = {"Code": "ThrottlingError", "Message": self.message}
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": reasons,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "TransactWriteItems",
        )


@pytest.fixture
def throttle(table: Any) -> Any:
    injected = Throttle(table)
    yield injected
    table.meta.events.unregister("before-call.dynamodb.TransactWriteItems", injected)


def test_a_new_namespace_has_one_shard_and_set_shards_spreads_what_comes_after(
    api: Any, table: Any, frozen_clock: Any, calls: Any
) -> None:
    early = []
    for _ in range(6):
        frozen_clock.advance(1)
        early.append(api.created({"user_id": "u", "agent_id": "bot"})["session_id"])
    assert {heads(table)[sid]["GSI1PK"]["S"] for sid in early} == {f"{NAMESPACE}#S0"}
    assert stored_count(table, NAMESPACE) is None  # no count of its own: one shard

    result = admin(["set-shards", "--namespace", "ns_test", "--count", "16"])
    assert result == {"namespace_id": "ns_test", "family": "namespace", "shards": 16, "changed": True}
    assert admin(["set-shards", "--namespace", "ns_test", "--count", "16", "--agent", "bot"])["shards"] == 16
    assert stored_count(table, NAMESPACE) == 16 and stored_count(table, family("agent_id", "bot")) == 16
    late = []
    for _ in range(30):
        frozen_clock.advance(1)
        late.append(api.created({"user_id": "u", "agent_id": "bot"})["session_id"])
    stored = heads(table)
    for sid in late:
        assert stored[sid]["GSI1PK"]["S"] == f"{NAMESPACE}#S{keys.shard_of(sid, 16)}"
        assert stored[sid]["GSI3PK"]["S"] == f"{family('user_id', 'u')}#S0"  # the user kept one shard
    assert len({stored[sid]["GSI1PK"]["S"] for sid in late}) >= 8
    # counters: the namespace's total is spread too, and still exact
    counter_items = [i for i in scan_all(table) if i["PK"]["S"].startswith(f"{NAMESPACE}#COUNT#S")]
    assert len(counter_items) >= 8 and sum(int(i.get("n", {"N": "0"})["N"]) for i in counter_items) == 36

    everyone = list(reversed(early + late))
    calls.reset()
    first = body_of(api.call("list", body={"limit": 10}))
    assert calls.calls["Query"] == 16 + 1 and calls.calls["BatchGetItem"] == 1  # + the due index's one shard
    assert [s["session_id"] for s in first["results"]] == everyone[:10] and first["total"] == 36
    for body in ({}, {"filters": {"agent_id": "bot"}}, {"filters": {"user_id": "u"}}):
        seen, totals = every_page(api, body)
        assert seen == everyone and totals == {36}
    calls.reset()
    body_of(api.call("list", body={"filters": {"user_id": "u"}, "limit": 100}))
    assert calls.calls == {"Query": 1, "BatchGetItem": 1}

    # counts never go down; only powers of two up to 32
    assert admin(["set-shards", "--namespace", "ns_test", "--count", "4"])["shards"] == 16
    assert admin(["set-shards", "--namespace", "ns_test", "--count", "0"])["changed"] is False
    for wrong in ("3", "64"):
        with pytest.raises(AppError):
            admin(["set-shards", "--namespace", "ns_test", "--count", wrong])
    assert stored_count(table, NAMESPACE) == 16
    assert admin(["set-shards", "--namespace", "ns_test", "--count", "2", "--metadata", "team=a"])["shards"] == 2
    assert stored_count(table, family("metadata", "a", "team")) == 2


def test_a_throttled_write_doubles_the_hot_family_and_goes_through(
    api: Any, table: Any, frozen_clock: Any, throttle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards, "HEAT_WINDOW_S", 600)  # the whole test is one burst, however slow
    for index in range(5):  # the namespace and the agent take every create; each user one
        api.created({"user_id": f"warm-{index}", "agent_id": "bot"})
    throttle.arm(position=0)  # the head's index write: the namespace's and the user's partitions
    created = api.created({"user_id": "newcomer", "agent_id": "bot"})
    assert stored_count(table, NAMESPACE) == 2
    assert stored_count(table, family("user_id", "newcomer")) is None  # one write: not hot
    assert stored_count(table, family("agent_id", "bot")) is None  # not on the head's indexes
    # placed again with the new count, and stored once
    head = heads(table)[created["session_id"]]
    assert head["GSI1PK"]["S"] == f"{NAMESPACE}#S{keys.shard_of(created['session_id'], 2)}"
    assert len(throttle.seen) == 1

    # the same burst again within the cooldown: the count is kept and, since placing the write
    # again would change nothing, the client gets the 429 (it retries with its Idempotency-Key)
    before_items = scan_all(table)
    throttle.arm(position=0)
    refused = api.create({"user_id": "second", "agent_id": "bot"})
    assert refused["statusCode"] == 429 and body_of(refused)["error"]["code"] == "store_throttled"
    assert stored_count(table, NAMESPACE) == 2 and scan_all(table) == before_items
    api.created({"user_id": "second", "agent_id": "bot"})
    frozen_clock.advance(shards.RAISE_COOLDOWN_MS / 1000 + 1)
    throttle.arm(position=0)
    api.created({"user_id": "third", "agent_id": "bot"})
    assert stored_count(table, NAMESPACE) == 4

    # a counter shard throttled on the table (the agent's, action 5: head, body, 2 lookups,
    # then the namespace's, the user's and the agent's counters)
    throttle.arm(position=6, message=TABLE_THROTTLE)
    api.created({"user_id": "fourth", "agent_id": "bot"})
    assert stored_count(table, family("agent_id", "bot")) == 2
    assert stored_count(table, family("user_id", "fourth")) is None

    # a throttle that outlasts every retry is the contract's 429, and writes nothing: each
    # attempt doubles the namespace (the clock moves past the cooldown between them here)
    before_items = scan_all(table)
    frozen_clock.advance(shards.RAISE_COOLDOWN_MS / 1000 + 1)
    monkeypatch.setattr(shards, "RAISE_COOLDOWN_MS", 0)
    throttle.arm(position=0, times=shards.THROTTLE_ATTEMPTS)
    refused = api.create({"user_id": "never", "agent_id": "bot"})
    assert refused["statusCode"] == 429 and body_of(refused)["error"]["code"] == "store_throttled"
    assert throttle.left == 0 and stored_count(table, NAMESPACE) == 32  # 4 → 8 → 16 → 32
    changed = [item for item in scan_all(table) if item not in before_items]
    assert all(item["PK"]["S"].endswith("#COUNT#S0") for item in changed), changed  # counts only

    seen, totals = every_page(api, {})
    assert len(seen) == len(set(seen)) == 9 and totals == {9}
    agent_seen, agent_totals = every_page(api, {"filters": {"agent_id": "bot"}})
    assert sorted(agent_seen) == sorted(seen) and agent_totals == {9}


def test_an_append_throttled_on_the_activity_index_raises_the_namespace(
    api: Any, table: Any, frozen_clock: Any, throttle: Any
) -> None:
    sid = api.created({"user_id": "u"})["session_id"]
    for _ in range(3):
        api.call("append", session_id=sid, body={"role": "user", "content": "hi"})
    throttle.arm(position=0)
    appended = api.call("append", session_id=sid, body={"role": "user", "content": "hot"})
    assert appended["statusCode"] == 200
    assert stored_count(table, NAMESPACE) == 2
    # the append moved the session in the activity index anyway: to its shard of the new count
    head = heads(table)[sid]
    assert head["GSI2PK"]["S"] == f"{NAMESPACE}#S{keys.shard_of(sid, 2)}"
    assert head["GSI1PK"]["S"] == f"{NAMESPACE}#S0"  # the created_at entry never moves
    by_activity = body_of(api.call("list", body={"sort": {"field": "last_activity_at", "direction": "desc"}}))
    assert [s["session_id"] for s in by_activity["results"]] == [sid] and by_activity["total"] == 1
    assert body_of(api.call("history", session_id=sid))["messages"][-1]["content"] == "hot"


def test_a_reader_whose_cached_count_is_stale_reads_again_and_misses_nothing(
    api: Any, table: Any, frozen_clock: Any, calls: Any
) -> None:
    early = []
    for _ in range(10):
        frozen_clock.advance(1)
        early.append(api.created({"agent_id": "bot"})["session_id"])
    body_of(api.call("list", body={}))  # this container has now read the namespace at 1 shard
    counts = shards.counts_for(TABLE)
    # another container raises the count to 8 and places sessions with it
    table.update_item(
        TableName=TABLE,
        Key=shards.count_key(NAMESPACE),
        UpdateExpression="SET shards = :eight",
        ExpressionAttributeValues={":eight": {"N": "8"}},
    )
    counts.known[NAMESPACE] = 8
    late = []
    for _ in range(20):
        frozen_clock.advance(1)
        late.append(api.created({"agent_id": "bot"})["session_id"])
    assert len({heads(table)[sid]["GSI1PK"]["S"] for sid in late}) > 1
    counts.known.pop(NAMESPACE)  # this container still believes 1

    calls.reset()
    page = body_of(api.call("list", body={"limit": 50}))
    assert [s["session_id"] for s in page["results"]] == list(reversed(early + late)) and page["total"] == 30
    # the page's own batch get showed 8 shards: its reads once more, with all 8
    assert calls.calls == {"Query": 1 + 8, "BatchGetItem": 2}
    calls.reset()
    body_of(api.call("list", body={"limit": 50}))
    assert calls.calls == {"Query": 8, "BatchGetItem": 1}


def test_a_cursor_keeps_working_while_the_count_grows(api: Any, table: Any, frozen_clock: Any) -> None:
    before = []
    for _ in range(12):
        frozen_clock.advance(1)
        before.append(api.created({"agent_id": "bot"})["session_id"])
    newest_first = list(reversed(before))
    first = body_of(api.call("list", body={"limit": 5}))
    assert [s["session_id"] for s in first["results"]] == newest_first[:5]
    admin(["set-shards", "--namespace", "ns_test", "--count", "8"])
    for _ in range(10):  # newer sessions, placed over 8 shards
        frozen_clock.advance(1)
        api.created({"agent_id": "bot"})
    seen = [s["session_id"] for s in first["results"]]
    cursor = first["pagination"]["next_cursor"]
    while cursor:
        page = body_of(api.call("list", body={"limit": 5, "cursor": cursor}))
        seen += [s["session_id"] for s in page["results"]]
        cursor = page["pagination"]["next_cursor"]
    assert seen == newest_first


def test_a_table_of_16_shards_keeps_them_through_the_migration(
    api: Any, table: Any, frozen_clock: Any, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what the previous version wrote: no marker, every family's entries in hash % 16
    table.delete_item(TableName=TABLE, Key=shards.marker_key())
    monkeypatch.setattr(shards.ShardCounts, "for_write", lambda self, partition: 16)
    old = []
    for index in range(30):
        frozen_clock.advance(1)
        old.append(api.created({"user_id": f"u{index % 3}", "agent_id": "bot", "metadata": {"team": "a"}}))
    monkeypatch.undo()
    shards.forget()
    assert len({heads(table)[s["session_id"]]["GSI1PK"]["S"] for s in old}) > 4

    # before the migration: a family without a count reads as 16, so nothing is missed
    calls.reset()
    page = body_of(api.call("list", body={"filters": {"agent_id": "bot"}, "limit": 100}))
    assert len(page["results"]) == 30 and page["total"] == 30
    assert calls.calls["Query"] == 1 + 16  # guessed 1, the page's check said 16
    frozen_clock.advance(1)
    newcomer = api.created({"user_id": "newcomer", "agent_id": "bot"})  # written with 1 shard
    assert heads(table)[newcomer["session_id"]]["GSI3PK"]["S"].endswith("#S0")
    for filters, expected in (({}, 31), ({"user_id": "u1"}, 10), ({"metadata": {"team": "a"}}, 30)):
        seen, totals = every_page(api, {"filters": filters})
        assert len(set(seen)) == len(seen) == expected and totals == {expected}

    result = admin(["migrate-layout"])
    assert result["layout"] == keys.TABLE_LAYOUT_VERSION and result["state"] == "done"
    # the namespace, 3 + 1 users, the agent, the metadata pair, the due index
    assert result["report"]["families_kept_at_16"] == 8 and result["report"]["sessions_migrated"] == 0
    for partition in (NAMESPACE, family("agent_id", "bot"), family("user_id", "u0"), family("metadata", "a", "team")):
        assert stored_count(table, partition) == 16
    shards.forget()
    seen, totals = every_page(api, {})
    assert len(set(seen)) == 31 and totals == {31}
    # a family born after the migration starts with one shard
    fresh = api.created({"user_id": "fresh"})
    calls.reset()
    page = body_of(api.call("list", body={"filters": {"user_id": "fresh"}}))
    assert [s["session_id"] for s in page["results"]] == [fresh["session_id"]]
    assert calls.calls == {"Query": 1, "BatchGetItem": 1}


def test_erasing_a_user_reads_every_shard_of_theirs_in_one_round_trip(
    api: Any, table: Any, frozen_clock: Any, calls: Any
) -> None:
    user = family("user_id", "gone")
    mine = [api.created({"user_id": "gone"})["session_id"] for _ in range(3)]
    # another container raised the user's count and placed more of their sessions with it
    table.update_item(
        TableName=TABLE,
        Key=shards.count_key(user),
        UpdateExpression="SET shards = :four",
        ExpressionAttributeValues={":four": {"N": "4"}},
    )
    counts = shards.counts_for(TABLE)
    counts.known[user] = 4
    mine += [api.created({"user_id": "gone"})["session_id"] for _ in range(12)]
    assert len({heads(table)[sid]["GSI3PK"]["S"] for sid in mine}) > 1
    counts.known.pop(user)
    other = api.created({"user_id": "stays"})["session_id"]

    calls.reset()
    erased = body_of(api.call("erase", query={"user_id": "gone"}))
    assert erased == {"purged": 15, "has_more": False}
    # the cached count (1) and the stored one (read beside it) differ: the other shards after
    assert calls.calls["Query"] >= 1 + 3 and calls.calls["BatchGetItem"] == 1
    assert set(heads(table)) == {other}


def test_the_throttled_index_named_by_dynamodb_picks_the_family() -> None:
    touches: list[shards.Touches] = [
        {"GSI1": ["ns"], "GSI2": ["ns"], "GSI3": ["user"], "DueIndex": ["DUE"]},
        {"table": ["agent"]},
    ]

    def error(reason: dict[str, Any], extra: dict[str, Any] | None = None) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [reason, {"Code": "None"}],
                **(extra or {}),
            },
            "TransactWriteItems",
        )

    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/sessions/index/GSI3"
    named = {"ThrottlingReasons": [{"reason": "IndexWriteKeyRangeThroughputExceeded", "resource": arn}]}
    assert shards.throttled_families(error({"Code": "ThrottlingError"}, named), touches) == ["user"]
    # a message that only says "global secondary indexes": every index the action wrote
    generic = error({"Code": "ThrottlingError", "Message": GSI_THROTTLE})
    assert shards.throttled_families(generic, touches) == ["DUE", "ns", "user"]
    # the table itself (a session's own partition): no family of the head's
    assert shards.throttled_families(error({"Code": "ThrottlingError", "Message": TABLE_THROTTLE}), touches) == []
    assert shards.throttled_families(error({"Code": "ConditionalCheckFailed"}), touches) == []
