"""Shards that follow heat (DESIGN §4): how many shards each listing family has.

A family is one logical listing partition (store/keys.py): a namespace's listings (by
created_at and by activity), one user's (their lookup by created_at and their activity), one
agent id's, one metadata pair's, and each one's exact-total counter. A family starts with one
shard. Its count is stored on its counter's shard 0 (`shards`, with `raised_ms`), an item a
list page reads anyway for its total, and only ever grows:

- an operator sets it (`set-shards`, admin.py);
- a writer raises it when DynamoDB throttles a write on the family's index or counter:
  doubling, up to keys.MAX_SHARDS, at most once per RAISE_COOLDOWN_MS, so the writers
  throttled by one burst raise it once.

Writers place a session's entries with the count they know (this container's cache, else 1):
any count a writer used divides the stored one, so its entry is in a shard readers read.
Readers use the cached count too, and check it with the page's own batch get (the count item
is one more key in it): a count raised since costs the page its reads once more, never a
missing session. A family with no count of its own has 1 shard, or, on a table written
before counts existed and not yet marked by migrate-layout, the 16 every family had then
(keys.LEGACY_SHARDS); the table's marker is one more key of a container's first check.

The cache is per container and per table. Counts only grow, so a cached count is never too
high; a stale one is corrected by the next read or throttle that sees the stored count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from agent_sessions import clock
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, to_attr
from agent_sessions.store.dynamo import error_code, store_errors

if TYPE_CHECKING:
    from agent_sessions.store.table import TableStore

# A count raised less than this long ago is not doubled again by a throttle: the writers that
# were throttled by the same burst (or still place with the old count) adopt it instead.
RAISE_COOLDOWN_MS = 10_000
# The window over which a container counts its writes per family, to tell which family of
# several a throttled write touched is the hot one.
HEAT_WINDOW_S = 1.0


def count_key(partition: str) -> Item:
    """The item that holds a family's count: its counter's shard 0."""
    return {"PK": {"S": keys.counter_pk(partition, 0)}, "SK": {"S": keys.COUNTER_SK}}


def marker_key() -> Item:
    return {"PK": {"S": keys.LAYOUT_PK}, "SK": {"S": keys.LAYOUT_SK}}


def _item_key(item: Item) -> tuple[str, str]:
    return item["PK"]["S"], item["SK"]["S"]


@dataclass
class ShardCounts:
    """One table's shard counts as this container knows them."""

    known: dict[str, int] = field(default_factory=dict)  # counts seen stored (or written)
    # What a family with no count of its own has: 1 once the table is known to be marked,
    # LEGACY_SHARDS while it is known not to be, None until a read has looked.
    unset: int | None = None
    heat: dict[str, list[float]] = field(default_factory=dict)  # family -> [start, writes, writes before]
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- writers -------------------------------------------------------------------------------

    def for_write(self, partition: str) -> int:
        """The count a writer places with: known, else 1 (any count divides a later one)."""
        return self.known.get(partition, 1)

    def note_writes(self, partitions: Iterable[str]) -> None:
        """Count one write to each family in this container's heat window (the current one
        and the one before it: [start, writes now, writes before])."""
        now = time.monotonic()
        with self.lock:
            for partition in partitions:
                window = self.heat.get(partition)
                if window is None or now - window[0] > 2 * HEAT_WINDOW_S:
                    if len(self.heat) > 4096:  # forget families gone cold
                        self.heat = {p: w for p, w in self.heat.items() if now - w[0] <= 2 * HEAT_WINDOW_S}
                    self.heat[partition] = [now, 1.0, 0.0]
                elif now - window[0] > HEAT_WINDOW_S:
                    self.heat[partition] = [now, 1.0, window[1]]
                else:
                    window[1] += 1

    def hottest(self, partitions: Iterable[str]) -> list[str]:
        """Of the families one throttled write touched, those taking at least half the writes
        of the busiest one in this container's current window: the namespace and a popular
        agent or metadata pair, not the new user a create also wrote."""
        now = time.monotonic()
        rates = {}
        for partition in dict.fromkeys(partitions):
            window = self.heat.get(partition)
            fresh = window is not None and now - window[0] <= 2 * HEAT_WINDOW_S
            rates[partition] = window[1] + window[2] if window is not None and fresh else 0.0
        if not rates:
            return []
        top = max(rates.values())
        return [partition for partition, rate in rates.items() if rate >= top / 2]

    # --- readers -------------------------------------------------------------------------------

    def for_read(self, partition: str) -> int:
        """The count a reader starts with (checked by check_keys' answer)."""
        cached = self.known.get(partition)
        if cached is not None:
            return cached
        return self.unset or 1

    def check_keys(self, partition: str) -> list[Item]:
        """What a reader adds to its batch get to learn the stored count (and, once per
        container, whether the table is marked)."""
        return [count_key(partition)] + ([marker_key()] if self.unset is None else [])

    def learn(self, partition: str, found: dict[tuple[str, str], Item]) -> int:
        """The stored count among batch-get results that held check_keys(partition)."""
        if self.unset is None:
            marker = found.get(_item_key(marker_key()))
            marked = (
                marker is not None
                and int(marker.get("version", {}).get("N", "0")) >= keys.TABLE_LAYOUT_VERSION
                and marker.get("state", {}).get("S") == "done"
            )
            self.unset = 1 if marked else keys.LEGACY_SHARDS
        item = found.get(_item_key(count_key(partition)))
        if item is None or "shards" not in item:
            # Not remembered for writers: a family read as 16 only because the table is not
            # yet marked must still get its first entries in shard 0 (store/layout.py).
            return max(self.unset, self.known.get(partition, 1))
        return self.remember(partition, int(item["shards"]["N"]))

    def remember(self, partition: str, count: int) -> int:
        with self.lock:
            count = max(count, self.known.get(partition, 1))
            self.known[partition] = count
        return count


_counts: dict[str, ShardCounts] = {}


def counts_for(table: str) -> ShardCounts:
    """This container's counts for one table (one object shared by every store of it)."""
    counts = _counts.get(table)
    if counts is None:
        counts = _counts.setdefault(table, ShardCounts())
    return counts


def forget() -> None:
    """Drop every cached count (tests; a new container)."""
    _counts.clear()


class ShardCountStore:
    """The stored counts: exact reads, an operator's set, a throttle's raise."""

    def __init__(self, table_store: TableStore) -> None:
        self.store = table_store
        self.counts = counts_for(table_store.table)

    def read(self, partitions: list[str]) -> dict[str, int]:
        """The stored counts of some families: 1 BatchGetItem (the marker too, once)."""
        wanted: list[Item] = []
        for partition in partitions:
            wanted.extend(self.counts.check_keys(partition))
        unique = list({_item_key(key): key for key in wanted}.values())
        request: dict[str, Any] = {self.store.table: {"Keys": unique, "ConsistentRead": True}}
        found: dict[tuple[str, str], Item] = {}
        while request:
            with store_errors():
                response = self.store.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.store.table, []):
                found[_item_key(item)] = item
            request = dict(response.get("UnprocessedKeys") or {})
        return {partition: self.counts.learn(partition, found) for partition in partitions}

    def set_count(self, partition: str, count: int) -> int:
        """Raise a family's count to `count` (never lowers it): 1 read, 1 conditional write.
        Returns the count stored after."""
        if count < 1 or count > keys.MAX_SHARDS or count & (count - 1):
            raise ValueError(f"a shard count is a power of two from 1 to {keys.MAX_SHARDS}")
        current = self.read([partition])[partition]
        if count <= current:
            return current
        return self._write(partition, count, current)

    def raise_after_throttle(self, partition: str, used: int) -> int:
        """A write placed with `used` shards was throttled on this family: the count to place
        with now. A stored count above `used` is adopted; one equal to it is doubled (up to
        MAX_SHARDS) unless it was raised within RAISE_COOLDOWN_MS."""
        item = self._count_item(partition)
        current = self.counts.learn(partition, item)
        if current > used or current >= keys.MAX_SHARDS:
            return current
        stored = item.get(_item_key(count_key(partition)))
        raised_ms = int(stored["raised_ms"]["N"]) if stored is not None and "raised_ms" in stored else 0
        if clock.now_ms() - raised_ms < RAISE_COOLDOWN_MS:
            return current
        return self._write(partition, min(current * 2, keys.MAX_SHARDS), current)

    def _count_item(self, partition: str) -> dict[tuple[str, str], Item]:
        wanted = self.counts.check_keys(partition)
        with store_errors():
            response = self.store.client.batch_get_item(
                RequestItems={self.store.table: {"Keys": wanted, "ConsistentRead": True}}
            )
        return {_item_key(item): item for item in response.get("Responses", {}).get(self.store.table, [])}

    def _write(self, partition: str, count: int, seen: int) -> int:
        """SET the count if the stored one is still below it (a concurrent raise to as much or
        more wins, and its count is adopted)."""
        try:
            with store_errors():
                self.store.client.update_item(
                    TableName=self.store.table,
                    Key=count_key(partition),
                    UpdateExpression="SET shards = :count, raised_ms = :now, kind = :kind",
                    ConditionExpression="attribute_not_exists(shards) OR shards < :count",
                    ExpressionAttributeValues={
                        ":count": to_attr(count),
                        ":now": to_attr(clock.now_ms()),
                        ":kind": to_attr("counter"),
                    },
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return self.read([partition])[partition]
        return self.counts.remember(partition, max(count, seen))


# --- writes that follow heat ---------------------------------------------------------------------

THROTTLE_CODES = {"ThrottlingError", "ProvisionedThroughputExceeded"}
# A throttled transaction is placed again and retried this many times in all (with backoff)
# before the caller gets the contract's 429.
THROTTLE_ATTEMPTS = 4

# What one action of a transaction writes, per index ("GSI1", "GSI2", "GSI3") or "table" (the
# counter items themselves): the families whose partitions it takes a write in.
Touches = dict[str, list[str]]


@dataclass
class PlacedWrite:
    """A transaction built with some families' counts: its actions, what each one touches, and
    the count each family was placed with."""

    actions: list[dict[str, Any]]
    touches: list[Touches]
    used: dict[str, int]


def _named_indexes(reasons: Any) -> set[str]:
    """The indexes (or "table") DynamoDB's ThrottlingReasons name by their resource ARN
    (`…:table/<name>/index/<index>`)."""
    named: set[str] = set()
    for reason in reasons or []:
        resource = str(reason.get("resource") or reason.get("Resource") or "")
        if "/index/" in resource:
            named.add(resource.rsplit("/index/", 1)[1])
        elif resource:
            named.add("table")
    return named


def throttled_families(error: ClientError, touches: list[Touches]) -> list[str]:
    """The families a throttled transaction's throttled actions wrote on the throttled index:
    the index named by the reason when DynamoDB names it, else every index of that action when
    the message says an index was throttled ("…global secondary indexes…"), else the table."""
    from agent_sessions.store.dynamo import cancellation_reasons

    response: dict[str, Any] = dict(error.response)
    named = _named_indexes(response.get("ThrottlingReasons") or response.get("throttlingReasons"))
    families: list[str] = []
    for position, reason in enumerate(cancellation_reasons(error)):
        if reason.get("Code") not in THROTTLE_CODES or position >= len(touches):
            continue
        indexes = _named_indexes(reason.get("ThrottlingReasons")) or named
        if not indexes:
            message = str(reason.get("Message") or "").lower()
            every_index = {name for name in touches[position] if name != "table"}
            indexes = every_index if "secondary ind" in message else {"table"}
        for index in sorted(indexes):
            families.extend(touches[position].get(index, []))
    return list(dict.fromkeys(families))


def transact_following_heat(store: TableStore, build: Any, run: Any) -> Any:
    """Run a transaction placed by `build()` (a PlacedWrite) through `run(actions)`. When
    DynamoDB throttles it on a family's partition, the hot families it touched get more shards
    (ShardCountStore.raise_after_throttle) and the transaction is placed again and retried;
    the contract's 429 comes only when that did not help THROTTLE_ATTEMPTS times."""
    from agent_sessions.errors import TooManyRequestsError

    heat = ShardCountStore(store)
    for attempt in range(THROTTLE_ATTEMPTS):
        placed: PlacedWrite = build()
        heat.counts.note_writes(family for touched in placed.touches for names in touched.values() for family in names)
        try:
            return run(placed.actions)
        except TooManyRequestsError as throttle:
            cause = throttle.__cause__
            # Only a cancelled transaction is known to have written nothing (a throttle that
            # botocore met on a retry may follow an attempt that was applied but whose answer
            # was lost: sent again here, with a new token, it would be refused as a second
            # write). And only a placement that changed can do better than the client's own
            # retry with its Idempotency-Key, which the 429 asks for.
            if (
                attempt == THROTTLE_ATTEMPTS - 1
                or not isinstance(cause, ClientError)
                or error_code(cause) != "TransactionCanceledException"
            ):
                raise
            families = throttled_families(cause, placed.touches)
            moved = False
            for family in heat.counts.hottest(families):
                moved |= heat.raise_after_throttle(family, placed.used.get(family, 1)) > placed.used.get(family, 1)
            if not moved:
                raise
            time.sleep(0.025 * 2**attempt)
    raise AssertionError("unreachable")
